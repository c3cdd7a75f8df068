"""FHIR R4 REST: `metadata`, read (`GET [type]/[id]`) and search (`GET [type]?…`) for the registry's types.

The API's machinery does the rest: the same keys and sessions, the same role rules, throttling, the request id
and the audit row naming every patient a response shows. Only the shapes differ: resources and Bundles in,
OperationOutcome out.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from fhir.resources.R4B.bundle import Bundle
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, MethodNotAllowed, NotAcceptable, NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import _positive_int
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.audit import audit_record
from api.authentication import ClinicAPIKeyAuthentication
from api.models import ClinicAPIKey
from api.pagination import CursorPage
from api.parsers import LimitedJSONParser
from api.permissions import CanReadSchema, require_clinical
from api.views import ApiMixin
from pathway.errors import NotPermitted
from pathway.models import Appointment
from pathway.stages import CLINICAL_ROLES

from . import export, tasks
from .bookings import appointment_book_from_fhir, appointment_update_from_fhir, booking_from
from .capability import capability_statement
from .errors import FHIR_JSON, fhir_exception_handler, outcome_response
from .everything import everything_of
from .models import ExportJob, ExportStatus
from .registry import PATIENT, REGISTRY, ResourceType, search_queryset
from .resources import appointment_resource, etag, patient_resource
from .search import SearchContext, invalid
from .selectors import clinics_for, fhir_patients_for


class FhirKeyAuthentication(ClinicAPIKeyAuthentication):
    """The clinic's API key, sent as FHIR clients send a token (`Bearer`) or as the API's `Api-Key`."""

    keyword = "Bearer"
    keywords = ("Bearer", "Api-Key")


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "json"


class FhirJSONParser(LimitedJSONParser):
    media_type = FHIR_JSON


class PreconditionFailed(APIException):
    status_code = 412
    default_code = "precondition_failed"


class FhirNegotiation(DefaultContentNegotiation):
    """FHIR JSON whatever the Accept header says (application/json included); there is no XML to choose."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if "xml" in request.query_params.get("_format", ""):
            raise NotAcceptable("This server answers FHIR JSON only (_format=json).")
        return renderers[0], renderers[0].media_type


class BundlePage(CursorPage):
    """Opaque, signed cursors (`_cursor`) over a stable ordering; `_count` is capped, not refused."""

    cursor_query_param = "_cursor"
    page_size_query_param = "_count"

    def get_page_size(self, request) -> int:
        given = request.query_params.get("_count")
        if given is None:
            return settings.FHIR["PAGE_SIZE"]
        try:
            return min(_positive_int(given), settings.FHIR["MAX_PAGE_SIZE"])
        except ValueError:
            raise invalid("_count", "Give a whole number, 0 or more.") from None


class FhirView(ApiMixin, APIView):
    authentication_classes = [FhirKeyAuthentication, SessionAuthentication]
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, LimitedJSONParser]
    content_negotiation_class = FhirNegotiation
    schema = None  # not part of the v1 OpenAPI document: `metadata` describes this interface

    def get_exception_handler(self):
        return fhir_exception_handler

    def base_url(self) -> str:
        return self.request.build_absolute_uri(reverse("fhir:base"))

    def resource_type(self, name: str) -> ResourceType:
        resource_type = REGISTRY.get(name)
        if resource_type is None:
            raise Http404
        self.audit_name = f"fhir.{name}"
        return resource_type

    def fhir(self, resource, *, status_code: int = 200, headers=None) -> Response:
        return Response(resource.model_dump(mode="json", exclude_none=True), status=status_code, headers=headers)

    def writable(self, name: str, interaction: str) -> ResourceType:
        definition = self.resource_type(name)
        if interaction not in definition.interactions:
            raise MethodNotAllowed(self.request.method)
        return definition

    def booking(self, row, *, status_code: int = 200) -> Response:
        """An Appointment written or found, with its version as ETag (and where it lives, when created)."""
        headers = {"ETag": etag(row)}
        if status_code == 201:
            headers["Location"] = f"{self.base_url()}Appointment/{row.external_id}"
        return self.fhir(appointment_resource(row), status_code=status_code, headers=headers)


class MetadataView(FhirView):
    permission_classes = [CanReadSchema]
    audit_name = "fhir.metadata"

    def get(self, request):
        return self.fhir(capability_statement(base_url=self.base_url()))


