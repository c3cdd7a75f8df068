"""Bulk Data `$export`: kick-off (202 + Content-Location), polling (202 + X-Progress, then the manifest), one
download per file (then 404), DELETE cancels; clinical roles of the caller's clinic only; every ndjson line a
valid R4 resource; the Celery task gets only the job's id; audited with counts."""

import json

import pytest
from fhir.resources.R4B import get_fhir_model_class

from api.models import AuditEvent
from fhir_r4 import export
from fhir_r4.models import ExportJob, ExportStatus
from pathway.stages import Role
from tests.factories import AppointmentFactory, EpisodeFactory, PainEntryFactory, PatientFactory

from .conftest import BASE, key_client, outcome


@pytest.fixture(autouse=True)
def private_dir(settings, tmp_path):
    settings.FHIR = {**settings.FHIR, "EXPORT_DIR": str(tmp_path / "export")}
    return tmp_path / "export"


@pytest.fixture
def eager():
    from config.celery_app import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def records(episode, other_clinic):
    PainEntryFactory(episode=episode, nrs=6, sleep_quality=4, medication_use="less")
    AppointmentFactory(patient=episode.patient, episode=episode)
    EpisodeFactory(patient=PatientFactory(clinic=other_clinic))  # another clinic's: never exported
    return episode


def kickoff(client, path="$export", expect=202, **params):
    response = client.get(BASE + path, params, HTTP_PREFER="respond-async")
    assert response.status_code == expect, response.content[:500]
    return response


def lines(client, url) -> list:
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+ndjson"
    parsed = [json.loads(line) for line in response.content.decode().splitlines()]
    for resource in parsed:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return parsed


def test_a_whole_export_kicked_off_polled_and_downloaded_once(
        ehr, records, eager, django_capture_on_commit_callbacks, private_dir):
    with django_capture_on_commit_callbacks(execute=True):
        status_url = kickoff(ehr)["Content-Location"]
    manifest = ehr.get(status_url)
    assert manifest.status_code == 200, manifest.content
    body = manifest.json()
    assert body["requiresAccessToken"] is True and body["error"] == []
    counts = {o["type"]: o["count"] for o in body["output"]}
    assert counts == {"Patient": 1, "Practitioner": 1, "EpisodeOfCare": 1, "Condition": 1, "Observation": 3,
                      "Appointment": 1}
    for item in body["output"]:
        parsed = lines(ehr, item["url"])
        assert len(parsed) == item["count"] and {r["resourceType"] for r in parsed} == {item["type"]}
        again = outcome(ehr, item["url"].removeprefix("http://testserver" + BASE), 404)  # once only: it is gone
        assert "downloaded already" in again["issue"][0]["diagnostics"]
    assert not any(private_dir.rglob("*.ndjson"))
    assert ehr.get(status_url).json()["output"] == []
    done = AuditEvent.objects.get(action="fhir.export.complete")
    assert "Observation: 3" in done.detail and done.patient_ids == [str(records.patient.external_id)]
    downloads = AuditEvent.objects.filter(action="fhir.export.download")
    assert downloads.count() == 6 and AuditEvent.objects.filter(action="fhir.export.kickoff").count() == 1


def test_type_and_since_narrow_it(ehr, records, eager, django_capture_on_commit_callbacks):
    from django.utils import timezone

    later = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        url = kickoff(ehr, "Patient/$export", _type="Observation,Patient")["Content-Location"]
        since_url = kickoff(ehr, _since=later.isoformat())["Content-Location"]
    assert [o["type"] for o in ehr.get(url).json()["output"]] == ["Patient", "Observation"]
    assert {o["type"]: o["count"] for o in ehr.get(since_url).json()["output"]}["Patient"] == 0


