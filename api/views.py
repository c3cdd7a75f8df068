"""API v1 views: each validates its input, calls one service or selector, and serializes the result.

The base class adds what every endpoint shares: the request id, Idempotency-Key on POST, and the
audit row for reads of patient data and for writes. Errors become problem+json in api.errors.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from notifications.selectors import reminders_for_appointment
from pathway import selectors, services
from pathway.errors import InvalidInput
from pathway.models import Appointment, Episode, PainEntry, Patient, PriorAuthorization
from pathway.stages import CLINICAL_ROLES, OPEN_STAGES, PainSource, Stage

from . import idempotency
from . import serializers as s
from .audit import audit_record, request_id_of
from .authentication import actor_for
from .consents import consent_stamps, record_consent_changes
from .errors import UnknownReference
from .fast import ValuesShape
from .filters import AppointmentFilter, AuthorizationFilter, EpisodeFilter, PatientFilter
from .models import ClinicAPIKey
from .pagination import CursorPage
from .permissions import STAFF_ROLES, IsClinical, IsClinicStaff, caseload_physician, require_clinical


class ApiMixin:
    audit_name = ""

    def initial(self, request, *args, **kwargs):
        request.request_id = request_id_of(request)
        self._claim = None
        self._audited_patients: set[str] = set()
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            self._claim = idempotency.begin(request)

    @property
    def actor(self):
        return actor_for(self.request)

    def audit(self, *patient_ids) -> None:
        """Name the patients whose data this request reads or writes."""
        self._audited_patients.update(str(pid) for pid in patient_ids)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            self._replayed = True
            return exc.response
        try:
            return super().handle_exception(exc)
        except Exception:
            if getattr(self, "_claim", None) is not None:
                idempotency.release(self._claim)
                self._claim = None
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "_claim", None) is not None:
            idempotency.finish(self._claim, response)
        if self._should_audit(request, response):
            audit_record(request=request, action=f"{self.audit_name}.{getattr(self, 'action', None) or 'get'}",
                         status_code=response.status_code, patient_ids=self._audited_patients)
        if request_id := getattr(request, "request_id", None):
            response["X-Request-ID"] = request_id
        return response

    def _should_audit(self, request, response) -> bool:
        if getattr(self, "_replayed", False) or not getattr(request, "request_id", None):
            return False
        if request.user is None or not request.user.is_authenticated:
            return False
        if request.method not in SAFE_METHODS:
            return True
        return bool(getattr(self, "_audited_patients", None)) and 200 <= response.status_code < 300


class ApiViewSet(ApiMixin, GenericViewSet):
    lookup_field = "external_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"

    def get_object(self):
        try:
            external_id = uuid.UUID(self.kwargs[self.lookup_url_kwarg])
        except ValueError:
            raise Http404 from None
        obj = self.get_queryset().filter(external_id=external_id).first()
        if obj is None:
            raise Http404
        return obj

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "actor": self.actor}

    def validated(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def filter_queryset(self, queryset):
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None and not set(self.request.query_params) & set(filterset_class.base_filters):
            return queryset  # no filter given: no FilterSet (and its form) is built for nothing
        return super().filter_queryset(queryset)

    def page_of_values(self, queryset, shape: ValuesShape, *, patient_key: str) -> Response:
        """A list page read by `.values()` (api/fast.py): no model objects for rows that are only serialized."""
        ordering = [name.lstrip("-") for name in self.paginator.ordering]
        page = self.paginate_queryset(shape.values(self.filter_queryset(queryset), *ordering, patient_key))
        self.audit(*(row[patient_key] for row in page))
        return self.get_paginated_response(shape.rows(page))

    def page_of(self, queryset, serializer_class, *, patients_of) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        self.audit(*(patients_of(row) for row in page))
        rows = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(rows)


def _user_named(username: str | None, field: str):
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise UnknownReference({field: ["No user with this username."]})
    return user


# --- Patients -------------------------------------------------------------------------------------


PATIENT_ROWS = ValuesShape(s.PatientSerializer, computed={"primary_physician": ("primary_physician__username", str)})
APPOINTMENT_ROWS = ValuesShape(s.AppointmentSerializer, computed={"episode": ("episode__external_id", str)})


class PatientViewSet(ApiViewSet):
    audit_name = "patients"
    queryset = Patient.objects.none()  # the schema's model; requests use the scoped selector
    serializer_class = s.PatientSerializer
    filterset_class = PatientFilter

    def get_queryset(self):
        return selectors.patient_list_for(actor=self.actor)

    @extend_schema(summary="List patients")
    def list(self, request):
        return self.page_of_values(self.get_queryset(), PATIENT_ROWS, patient_key="external_id")

    @extend_schema(summary="Find patients, the criteria in the body (keeps identifiers out of URLs and logs)",
                   request=s.PatientSearchSerializer, responses={200: s.PatientSearchResultSerializer})
    @action(detail=False, methods=["post"], url_path="search", pagination_class=None, filterset_class=None)
    def search(self, request):
        criteria = self.validated(s.PatientSearchSerializer)
        found = PatientFilter(data={k: str(v) for k, v in criteria.items()}, queryset=self.get_queryset(),
                              request=request)
        if not found.is_valid():
            raise InvalidInput(found.errors)
        limit = settings.API["PAGE_SIZE"]
        rows = list(found.qs[: limit + 1])
        self.audit(*(p.external_id for p in rows[:limit]))
        return Response(s.PatientSearchResultSerializer({"results": rows[:limit], "truncated": len(rows) > limit}).data)

    @extend_schema(summary="Register a patient", request=s.PatientWriteSerializer,
                   responses={201: s.PatientSerializer},
                   parameters=[OpenApiParameter("clinic", str, description="clinic slug; needed only by "
                                                                           "people working in several clinics")])
    def create(self, request):
        data = self.validated(s.PatientWriteSerializer)
        clinic = self._clinic_for_create()
        data = self._resolve_physician(data, clinic.pk)
        with transaction.atomic():
            patient = services.patient_create(clinic=clinic, actor=self.actor, **data)
            record_consent_changes(before=consent_stamps(None), after=patient, actor=self.actor,
                                   request_id=request.request_id)
        self.audit(patient.external_id)
        return Response(s.PatientSerializer(patient).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="A patient")
    def retrieve(self, request, id):
        patient = self.get_object()
        self.audit(patient.external_id)
        return Response(s.PatientSerializer(patient).data)

    @extend_schema(summary="Change contact details, consents or demographics", request=s.PatientWriteSerializer)
    def partial_update(self, request, id):
        patient = self.get_object()
        self.audit(patient.external_id)
        data = self._resolve_physician(self.validated(s.PatientWriteSerializer, partial=True), patient.clinic_id)
        before = consent_stamps(patient)
        with transaction.atomic():
            patient = services.patient_update(patient=patient, actor=self.actor, **data)
            record_consent_changes(before=before, after=patient, actor=self.actor, request_id=request.request_id)
        return Response(s.PatientSerializer(patient).data)

    @extend_schema(summary="Consent changes, oldest first", responses=s.ConsentChangeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="consent-changes", pagination_class=None, filterset_class=None)
    def consent_changes(self, request, id):
        patient = self.get_object()
        self.audit(patient.external_id)
        return Response(s.ConsentChangeSerializer(patient.consent_changes.all(), many=True).data)

    def _clinic_for_create(self):
        from pathway.models import Clinic

        clinics = Clinic.objects.filter(pk__in=self.actor.clinic_ids_for(*STAFF_ROLES))
        if slug := self.request.query_params.get("clinic"):
            clinics = clinics.filter(slug=slug)
        found = list(clinics[:2])
        if slug and not found:
            raise UnknownReference({"clinic": ["You work in no clinic with this slug."]})
        if len(found) != 1:
            raise InvalidInput({"clinic": ["Name the clinic (?clinic=<slug>) among those you work in."]})
        return found[0]

    def _resolve_physician(self, data: dict, clinic_id: int) -> dict:
        if "primary_physician" in data:
            user = _user_named(data["primary_physician"], "primary_physician")
            if user is not None and not user.clinic_memberships.filter(clinic_id=clinic_id, role="physician").exists():
                raise InvalidInput({"primary_physician": ["Choose a physician of this clinic."]})
            data["primary_physician"] = user
        return data


# --- Episodes -------------------------------------------------------------------------------------


def _unshown(model, shown: set[str], prefix: str) -> list[str]:
    return [f"{prefix}__{f.name}" for f in model._meta.concrete_fields if f.name not in shown and not f.primary_key]


# What a list of episodes leaves in the database: the people's user rows but their usernames (no password
# hashes), the patient's row but the brief columns shown.
EPISODE_LIST_DEFERRED = (
    *_unshown(get_user_model(), {"username"}, "physician"),
    *_unshown(get_user_model(), {"username"}, "coordinator"),
    *_unshown(Patient, {"external_id", "mrn", "given_name", "family_name", "clinic"}, "patient"),
)


class PainScore(NamedTuple):
    """What pathway.rules.relief_from_entries reads of a pain entry, as a row rather than a model object."""

    episode_id: int
    phase: str
    nrs: int
    percent_relief: int | None


def attach_relief_inputs(episodes: list[Episode]) -> None:
    """What a page's clinical side reads, fetched in two queries for the whole page: each episode's pain entries
    as rows (relief needs only phase, score and reported relief) and its authorizations (the deprecated auth_*
    fields); `episode.pain_entries.all()` and `episode.authorizations.all()` then answer from these lists, as
    they would from prefetch_related, without a queryset built per episode."""
    ids = [episode.pk for episode in episodes]
    scores, authorizations = defaultdict(list), defaultdict(list)
    for row in PainEntry.objects.filter(episode_id__in=ids).order_by().values_list(*PainScore._fields):
        scores[row[0]].append(PainScore(*row))
    for authorization in PriorAuthorization.objects.filter(episode_id__in=ids):
        authorizations[authorization.episode_id].append(authorization)
    for episode in episodes:
        cache = episode.__dict__.setdefault("_prefetched_objects_cache", {})
        cache["pain_entries"], cache["authorizations"] = scores[episode.pk], authorizations[episode.pk]


class EpisodeViewSet(ApiViewSet):
    audit_name = "episodes"
    queryset = Episode.objects.none()
    serializer_class = s.EpisodeSerializer
    filterset_class = EpisodeFilter

    def get_queryset(self):
        shows_relief = bool(self.actor.clinic_ids_for(*CLINICAL_ROLES))
        return selectors.episode_list_for(actor=self.actor, with_pain_entries=shows_relief)

    def get_object(self):
        episode = super().get_object()
        self.audit(episode.patient.external_id)
        return episode

    @extend_schema(summary="List episodes")
    def list(self, request):
        episodes = selectors.episode_list_for(actor=self.actor).defer(*EPISODE_LIST_DEFERRED)
        page = self.paginate_queryset(self.filter_queryset(episodes))
        if self.actor.clinic_ids_for(*CLINICAL_ROLES):
            attach_relief_inputs(page)
        self.audit(*(episode.patient.external_id for episode in page))
        rows = s.EpisodeSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(rows)

    @extend_schema(summary="Open an episode (coordinators, physicians)", request=s.EpisodeCreateSerializer,
                   responses={201: s.EpisodeSerializer})
    def create(self, request):
        data = self.validated(s.EpisodeCreateSerializer)
        patient = selectors.patients_for(actor=self.actor).filter(external_id=data.pop("patient")).first()
        if patient is None:
            raise UnknownReference({"patient": ["No such patient."]})
        self.audit(patient.external_id)
        episode = services.episode_create(
            patient=patient, actor=self.actor, physician=_user_named(data.pop("physician"), "physician"),
            coordinator=_user_named(data.pop("coordinator", None), "coordinator"), **data,
        )
        return Response(s.EpisodeSerializer(episode, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(summary="An episode")
    def retrieve(self, request, id):
        return Response(s.EpisodeSerializer(self.get_object(), context=self.get_serializer_context()).data)

    @extend_schema(methods=["GET"], summary="Transitions this caller may run now, and the history",
                   responses=s.TransitionsSerializer)
    @extend_schema(methods=["POST"], summary="Run a transition", request=s.TransitionRunSerializer,
                   responses={200: s.TransitionResultSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None, filterset_class=None)
    def transitions(self, request, id):
        episode = self.get_object()
        context = {**self.get_serializer_context(), "clinic_id": episode.clinic_id}
        if request.method == "POST":
            data = self.validated(s.TransitionRunSerializer)
            log = services.episode_transition(episode=episode, name=data.pop("transition"), actor=self.actor,
                                              data=data)
            return Response(s.TransitionResultSerializer({"transition": log, "episode": episode}, context=context).data)
        require_clinical(self.actor, episode.clinic_id)  # the history names outcomes: not the front desk's
        prefetch_related_objects([episode], "checklist_items", "authorizations")
        available = []
        for name in services.allowed_transitions(episode=episode, actor=self.actor):
            custom = services.fsm_transition(name, episode.stage).custom
            # The reason travels as "reason" whatever episode field keeps it (services.REASON_FIELDS).
            inputs = ["reason" if f == services.REASON_FIELDS.get(name) else f for f in custom.get("inputs", [])]
            available.append({"name": name, "label": custom["label"], "inputs": inputs,
                              "unmet": services.unmet_guards(episode=episode, name=name)})
        body = {"stage": episode.stage, "on_hold": episode.on_hold, "available": available,
                "history": episode.transition_logs.all()}
        return Response(s.TransitionsSerializer(body, context=context).data)

    @extend_schema(summary="Put the episode on hold", request=s.ReasonSerializer, responses={200: s.EpisodeSerializer})
    @action(detail=True, methods=["post"], filterset_class=None)
    def hold(self, request, id):
        episode = self.get_object()
        services.episode_hold(episode=episode, actor=self.actor,
                              reason=self.validated(s.ReasonSerializer).get("reason", ""))
        return Response(s.EpisodeSerializer(episode, context=self.get_serializer_context()).data)

    @extend_schema(summary="Release the hold", request=s.ReasonSerializer, responses={200: s.EpisodeSerializer})
    @action(detail=True, methods=["post"], filterset_class=None)
    def release(self, request, id):
        episode = self.get_object()
        services.episode_release(episode=episode, actor=self.actor,
                                 reason=self.validated(s.ReasonSerializer).get("reason", ""))
        return Response(s.EpisodeSerializer(episode, context=self.get_serializer_context()).data)

    @extend_schema(methods=["GET"], summary="The candidacy checklist (clinical roles)",
                   responses=s.ChecklistItemSerializer(many=True))
    @extend_schema(methods=["POST"], summary="Record one checklist item (clinical roles)",
                   request=s.ChecklistRecordSerializer, responses={200: s.ChecklistItemSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None, filterset_class=None)
    def checklist(self, request, id):
        episode = self.get_object()
        require_clinical(self.actor, episode.clinic_id)
        if request.method == "POST":
            item = services.checklist_item_record(episode=episode, actor=self.actor,
                                                  **self.validated(s.ChecklistRecordSerializer))
            return Response(s.ChecklistItemSerializer(item).data)
        items = episode.checklist_items.select_related("recorded_by")
        return Response(s.ChecklistItemSerializer(items, many=True).data)

    @extend_schema(methods=["GET"], summary="Pain entries (clinical roles)", responses=s.PainEntrySerializer(many=True))
    @extend_schema(methods=["POST"], summary="Record a pain entry (clinical roles)",
                   request=s.PainEntryCreateSerializer, responses={201: s.PainEntrySerializer})
    @action(detail=True, methods=["get", "post"], url_path="pain-entries", pagination_class=None,
            filterset_class=None)
    def pain_entries(self, request, id):
        episode = self.get_object()
        require_clinical(self.actor, episode.clinic_id)
        if request.method == "POST":
            source = PainSource.INTEGRATION if isinstance(request.auth, ClinicAPIKey) else PainSource.STAFF
            entry = services.pain_entry_record(episode=episode, actor=self.actor, source=source,
                                               **self.validated(s.PainEntryCreateSerializer))
            return Response(s.PainEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        return Response(s.PainEntrySerializer(episode.pain_entries.all(), many=True).data)


# --- Appointments ---------------------------------------------------------------------------------


class AppointmentViewSet(ApiViewSet):
    audit_name = "appointments"
    queryset = Appointment.objects.none()
    serializer_class = s.AppointmentSerializer
    filterset_class = AppointmentFilter

    def get_queryset(self):
        return selectors.appointments_for(actor=self.actor)

    def get_object(self):
        appointment = super().get_object()
        self.audit(appointment.patient.external_id)
        return appointment

    @extend_schema(summary="List appointments")
    def list(self, request):
        return self.page_of_values(self.get_queryset(), APPOINTMENT_ROWS, patient_key="patient__external_id")

    @extend_schema(
        summary="Book an appointment", request=s.AppointmentCreateSerializer,
        responses={201: s.AppointmentSerializer},
        description="A booking of the same patient, kind and start as one still booked answers 409 "
                    "`duplicate_booking` with the first appointment's id in `appointment`: a retry without an "
                    "Idempotency-Key (or with a new one) never books twice. With the same Idempotency-Key and body "
                    "a retry replays the first 201 instead.",
    )
    def create(self, request):
        data = self.validated(s.AppointmentCreateSerializer)
        patient = selectors.patients_for(actor=self.actor).filter(external_id=data.pop("patient")).first()
        if patient is None:
            raise UnknownReference({"patient": ["No such patient."]})
        self.audit(patient.external_id)
        episode = None
        if episode_id := data.pop("episode", None):
            episode = selectors.episodes_for(actor=self.actor).filter(external_id=episode_id).first()
            if episode is None:
                raise UnknownReference({"episode": ["No such episode."]})
        appointment = services.appointment_book(patient=patient, episode=episode, actor=self.actor, **data)
        return Response(s.AppointmentSerializer(appointment).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="An appointment")
    def retrieve(self, request, id):
        return Response(s.AppointmentSerializer(self.get_object()).data)

    @extend_schema(summary="Reschedule (a changed start or end)", request=s.AppointmentRescheduleSerializer)
    def partial_update(self, request, id):
        appointment = self.get_object()
        data = self.validated(s.AppointmentRescheduleSerializer, partial=True)
        starts_at = data.get("starts_at", appointment.starts_at)
        ends_at = data.get("ends_at", starts_at + (appointment.ends_at - appointment.starts_at))
        if (starts_at, ends_at) != (appointment.starts_at, appointment.ends_at):
            appointment = services.appointment_reschedule(appointment=appointment, actor=self.actor,
                                                          starts_at=starts_at, ends_at=ends_at)
        return Response(s.AppointmentSerializer(appointment).data)

    def _status_change(self, change, **kwargs) -> Response:
        appointment = change(appointment=self.get_object(), actor=self.actor, **kwargs)
        return Response(s.AppointmentSerializer(appointment).data)

    @extend_schema(summary="Check the patient in", request=None, responses={200: s.AppointmentSerializer})
    @action(detail=True, methods=["post"], url_path="check-in", filterset_class=None)
    def check_in(self, request, id):
        return self._status_change(services.appointment_check_in)

    @extend_schema(summary="Mark the appointment completed", request=None, responses={200: s.AppointmentSerializer})
    @action(detail=True, methods=["post"], filterset_class=None)
    def complete(self, request, id):
        return self._status_change(services.appointment_complete)

    @extend_schema(summary="Cancel, with a reason", request=s.CancelSerializer,
                   responses={200: s.AppointmentSerializer})
    @action(detail=True, methods=["post"], filterset_class=None)
    def cancel(self, request, id):
        return self._status_change(services.appointment_cancel, reason=self.validated(s.CancelSerializer)["reason"])

    @extend_schema(summary="Record a no-show", request=None, responses={200: s.AppointmentSerializer})
    @action(detail=True, methods=["post"], url_path="no-show", filterset_class=None)
    def no_show(self, request, id):
        return self._status_change(services.appointment_no_show)

    @extend_schema(summary="The appointment's reminders and their outcomes (sent, failed, skipped, cancelled)",
                   responses=s.ReminderSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def reminders(self, request, id):
        reminders = reminders_for_appointment(appointment=self.get_object())
        return Response(s.ReminderSerializer(reminders, many=True).data)


# --- Prior authorizations -------------------------------------------------------------------------


class AuthorizationViewSet(ApiViewSet):
    """Read by every staff role; created and changed by coordinators and physicians (the services decide)."""

    audit_name = "authorizations"
    queryset = PriorAuthorization.objects.none()
    serializer_class = s.AuthorizationSerializer
    filterset_class = AuthorizationFilter

    def get_queryset(self):
        return selectors.authorizations_for(actor=self.actor)

    def get_object(self):
        authorization = super().get_object()
        self.audit(authorization.episode.patient.external_id)
        return authorization

    def _answer(self, authorization, status_code=status.HTTP_200_OK) -> Response:
        # The history as it stands after this request's change, not as it was read before it.
        getattr(authorization, "_prefetched_objects_cache", {}).pop("status_changes", None)
        prefetch_related_objects([authorization], "status_changes")
        return Response(s.AuthorizationSerializer(authorization, context=self.get_serializer_context()).data,
                        status=status_code)

    @extend_schema(summary="List prior authorizations (trial and implant)")
    def list(self, request):
        return self.page_of(self.get_queryset(), s.AuthorizationSerializer,
                            patients_of=lambda a: a.episode.patient.external_id)

    @extend_schema(summary="Record a prior authorization (coordinators, physicians)",
                   request=s.AuthorizationCreateSerializer, responses={201: s.AuthorizationSerializer})
    def create(self, request):
        data = self.validated(s.AuthorizationCreateSerializer)
        episode = selectors.episodes_for(actor=self.actor).filter(external_id=data.pop("episode")).first()
        if episode is None:
            raise UnknownReference({"episode": ["No such episode."]})
        self.audit(episode.patient.external_id)
        require_clinical(self.actor, episode.clinic_id)
        authorization = services.authorization_create(episode=episode, actor=self.actor, **data)
        return self._answer(authorization, status.HTTP_201_CREATED)

    @extend_schema(summary="A prior authorization, with its status history")
    def retrieve(self, request, id):
        return self._answer(self.get_object())

    @extend_schema(summary="Change an authorization's details or status (coordinators, physicians)",
                   request=s.AuthorizationUpdateSerializer, responses={200: s.AuthorizationSerializer},
                   description="A status change the current status does not lead to answers 409 with the "
                               "statuses it may move to in `allowed_transitions`.")
    def partial_update(self, request, id):
        authorization = self.get_object()
        require_clinical(self.actor, authorization.episode.clinic_id)
        data = self.validated(s.AuthorizationUpdateSerializer, partial=True)
        authorization = services.authorization_update(authorization=authorization, actor=self.actor, **data)
        return self._answer(authorization)


# --- Caseload and board ---------------------------------------------------------------------------


class CaseloadPage(CursorPage):
    ordering = ("priority", "stage_entered_at", "id")


class CaseloadView(ApiMixin, GenericAPIView):
    audit_name = "caseload"
    permission_classes = [IsClinicStaff, IsClinical]
    pagination_class = CaseloadPage
    serializer_class = s.CaseloadEntrySerializer
    queryset = Episode.objects.none()

    @extend_schema(summary="Open episodes ordered by what needs attention first",
                   responses=s.CaseloadEntrySerializer(many=True),
                   parameters=[OpenApiParameter("physician", str, description="username; coordinators only")])
    def get(self, request):
        requested = request.query_params.get("physician")
        physician = caseload_physician(self.actor, _user_named(requested, "physician") if requested else None)
        caseload = selectors.caseload_for(actor=self.actor, physician=physician)
        page = self.paginate_queryset(caseload.prefetch_related(None).defer(*EPISODE_LIST_DEFERRED))
        attach_relief_inputs(page)  # relief and the deprecated auth_* fields
        self.audit(*(episode.patient.external_id for episode in page))
        context = {**self.get_serializer_context(), "actor": self.actor}
        return self.get_paginated_response(s.CaseloadEntrySerializer(page, many=True, context=context).data)


class BoardView(ApiMixin, GenericAPIView):
    audit_name = "board"
    serializer_class = s.BoardSerializer

    @extend_schema(summary="Open episodes per stage, with on-hold and stalled counts")
    def get(self, request):
        counts = selectors.board_counts(actor=self.actor)
        stages = [{"stage": stage, "label": Stage(stage).label, **counts[stage]} for stage in OPEN_STAGES]
        body = {"stages": stages, **{k: sum(row[k] for row in stages) for k in ("total", "on_hold", "stalled")}}
        return Response(s.BoardSerializer(body).data)