class ReadView(FhirView):
    def get(self, request, resource_type: str, resource_id: str):
        self.action = "read"
        definition = self.resource_type(resource_type)
        row = definition.find(definition.queryset(self.actor, False), resource_id)
        if row is None:
            raise Http404
        if definition.clinical:
            require_clinical(self.actor, definition.clinic_of(row))
        resource = definition.resource(row, resource_id)
        if resource is None:
            raise Http404
        if definition.patient_of is not None:
            self.audit(definition.patient_of(row).external_id)
        return self.fhir(resource, headers={"ETag": etag(row)} if definition.versioning != "no-version" else None)

    def put(self, request, resource_type: str, resource_id: str):
        """Update an Appointment: move it (start/end) and/or change its status, under If-Match when sent."""
        self.action = "update"
        definition = self.writable(resource_type, "update")
        if isinstance(request.data, dict) and request.data.get("id") not in (None, resource_id):
            raise invalid("id", "The resource's id must be the one in the URL.")
        row = definition.find(definition.queryset(self.actor, False), resource_id)
        if row is None:
            raise Http404
        self.audit(row.patient.external_id)
        booking = booking_from(request.data, actor=self.actor)
        with transaction.atomic():
            # of=self: PostgreSQL cannot lock the nullable side of the episode join, nor need it.
            locked = Appointment.objects.select_for_update(of=("self",)).select_related(
                "clinic", "patient", "episode__physician").get(pk=row.pk)
            if (if_match := request.headers.get("If-Match")) is not None and if_match != etag(locked):
                raise PreconditionFailed("The appointment changed since that version; read it again.")
            appointment = appointment_update_from_fhir(appointment=locked, booking=booking, actor=self.actor)
        return self.booking(appointment)


class SearchView(FhirView):
    def post(self, request, resource_type: str):
        """Book an Appointment; with If-None-Exist, only when no appointment matches that search."""
        self.action = "create"
        definition = self.writable(resource_type, "create")
        booking = booking_from(request.data, actor=self.actor)
        self.audit(booking.patient.external_id)
        if (condition := request.headers.get("If-None-Exist")) is not None:
            query = QueryDict(condition)
            if not query:
                raise invalid("If-None-Exist", "Give a search, e.g. identifier=<system>|<value>.")
            ctx = SearchContext(clinics=clinics_for(actor=self.actor))
            found = list(search_queryset(definition, actor=self.actor, query=query, ctx=ctx)[:2])
            if len(found) > 1:
                raise PreconditionFailed("More than one appointment matches If-None-Exist.")
            if found:
                self.audit(found[0].patient.external_id)
                return self.booking(found[0])
        return self.booking(appointment_book_from_fhir(booking=booking, actor=self.actor), status_code=201)

    def get(self, request, resource_type: str):
        self.action = "search"
        definition = self.resource_type(resource_type)
        includes = request.query_params.getlist("_include")
        if unknown := [i for i in includes if i not in definition.includes]:
            raise invalid("_include", f"{', '.join(unknown)} is not supported here; "
                                      f"supported: {', '.join(definition.includes) or 'none'}.")
        if definition.clinical and not self.actor.clinic_ids_for(*CLINICAL_ROLES):
            raise NotPermitted("Your role may not see clinical information.")
        ctx = SearchContext(clinics=clinics_for(actor=self.actor, clinical=definition.clinical))
        queryset = search_queryset(definition, actor=self.actor, query=request.query_params, ctx=ctx)

        paginator = BundlePage()
        paginator.ordering = definition.ordering
        page_size = paginator.get_page_size(request)
        total = definition.count(queryset, ctx)
        rows = paginator.paginate_queryset(queryset, request, view=self) if page_size else []
        links = [{"relation": "self", "url": request.build_absolute_uri()}]
        if page_size:
            links += [{"relation": relation, "url": url} for relation, url in
                      (("next", paginator.get_next_link()), ("previous", paginator.get_previous_link())) if url]

        base = self.base_url()
        entries = [{"fullUrl": f"{base}{resource.get_resource_type()}/{resource.id}", "resource": resource,
                    "search": {"mode": "match"}}
                   for row in rows for resource in definition.resources_of(row, ctx)]
        patients = [definition.patient_of(row) for row in rows] if definition.patient_of else []
        if includes and patients:
            included = fhir_patients_for(actor=self.actor).filter(pk__in={p.pk for p in patients}).order_by("pk")
            entries += [{"fullUrl": f"{base}Patient/{p.external_id}", "resource": patient_resource(p),
                         "search": {"mode": "include"}} for p in included]
        self.audit(*(p.external_id for p in patients))
        bundle = Bundle.model_validate({
            "resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"lastUpdated": timezone.now().isoformat()},
            "type": "searchset", "total": total, "link": links, "entry": entries or None,
        })
        return self.fhir(bundle)