def test_since_exports_only_what_changed_after_it(ehr, records, eager, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from pathway.models import Patient

    cut = timezone.now() - timedelta(hours=1)
    Patient.objects.filter(pk=records.patient.pk).update(updated_at=cut - timedelta(hours=1))
    changed = PatientFactory(clinic=records.clinic, given_name="Grace")  # changed now: after the cut
    with django_capture_on_commit_callbacks(execute=True):
        url = kickoff(ehr, _type="Patient", _since=cut.isoformat())["Content-Location"]
    with django_capture_on_commit_callbacks(execute=True):
        everyone = kickoff(ehr, _type="Patient")["Content-Location"]
    (item,) = ehr.get(url).json()["output"]
    assert [p["id"] for p in lines(ehr, item["url"])] == [str(changed.external_id)]
    assert ehr.get(everyone).json()["output"][0]["count"] == 2


def test_patient_level_export_answers_as_the_system_one(ehr, records, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        url = kickoff(ehr, "Patient/$export")["Content-Location"]
    assert [o["type"] for o in ehr.get(url).json()["output"]] == list(export.EXPORT_TYPES)


def test_a_crash_fails_the_job_with_an_error_and_leaves_no_file(ehr, records, monkeypatch, private_dir):
    kickoff(ehr)
    job = ExportJob.objects.get()
    monkeypatch.setattr(export, "CHUNK", 0)  # iterator() refuses it, mid-export
    with pytest.raises(ValueError):
        export.run_export(str(job.pk))
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and job.error and job.finished_at
    assert not any(p.is_file() for p in private_dir.rglob("*"))
    assert outcome(ehr, f"$export-status/{job.pk}", 500)["issue"][0]["diagnostics"] == job.error


def test_while_queued_the_status_is_202_with_progress_and_delete_cancels(ehr, records, private_dir):
    url = kickoff(ehr)["Content-Location"]  # no on_commit run: the job waits for a worker
    response = ehr.get(url)
    assert response.status_code == 202 and response["X-Progress"]
    job = ExportJob.objects.get()
    assert ehr.delete(url).status_code == 202
    assert export.run_export(str(job.pk)) == "skipped"
    assert ehr.get(url).status_code == 404
    assert not private_dir.exists() or not any(private_dir.rglob("*.ndjson"))


def test_a_cancel_while_running_stops_and_leaves_no_file(ehr, records, monkeypatch, private_dir):
    kickoff(ehr)
    job = ExportJob.objects.get()
    real = export._cancelled
    calls = []

    def cancel_after_first_type(j):
        calls.append(1)
        if len(calls) == 2:
            ExportJob.objects.filter(pk=j.pk).update(status=ExportStatus.CANCELLED)
        return real(j)

    monkeypatch.setattr(export, "_cancelled", cancel_after_first_type)
    assert export.run_export(str(job.pk)) == "cancelled"
    assert not any(private_dir.rglob("*.ndjson"))


def test_the_task_gets_only_the_job_id(ehr, records, monkeypatch, django_capture_on_commit_callbacks):
    from fhir_r4 import tasks

    sent = []
    monkeypatch.setattr(tasks.run_export, "delay", lambda *args, **kwargs: sent.append((args, kwargs)))
    with django_capture_on_commit_callbacks(execute=True):
        kickoff(ehr)
    assert sent == [((str(ExportJob.objects.get().pk),), {})]


def test_the_front_desk_and_an_admin_are_refused(desk, clinic, records):
    assert outcome(desk, "$export", 403)["issue"][0]["code"] == "forbidden"
    admin = key_client(clinic, Role.ADMIN)
    assert admin.get(BASE + "$export", HTTP_PREFER="respond-async").status_code == 403
    assert not ExportJob.objects.exists()
    refused = AuditEvent.objects.filter(path=BASE + "$export", status_code=403)
    assert refused.count() == 2 and {e.actor_api_key_id for e in refused} == {desk.api_key.pk, admin.api_key.pk}


def test_another_key_or_clinic_cannot_poll_or_download(ehr, other_ehr, clinic, records, eager,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        url = kickoff(ehr)["Content-Location"]
    file_url = ehr.get(url).json()["output"][0]["url"]
    for stranger in (other_ehr, key_client(clinic, Role.COORDINATOR)):
        assert stranger.get(url).status_code == 404
        assert stranger.get(file_url).status_code == 404
        assert stranger.delete(url).status_code == 404
    assert outcome(other_ehr, url.removeprefix("http://testserver" + BASE), 404)["issue"][0]["code"] == "not-found"
    assert AuditEvent.objects.filter(actor_api_key=other_ehr.api_key, status_code=404).exists()  # probing shows
    assert ehr.get(file_url).status_code == 200


@pytest.mark.parametrize("params", [{"_type": "Encounter"}, {"_since": "yesterday"}, {"_outputFormat": "csv"},
                                    {"colour": "blue"}])
def test_bad_parameters_are_refused_and_nothing_queued(ehr, records, params):
    assert outcome(ehr, "$export", 400, **params)
    assert not ExportJob.objects.exists()


def test_without_prefer_respond_async_it_is_refused(ehr, records):
    assert ehr.get(BASE + "$export").status_code == 400


def test_a_requester_who_lost_the_clinical_role_fails_the_job(ehr, records):
    kickoff(ehr)
    job = ExportJob.objects.get()
    job.requested_by_key.revoked = True
    job.requested_by_key.save()
    assert export.run_export(str(job.pk)) == "failed"
    failed = ExportJob.objects.get()
    assert failed.status == ExportStatus.FAILED and "no longer export" in failed.error
