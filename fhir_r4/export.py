"""Bulk Data export (`$export`, FHIR Bulk Data Access IG): the worker's side.

`run_export(job_id)` claims a queued job, re-derives the requester's Actor (a key revoked or a role lost since
the kick-off fails the job), restricts it to the job's clinic and writes one ndjson file per type through the
registry's own scoped querysets and resource builders, so a line is exactly what a read would answer.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.models import AuditEvent
from pathway.actors import Actor
from pathway.stages import CLINICAL_ROLES

from .models import ExportJob, ExportStatus
from .registry import REGISTRY
from .search import SearchContext

EXPORT_TYPES = ("Patient", "Practitioner", "EpisodeOfCare", "Condition", "Observation", "Appointment")
# where each type's clinic and last change are
CLINIC_FIELD = {"Patient": "clinic_id", "EpisodeOfCare": "clinic_id", "Condition": "clinic_id",
                "Observation": "episode__clinic_id", "Appointment": "clinic_id"}
CHUNK = 500


def export_dir() -> Path:
    """Private: under var/, never under STATIC or a served MEDIA root."""
    return Path(settings.FHIR["EXPORT_DIR"])


def file_path(job: ExportJob, resource_type: str) -> Path:
    return export_dir() / str(job.pk) / f"{resource_type}.ndjson"


def actor_of(job: ExportJob) -> Actor | None:
    if job.requested_by_key_id:
        key = job.requested_by_key
        if getattr(key, "revoked", False) or getattr(key, "revoked_at", None):
            return None
        actor = Actor.for_api_key(key)
    else:
        actor = Actor.for_user(job.requested_by_user)
    role = actor.roles.get(job.clinic_id)
    if role not in CLINICAL_ROLES:
        return None
    return Actor(roles={job.clinic_id: role}, user=actor.user, api_key=actor.api_key)


def delete_files(job: ExportJob) -> None:
    folder = export_dir() / str(job.pk)
    if folder.exists():
        for path in folder.iterdir():
            path.unlink(missing_ok=True)
        folder.rmdir()


def _cancelled(job: ExportJob) -> bool:
    return ExportJob.objects.filter(pk=job.pk, status=ExportStatus.CANCELLED).exists()


def run_export(job_id: str) -> str:
    """Claim the job and write its files; a failure marks it failed (its files deleted) instead of leaving it
    running for ever, then propagates so the worker logs it (the job id only: no patient data in the error)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in (ExportStatus.QUEUED, ExportStatus.RUNNING):
            return "skipped"  # done, cancelled or gone: a redelivered task does nothing
        job.status, job.transaction_time = ExportStatus.RUNNING, timezone.now()
        job.save(update_fields=["status", "transaction_time"])
    actor = actor_of(job)
    if actor is None:
        ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.FAILED, finished_at=timezone.now(),
                                                   progress="failed",
                                                   error="The requester may no longer export this clinic.")
        return "failed"
    try:
        return _write(job, actor)
    except Exception:
        delete_files(job)
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
            status=ExportStatus.FAILED, finished_at=timezone.now(), progress="failed",
            error="The export failed on the server; start a new one.")
        raise


def _write(job: ExportJob, actor: Actor) -> str:
    folder = export_dir() / str(job.pk)
    folder.mkdir(parents=True, exist_ok=True)
    output, patients = [], {}
    ctx = SearchContext(clinics=())
    for position, name in enumerate(job.types, start=1):
        if _cancelled(job):
            delete_files(job)
            return "cancelled"
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
            progress=f"{name} ({position} of {len(job.types)} types)")
        definition = REGISTRY[name]
        queryset = definition.queryset(actor, True)
        if name in CLINIC_FIELD:
            queryset = queryset.filter(**{CLINIC_FIELD[name]: job.clinic_id})
            if job.since is not None:
                queryset = queryset.filter(updated_at__gt=job.since)
            queryset = queryset.filter(updated_at__lte=job.transaction_time)
        else:
            queryset = queryset.filter(clinic_memberships__clinic_id=job.clinic_id)
        count, named = 0, set()
        partial = file_path(job, name).with_suffix(".part")
        with partial.open("w", encoding="utf-8") as out:
            for row in queryset.order_by(*definition.ordering).iterator(chunk_size=CHUNK):
                for resource in definition.resources_of(row, ctx):
                    out.write(json.dumps(resource.model_dump(mode="json", exclude_none=True),
                                         separators=(",", ":")) + "\n")
                    count += 1
                if definition.patient_of is not None:
                    named.add(str(definition.patient_of(row).external_id))
        partial.replace(file_path(job, name))
        output.append({"type": name, "count": count, "downloaded": False})
        patients[name] = sorted(named)
    with transaction.atomic():
        locked = ExportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == ExportStatus.CANCELLED:
            delete_files(job)
            return "cancelled"
        locked.status, locked.finished_at, locked.progress = ExportStatus.DONE, timezone.now(), "done"
        locked.output, locked.output_patients = output, patients
        locked.save(update_fields=["status", "finished_at", "progress", "output", "output_patients"])
        AuditEvent.objects.create(
            request_id=f"export-{job.pk.hex}", actor_label=actor.label[:150], actor_user=job.requested_by_user,
            actor_api_key=job.requested_by_key, action="fhir.export.complete", method="TASK",
            path=f"/fhir/r4/$export-status/{job.pk}", status_code=200,
            patient_ids=sorted({p for named in patients.values() for p in named}),
            detail=", ".join(f"{o['type']}: {o['count']}" for o in output)[:300])
    return "done"
