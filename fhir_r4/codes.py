"""The code systems, identifier systems and extensions the FHIR interface names (README, "Integrating with FHIR").

Standard ones (LOINC, HL7 terminology, ICD-10-CM) where a standard code says exactly what we record; our own,
under settings.FHIR["SYSTEM_BASE"], where none does (a sleep score on our 0–10 scale is not any LOINC panel's).
"""

from __future__ import annotations

import uuid

from django.conf import settings

from pathway.stages import AppointmentStatus, MedicationUse, Stage

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# The R4 core extension that ties an event (an Observation, a Condition, an Appointment) to its EpisodeOfCare:
# R4's Observation.encounter and Condition.encounter may point at an Encounter only.
EPISODE_OF_CARE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"


def ours(kind: str, name: str) -> str:
    """One of this product's own URIs, e.g. urn:drg-pathway:CodeSystem:observation."""
    return f"{settings.FHIR['SYSTEM_BASE']}:{kind}:{name}"


def code_system(name: str) -> str:
    return ours("CodeSystem", name)


def extension_url(name: str) -> str:
    return ours("StructureDefinition", name)


def mrn_system(clinic) -> str:
    return settings.FHIR["MRN_SYSTEMS"].get(clinic.slug) or f"{settings.FHIR['SYSTEM_BASE']}:clinic:{clinic.slug}:mrn"


def appointment_identifier_system(clinic) -> str:
    """The scheduling system's own appointment id (`external_ref` in the API), per clinic."""
    return f"{settings.FHIR['SYSTEM_BASE']}:clinic:{clinic.slug}:appointment"


def clinic_identifier_system() -> str:
    return f"{settings.FHIR['SYSTEM_BASE']}:clinic"


def username_system() -> str:
    return f"{settings.FHIR['SYSTEM_BASE']}:username"


def practitioner_id(user) -> str:
    """A stable opaque id for a staff user, derived from the username: no integer key leaves the database."""
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"{settings.FHIR['SYSTEM_BASE']}:practitioner")
    return str(uuid.uuid5(namespace, user.get_username()))


# --- EpisodeOfCare.status (DOMAIN.md, "Outside standards") ----------------------------------------
# Every open stage is care being given ("active"), a hold is "onhold" whatever the stage; the endings
# that stopped the pathway before or without therapy are "cancelled", those after a trial "finished".
ENDED_STATUS = {
    Stage.NOT_CANDIDATE: "cancelled",
    Stage.WITHDRAWN: "cancelled",
    Stage.TRIAL_FAILED: "finished",
    Stage.EXPLANTED: "finished",
    Stage.DISCHARGED: "finished",
}
EPISODE_STATUSES = ("planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error")


def episode_status(*, stage: str, on_hold: bool) -> str:
    if stage in ENDED_STATUS:
        return ENDED_STATUS[stage]
    return "onhold" if on_hold else "active"


# --- Appointment.status: the model's statuses are FHIR's own codes -----------------------------------
APPOINTMENT_STATUSES = tuple(AppointmentStatus.values)


# --- Observations: one per measure recorded with a pain entry -----------------------------------------
# (suffix of the Observation id after the entry's UUID, code system, code, display)
PAIN_NRS = ("", LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
MEASURES = {
    "nrs": PAIN_NRS,
    "percent_relief": ("relief", None, "percent-relief", "Patient-reported pain relief since before the trial [%]"),
    "sleep_quality": ("sleep", None, "sleep-quality", "Sleep quality 0-10 [Score] - Reported"),
    "activity_limitation": ("activity", None, "activity-limitation",
                            "Pain interference with walking and daily activity 0-10 [Score] - Reported"),
    "medication_use": ("medication", None, "medication-use",
                       "Pain medication use compared with before the trial - Reported"),
}


def measure_coding(field: str) -> dict:
    _suffix, system, code, display = MEASURES[field]
    return {"system": system or code_system("observation"), "code": code, "display": display}


MEDICATION_USE_CODES = {value: label for value, label in MedicationUse.choices}
