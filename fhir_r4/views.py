"""FHIR R4 REST: `metadata`, read (`GET [type]/[id]`) and search (`GET [type]?…`) for the registry's types.

The API's machinery does the rest: the same keys and sessions, the same role rules, throttling, the request id
and the audit row naming every patient a response shows. Only the shapes differ: resources and Bundles in,
OperationOutcome out.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, MethodNotAllowed, NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import _positive_int
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ClinicAPIKeyAuthentication
from api.pagination import CursorPage
from api.parsers import LimitedJSONParser
from api.permissions import CanReadSchema, require_clinical
from api.views import ApiMixin
from pathway.errors import NotPermitted
from pathway.models import Appointment
from pathway.stages import CLINICAL_ROLES

from .bookings import appointment_book_from_fhir, appointment_update_from_fhir, booking_from
from .capability import capability_statement
from .errors import FHIR_JSON, fhir_exception_handler
from .registry import REGISTRY, ResourceType, search_queryset
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


class UnknownView(FhirView):
    """Anything else under /fhir/r4/: an interaction or type this server does not support."""

    permission_classes = []

    def get(self, request, *args, **kwargs):
        raise Http404

    post = put = patch = delete = get