class EverythingView(FhirView):
    """`GET Patient/[id]/$everything`, paged: `_count` (capped as searches are) and `_page` (1 first)."""

    audit_name = "fhir.Patient"

    def get(self, request, resource_id: str):
        self.action = "everything"
        patient = PATIENT.find(PATIENT.queryset(self.actor, False), resource_id)
        if patient is None:
            raise Http404
        if unknown := sorted(set(request.query_params) - {"_count", "_page", "_format"}):
            raise invalid(unknown[0], "Not supported by $everything; supported: _count.")
        resources = everything_of(actor=self.actor, patient=patient)
        page_size = BundlePage().get_page_size(request)
        try:
            page = _positive_int(request.query_params.get("_page", "1"), strict=True)
        except ValueError:
            raise invalid("_page", "Give a whole number, 1 or more.") from None
        shown = resources[(page - 1) * page_size:page * page_size]
        self.audit(patient.external_id)

        url = request.build_absolute_uri(request.path)
        links = [{"relation": "self", "url": request.build_absolute_uri()}]
        if page_size and page * page_size < len(resources):
            links.append({"relation": "next", "url": f"{url}?_count={page_size}&_page={page + 1}"})
        if page_size and page > 1:
            links.append({"relation": "previous", "url": f"{url}?_count={page_size}&_page={page - 1}"})
        base = self.base_url()
        bundle = Bundle.model_validate({
            "resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"lastUpdated": timezone.now().isoformat()},
            "type": "searchset", "total": len(resources), "link": links,
            "entry": [{"fullUrl": f"{base}{res.get_resource_type()}/{res.id}", "resource": res,
                       "search": {"mode": "match"}} for res in shown] or None,
        })
        return self.fhir(bundle)


def _export_clinic(actor, request) -> int:
    """The one clinic an export covers: the caller's clinical clinic (a user clinical in several names it)."""
    clinics = actor.clinic_ids_for(*CLINICAL_ROLES)
    if not clinics:
        raise NotPermitted("Only coordinators and physicians may bulk export.")
    if len(clinics) == 1:
        return clinics[0]
    slug = request.query_params.get("clinic")
    found = [c.pk for c in clinics_for(actor=actor, clinical=True) if c.slug == slug]
    if not found:
        raise invalid("clinic", "You export for several clinics: name one (clinic=<slug>).")
    return found[0]


class ExportView(FhirView):
    """Writes its own audit rows (with what was exported, counted) instead of the API's generic one."""

    def _should_audit(self, request, response) -> bool:
        return False

    def record(self, response, action: str, patient_ids=(), detail: str = "") -> None:
        if getattr(self.request, "user", None) is not None and self.request.user.is_authenticated:
            audit_record(request=self.request, action=f"fhir.export.{action}", status_code=response.status_code,
                         patient_ids=patient_ids, detail=detail)

    def job_of(self, job_id: str) -> ExportJob:
        """Only the requester (the same key, or the same user) sees a job, and only while still clinical there."""
        key = self.request.auth if isinstance(self.request.auth, ClinicAPIKey) else None
        owner = {"requested_by_key": key} if key is not None else {
            "requested_by_user_id": self.request.user.pk, "requested_by_key__isnull": True}
        job = ExportJob.objects.filter(pk=job_id, **owner).first()
        if job is None or job.clinic_id not in self.actor.clinic_ids_for(*CLINICAL_ROLES):
            raise Http404
        return job


