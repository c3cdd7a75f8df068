"""What the FHIR interface serves: one entry per resource type, read by the views and by `metadata`.

The CapabilityStatement is generated from these entries, so it lists exactly the types, interactions, search
parameters and includes the views accept: adding a parameter here adds it to both at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from pathway.actors import Actor
from pathway.stages import ENDED_STAGES, OPEN_STAGES

from . import codes
from . import resources as r
from . import selectors as sel
from .search import (
    SearchContext,
    SearchParam,
    date_param,
    instant_param,
    invalid,
    last_updated,
    reference_param,
    search_filter,
    split_token,
    string_param,
    token_param,
)

CORE = "http://hl7.org/fhir/SearchParameter/"


@dataclass(frozen=True)
class Operation:
    """A FHIR operation the views serve (`[type]/[id]/$name`), listed in the CapabilityStatement."""

    name: str
    definition: str
    documentation: str


EVERYTHING = Operation(
    name="everything",
    definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
    documentation="GET Patient/<id>/$everything: a searchset Bundle of the patient, their Appointments and the "
                  "Practitioners these name; for coordinators and physicians also their EpisodeOfCares, "
                  "Conditions and Observations. Paged by _count (capped, as searches are).",
)


@dataclass(frozen=True)
class ResourceType:
    name: str
    documentation: str
    clinical: bool  # coordinators and physicians only; the front desk is answered 403
    params: tuple[SearchParam, ...]
    # (actor, clinical scope?) -> the scoped queryset; reads use the wider scope to tell 403 from 404
    queryset: Callable[..., QuerySet]
    find: Callable[[QuerySet, str], Any]  # (queryset, FHIR id) -> row or None
    resources_of: Callable[[Any, SearchContext], list]  # row -> its resources
    patient_of: Callable[[Any], Any] | None = None  # row -> the Patient model it is about (audit, _include)
    clinic_of: Callable[[Any], int] | None = None
    includes: tuple[str, ...] = ()
    interactions: tuple[str, ...] = ("read", "search-type")
    versioning: str = "no-version"  # "versioned-update": reads carry meta.versionId and ETag; updates take If-Match
    ordering: tuple[str, ...] = ("created_at", "id")
    count: Callable[[QuerySet, SearchContext], int] = field(default=lambda qs, ctx: qs.count())
    read_resource: Callable[[Any, str], Any] | None = None  # (row, id) -> the one resource with that id
    operations: tuple[Operation, ...] = ()

    @property
    def profile(self) -> str:
        return f"http://hl7.org/fhir/StructureDefinition/{self.name}"

    def resource(self, row, resource_id: str):
        if self.read_resource is not None:
            return self.read_resource(row, resource_id)
        return self.resources_of(row, SearchContext(clinics=()))[0]


def _by_external_id(queryset: QuerySet, resource_id: str):
    try:
        return queryset.filter(external_id=uuid.UUID(resource_id)).first()
    except ValueError:
        return None


def _patient_ref(field_path: str) -> SearchParam:
    return reference_param("patient", "Who the resource is about: Patient/<id>.", "Patient", field_path,
                           definition=CORE + "clinical-patient")


PATIENT_EXPORT = Operation(
    name="export",
    definition="http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
    documentation="GET Patient/$export with Prefer: respond-async (Bulk Data Access IG): the clinic's patients' "
                  "compartments as ndjson, one file per type; _type, _since. Coordinators and physicians only.",
)
SYSTEM_EXPORT = Operation(
    name="export",
    definition="http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
    documentation="GET $export with Prefer: respond-async (Bulk Data Access IG): every exportable type of the "
                  "caller's clinic as ndjson, one file per type; _type, _since. Coordinators and physicians "
                  "only. Poll the Content-Location (202 + X-Progress, then 200 + manifest); DELETE cancels; each "
                  "file downloads once.",
)
SYSTEM_OPERATIONS: tuple[Operation, ...] = (SYSTEM_EXPORT,)


# --- Patient --------------------------------------------------------------------------------------


def _mrn(system, code, ctx: SearchContext) -> Q:
    if system is None:
        clinics = [c.pk for c in ctx.clinics]
    else:
        clinics = [c.pk for c in ctx.clinics if codes.mrn_system(c) == system]
    return Q(clinic_id__in=clinics, **({"mrn": code} if code else {}))


PATIENT = ResourceType(
    name="Patient",
    documentation="The clinic's patients: MRN, name, birth date, phone and email (the reminder channel ranked "
                  "first), reminder consents as the reminder-preferences extension.",
    clinical=False,
    params=(
        token_param("identifier", "The MRN, as <system>|<mrn> or the MRN alone.", _mrn,
                    definition=CORE + "Patient-identifier"),
        string_param("name", "Given or family name, starting with the value, case ignored.",
                     ("given_name", "family_name"), definition=CORE + "Patient-name"),
        date_param("birthdate", "Date of birth.", "birth_date", definition=CORE + "individual-birthdate"),
        last_updated("clinic_id"),
    ),
    queryset=lambda actor, clinical=True: sel.fhir_patients_for(actor=actor),
    find=_by_external_id,
    resources_of=lambda patient, ctx: [r.patient_resource(patient)],
    patient_of=lambda patient: patient,
    operations=(EVERYTHING, PATIENT_EXPORT),
)


# --- Practitioner ---------------------------------------------------------------------------------


def _find_practitioner(queryset: QuerySet, resource_id: str):
    return next((user for user in queryset if codes.practitioner_id(user) == resource_id), None)


def _username(system, code, ctx) -> Q:
    if system not in (None, codes.username_system()):
        return Q(pk__in=[])
    return Q(username=code)


PRACTITIONER = ResourceType(
    name="Practitioner",
    documentation="The physicians of the caller's clinics, so a booking can name one; identifier = username.",
    clinical=False,
    params=(
        token_param("identifier", "The username, as <system>|<username> or the username alone.", _username,
                    definition=CORE + "Practitioner-identifier"),
        string_param("name", "Given or family name or username, starting with the value, case ignored.",
                     ("first_name", "last_name", "username"), definition=CORE + "Practitioner-name"),
    ),
    queryset=lambda actor, clinical=True: sel.fhir_practitioners_for(actor=actor),
    find=_find_practitioner,
    resources_of=lambda user, ctx: [r.practitioner_resource(user)],
    ordering=("date_joined", "id"),
)


# --- EpisodeOfCare --------------------------------------------------------------------------------

EPISODE_STATUS_SYSTEM = "http://hl7.org/fhir/episode-of-care-status"
_STATUS_Q = {
    "active": Q(stage__in=OPEN_STAGES, on_hold=False),
    "onhold": Q(stage__in=OPEN_STAGES, on_hold=True),
    "cancelled": Q(stage__in=[s for s in ENDED_STAGES if codes.ENDED_STATUS[s] == "cancelled"]),
    "finished": Q(stage__in=[s for s in ENDED_STAGES if codes.ENDED_STATUS[s] == "finished"]),
}


def _episode_status(system, code, ctx) -> Q:
    if system not in (None, EPISODE_STATUS_SYSTEM) or code not in codes.EPISODE_STATUSES:
        raise invalid("status", f"Give one of {', '.join(codes.EPISODE_STATUSES)}.")
    return _STATUS_Q.get(code, Q(pk__in=[]))


EPISODE_OF_CARE = ResourceType(
    name="EpisodeOfCare",
    documentation="One per pass through the DRG pathway. status from the stage and hold; the stage itself in "
                  "the episode-stage extension; careManager = the physician who owns the episode.",
    clinical=True,
    params=(
        _patient_ref("patient__external_id"),
        token_param("status", "active, onhold, finished or cancelled.", _episode_status,
                    definition=CORE + "EpisodeOfCare-status"),
        last_updated("clinic_id"),
    ),
    queryset=lambda actor, clinical=True: sel.fhir_episodes_for(actor=actor, clinical=clinical),
    find=_by_external_id,
    resources_of=lambda episode, ctx: [r.episode_resource(episode)],
    patient_of=lambda episode: episode.patient,
    clinic_of=lambda episode: episode.clinic_id,
    includes=("EpisodeOfCare:patient",),
)


# --- Condition ------------------------------------------------------------------------------------


def _diagnosis_code(system, code, ctx) -> Q:
    by_icd = Q(icd10_code__iexact=code) if system in (None, codes.ICD10_CM) else Q(pk__in=[])
    by_ours = Q(diagnosis=code) if system in (None, codes.code_system("diagnosis")) else Q(pk__in=[])
    return by_icd | by_ours


CONDITION = ResourceType(
    name="Condition",
    documentation="The episode's qualifying diagnosis (ICD-10-CM where given, and our diagnosis category); "
                  "shares the episode's id.",
    clinical=True,
    params=(
        _patient_ref("patient__external_id"),
        token_param("code", "An ICD-10-CM code, or one of our diagnosis codes (crps_1, …).", _diagnosis_code,
                    definition=CORE + "clinical-code"),
        last_updated("clinic_id"),
    ),
    queryset=lambda actor, clinical=True: sel.fhir_conditions_for(actor=actor, clinical=clinical),
    find=_by_external_id,
    resources_of=lambda episode, ctx: [r.condition_resource(episode)],
    patient_of=lambda episode: episode.patient,
    clinic_of=lambda episode: episode.clinic_id,
)


# --- Observation ----------------------------------------------------------------------------------


def _measure_recorded(name: str) -> Q:
    if name == "nrs":
        return Q(pk__isnull=False)  # every entry has its NRS
    if name == "medication_use":
        return ~Q(medication_use="")
    return Q(**{f"{name}__isnull": False})


def _measures_named(system, code) -> set[str]:
    found = set()
    for name, (_suffix, own_system, own_code, _display) in codes.MEASURES.items():
        measure_system = own_system or codes.code_system("observation")
        if code == own_code and system in (None, measure_system):
            found.add(name)
    return found


def _observation_code(values, modifier, ctx: SearchContext) -> Q:
    named = set().union(*(_measures_named(*split_token(v)) for v in values))
    ctx.measures = named if ctx.measures is None else ctx.measures & named
    return Q()  # applied once, for the measures every occurrence allows: see _observation_filter


def _observation_filter(ctx: SearchContext) -> Q:
    if ctx.measures is None:
        return Q()
    q = Q(pk__in=[])
    for name in ctx.measures:
        q |= _measure_recorded(name)
    return q


def _count_observations(queryset: QuerySet, ctx: SearchContext) -> int:
    measures = codes.MEASURES if ctx.measures is None else ctx.measures
    if not measures:
        return 0
    counts = queryset.aggregate(**{name: Count("pk", filter=_measure_recorded(name)) for name in measures})
    return sum(counts.values())


def _find_entry(queryset: QuerySet, resource_id: str):
    return _by_external_id(queryset, resource_id[:36])


def _observation_read(entry, resource_id: str):
    for name in r.recorded_measures(entry):
        if r.observation_id(entry, name) == resource_id:
            return r.observation_resource(entry, name)
    return None


OBSERVATION = ResourceType(
    name="Observation",
    documentation="Each pain entry's NRS (LOINC 72514-3), and where recorded its percent relief, sleep quality, "
                  "activity limitation and medication use (our observation codes). A page holds the "
                  "Observations of up to _count pain entries.",
    clinical=True,
    params=(
        _patient_ref("episode__patient__external_id"),
        SearchParam("code", "token", "http://loinc.org|72514-3 (the NRS), or one of our observation codes.",
                    _observation_code, definition=CORE + "clinical-code"),
        instant_param("date", "When the entry was recorded; a date alone is the clinic's day.", "recorded_at",
                      "episode__clinic_id", definition=CORE + "clinical-date"),
        last_updated("episode__clinic_id"),
    ),
    queryset=lambda actor, clinical=True: sel.fhir_pain_entries_for(actor=actor, clinical=clinical),
    find=_find_entry,
    resources_of=lambda entry, ctx: r.observations_of(entry, ctx.measures),
    patient_of=lambda entry: entry.episode.patient,
    clinic_of=lambda entry: entry.episode.clinic_id,
    count=_count_observations,
    read_resource=_observation_read,
)


# --- Appointment ----------------------------------------------------------------------------------


def _appointment_status(system, code, ctx) -> Q:
    r4_codes = (*codes.APPOINTMENT_STATUSES, "proposed", "pending", "checked-in", "waitlist")
    if system not in (None, "http://hl7.org/fhir/appointmentstatus") or code not in r4_codes:
        raise invalid("status", f"Give one of {', '.join(r4_codes)}.")
    return Q(status=code)


def _appointment_identifier(system, code, ctx) -> Q:
    clinics = [c.pk for c in ctx.clinics if system is None or codes.appointment_identifier_system(c) == system]
    return Q(clinic_id__in=clinics, external_ref=code)


def _service_type(system, code, ctx) -> Q:
    if system not in (None, codes.code_system("appointment-kind")):
        return Q(pk__in=[])
    return Q(kind=code)


APPOINTMENT = ResourceType(
    name="Appointment",
    documentation="Bookings: status (FHIR's own codes), start and end with the clinic's offset, serviceType "
                  "from the kind, the patient and the episode's physician as participants. Created (If-None-Exist, "
                  "Idempotency-Key) and updated (move or status change; If-Match) through the v1 services.",
    clinical=False,
    params=(
        _patient_ref("patient__external_id"),
        instant_param("date", "The start; a date alone is the clinic's day.", "starts_at", "clinic_id",
                      definition=CORE + "Appointment-date"),
        token_param("status", "booked, arrived, fulfilled, cancelled, noshow, entered-in-error.",
                    _appointment_status, definition=CORE + "Appointment-status"),
        token_param("identifier", "The scheduling system's appointment id (external_ref).",
                    _appointment_identifier, definition=CORE + "Appointment-identifier"),
        token_param("service-type", "The kind of appointment (our appointment-kind codes).", _service_type,
                    definition=CORE + "Appointment-service-type"),
        last_updated("clinic_id"),
    ),
    queryset=lambda actor, clinical=True: sel.fhir_appointments_for(actor=actor),
    find=_by_external_id,
    resources_of=lambda appointment, ctx: [r.appointment_resource(appointment)],
    patient_of=lambda appointment: appointment.patient,
    includes=("Appointment:patient",),
    interactions=("read", "search-type", "create", "update"),
    versioning="versioned-update",
)


REGISTRY: dict[str, ResourceType] = {
    t.name: t for t in (PATIENT, PRACTITIONER, EPISODE_OF_CARE, CONDITION, OBSERVATION, APPOINTMENT)
}


def search_queryset(resource_type: ResourceType, *, actor: Actor, query, ctx: SearchContext) -> QuerySet:
    queryset = resource_type.queryset(actor, True).filter(search_filter(query, resource_type.params, ctx))
    if resource_type is OBSERVATION:
        queryset = queryset.filter(_observation_filter(ctx))
    return queryset