class ExportKickoffView(ExportView):
    def get(self, request, level: str):
        clinic_id = _export_clinic(self.actor, request)
        if "respond-async" not in request.headers.get("Prefer", ""):
            raise invalid("Prefer", "Bulk export is asynchronous: send Prefer: respond-async.")
        allowed = export.EXPORT_TYPES  # Patient/$export answers as $export: one clinic's patients are all of it
        if unknown := sorted(set(request.query_params) - {"_type", "_since", "_outputFormat", "clinic"}):
            raise invalid(unknown[0], "Not supported by $export; supported: _type, _since, _outputFormat.")
        if request.query_params.get("_outputFormat", "application/fhir+ndjson") not in (
                "application/fhir+ndjson", "application/ndjson", "ndjson"):
            raise invalid("_outputFormat", "Only application/fhir+ndjson is offered.")
        asked = [t for value in request.query_params.getlist("_type") for t in value.split(",") if t]
        if unknown := [t for t in asked if t not in allowed]:
            raise invalid("_type", f"{', '.join(unknown)} cannot be exported here; exportable: {', '.join(allowed)}.")
        types = [t for t in allowed if t in asked] if asked else list(allowed)
        since = None
        if given := request.query_params.get("_since"):
            since = parse_datetime(given)
            if since is None or since.tzinfo is None:
                raise invalid("_since", "Give an instant with its offset, e.g. 2026-01-01T00:00:00Z.")
        key = request.auth if isinstance(request.auth, ClinicAPIKey) else None
        job = ExportJob.objects.create(
            clinic_id=clinic_id, requested_by_key=key, requested_by_user=None if key else request.user,
            level=level, types=types, since=since, request_url=request.build_absolute_uri()[:500])
        transaction.on_commit(lambda: tasks.run_export.delay(str(job.pk)))
        status_url = request.build_absolute_uri(reverse("fhir:export-status", args=[job.pk]))
        response = Response(status=202, headers={"Content-Location": status_url})
        self.record(response, "kickoff", detail=f"job {job.pk}; {level}: {','.join(types)}"
                                                 + (f"; since {since.isoformat()}" if since else ""))
        return response


class ExportStatusView(ExportView):
    def get(self, request, job_id: str):
        job = self.job_of(job_id)
        if job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING):
            return Response(status=202, headers={"X-Progress": job.progress or job.status, "Retry-After": "5"})
        if job.status == ExportStatus.CANCELLED:
            raise Http404
        if job.status == ExportStatus.FAILED:
            return outcome_response(status_code=500, code="export-failed", detail=job.error or "Export failed.")
        base = self.base_url()
        return Response({
            "transactionTime": job.transaction_time.isoformat(),
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [{"type": o["type"], "url": f"{base}$export-file/{job.pk}/{o['type']}.ndjson",
                        "count": o["count"]} for o in job.output if not o["downloaded"]],
            "error": [],
        }, content_type="application/json")

    def delete(self, request, job_id: str):
        job = self.job_of(job_id)
        with transaction.atomic():
            locked = ExportJob.objects.select_for_update().get(pk=job.pk)
            locked.status = ExportStatus.CANCELLED
            locked.save(update_fields=["status"])
        export.delete_files(job)
        response = Response(status=202)
        self.record(response, "cancel", detail=f"job {job.pk}")
        return response


class ExportFileView(ExportView):
    def get(self, request, job_id: str, resource_type: str):
        job = self.job_of(job_id)
        with transaction.atomic():
            locked = ExportJob.objects.select_for_update().get(pk=job.pk)
            entry = next((o for o in locked.output if o["type"] == resource_type), None)
            if locked.status != ExportStatus.DONE or entry is None:
                raise Http404
            if entry["downloaded"]:
                raise NotFound("This file was downloaded already and is deleted; start a new export.")
            path = export.file_path(locked, resource_type)
            body = path.read_bytes()
            entry["downloaded"] = True
            locked.save(update_fields=["output"])
        path.unlink(missing_ok=True)
        response = HttpResponse(body, content_type="application/fhir+ndjson")
        self.record(response, "download", patient_ids=job.output_patients.get(resource_type, []),
                    detail=f"job {job.pk}; {resource_type}: {entry['count']} rows")
        return response


class UnknownView(FhirView):
    """Anything else under /fhir/r4/: an interaction or type this server does not support."""

    permission_classes = []

    def get(self, request, *args, **kwargs):
        raise Http404

    post = put = patch = delete = get
