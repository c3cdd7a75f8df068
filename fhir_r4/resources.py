"""Domain objects as FHIR R4 resources, each built and validated by fhir.resources' models.

fhir.resources 8 keeps its R4-line models under `fhir.resources.R4B` (R4B, 4.3.0, overlays R4 4.0.1 and changed
none of the elements used here). Building through the models means a resource that would not validate is a
server error, never a document sent out.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.condition import Condition as FhirCondition
from fhir.resources.R4B.episodeofcare import EpisodeOfCare as FhirEpisodeOfCare
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner as FhirPractitioner

from pathway.models import Appointment, Episode, PainEntry, Patient
from pathway.stages import AppointmentKind, Channel, Diagnosis, PainPhase, PainSource, Stage

from . import codes


def _meta(obj) -> dict:
    return {"lastUpdated": obj.updated_at.isoformat()}


def version_id(obj) -> str:
    """A version that changes with every save: the last change's instant, in microseconds."""
    return str(int(obj.updated_at.timestamp() * 1_000_000))


def etag(obj) -> str:
    return f'W/"{version_id(obj)}"'


def _local(moment: datetime, clinic) -> str:
    """An instant with the clinic's offset, as a scheduler shows it (the same instant as the stored UTC)."""
    return moment.astimezone(ZoneInfo(clinic.time_zone)).isoformat()


def reference(resource_type: str, resource_id, display: str | None = None) -> dict:
    ref = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def practitioner_reference(user) -> dict:
    return reference("Practitioner", codes.practitioner_id(user), _person_name(user))


def _person_name(user) -> str:
    return user.get_full_name() or user.get_username()


def _episode_extension(episode: Episode) -> dict:
    return {"url": codes.EPISODE_OF_CARE_EXTENSION, "valueReference": reference("EpisodeOfCare", episode.external_id)}


# --- Patient --------------------------------------------------------------------------------------


def patient_resource(patient: Patient) -> FhirPatient:
    """Demographics, contact points (the reminder channel ranked first) and reminder consents."""
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone, "use": "mobile",
                        "rank": 1 if patient.preferred_channel == Channel.SMS else 2})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email,
                        "rank": 1 if patient.preferred_channel == Channel.EMAIL else 2})
    body = {
        "resourceType": "Patient",
        "id": str(patient.external_id),
        "meta": _meta(patient),
        "identifier": [{
            "use": "usual",
            "type": {"coding": [{"system": codes.IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}]},
            "system": codes.mrn_system(patient.clinic),
            "value": patient.mrn,
        }],
        "active": True,
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "telecom": telecom or None,
        "birthDate": patient.birth_date.isoformat(),
        "managingOrganization": {
            "identifier": {"system": codes.clinic_identifier_system(), "value": patient.clinic.slug},
            "display": patient.clinic.name,
        },
        "generalPractitioner": [practitioner_reference(patient.primary_physician)]
        if patient.primary_physician_id else None,
        "extension": [{
            "url": codes.extension_url("reminder-preferences"),
            "extension": [
                {"url": "channel", "valueCode": patient.preferred_channel},
                {"url": "smsConsent", "valueBoolean": patient.sms_consent},
                {"url": "emailConsent", "valueBoolean": patient.email_consent},
                {"url": "diaryConsent", "valueBoolean": patient.diary_consent},
            ],
        }],
    }
    return FhirPatient.model_validate(body)


# --- Practitioner ---------------------------------------------------------------------------------


def practitioner_resource(user) -> FhirPractitioner:
    name = {"text": _person_name(user)}
    if user.last_name:
        name["family"] = user.last_name
    if user.first_name:
        name["given"] = [user.first_name]
    body = {
        "resourceType": "Practitioner",
        "id": codes.practitioner_id(user),
        "identifier": [{"system": codes.username_system(), "value": user.get_username()}],
        "active": user.is_active,
        "name": [name],
    }
    return FhirPractitioner.model_validate(body)


# --- EpisodeOfCare --------------------------------------------------------------------------------


def _status_history(episode: Episode) -> list[dict]:
    """The FHIR status the episode has had, period by period, replayed from its transition log."""
    periods: list[dict] = []
    status, since = "active", episode.created_at
    for log in episode.transition_logs.all():  # prefetched, oldest first
        on_hold = {"hold": True, "release": False}.get(log.transition)
        if on_hold is None:
            on_hold = status == "onhold"
        new = codes.episode_status(stage=log.to_stage, on_hold=on_hold)
        if new != status:
            periods.append({"status": status, "period": {"start": since.isoformat(), "end": log.at.isoformat()}})
            status, since = new, log.at
    periods.append({"status": status, "period": {"start": since.isoformat()}})
    return periods


def episode_resource(episode: Episode) -> FhirEpisodeOfCare:
    period = {"start": episode.created_at.isoformat()}
    if episode.ended_on:
        period["end"] = episode.ended_on.isoformat()
    body = {
        "resourceType": "EpisodeOfCare",
        "id": str(episode.external_id),
        "meta": _meta(episode),
        "extension": [{
            "url": codes.extension_url("episode-stage"),
            "valueCoding": {"system": codes.code_system("episode-stage"), "code": episode.stage,
                            "display": Stage(episode.stage).label},
        }],
        "status": codes.episode_status(stage=episode.stage, on_hold=episode.on_hold),
        "statusHistory": _status_history(episode),
        "type": [{
            "coding": [{"system": codes.code_system("episode-type"), "code": "drg-stimulation",
                        "display": "Dorsal root ganglion stimulation pathway"}],
            "text": "DRG stimulation",
        }],
        "diagnosis": [{"condition": reference("Condition", episode.external_id), "rank": 1}]
        if episode.diagnosis else None,
        "patient": reference("Patient", episode.patient.external_id),
        "managingOrganization": {
            "identifier": {"system": codes.clinic_identifier_system(), "value": episode.clinic.slug},
            "display": episode.clinic.name,
        },
        "period": period,
        "careManager": practitioner_reference(episode.physician),
    }
    return FhirEpisodeOfCare.model_validate(body)


# --- Condition ------------------------------------------------------------------------------------


def _pain_area_text(area: dict) -> str:
    words = [area.get("side", ""), str(area.get("area", "")).replace("_", " ")]
    return " ".join(w for w in words if w and w != "both") + (" (both sides)" if area.get("side") == "both" else "")


def condition_resource(episode: Episode) -> FhirCondition:
    """The episode's qualifying diagnosis; the Condition shares the episode's id."""
    coding = [{"system": codes.code_system("diagnosis"), "code": episode.diagnosis,
               "display": Diagnosis(episode.diagnosis).label}]
    if episode.icd10_code:
        coding.insert(0, {"system": codes.ICD10_CM, "code": episode.icd10_code})
    text = episode.diagnosis_other if episode.diagnosis == Diagnosis.OTHER and episode.diagnosis_other \
        else Diagnosis(episode.diagnosis).label
    body = {
        "resourceType": "Condition",
        "id": str(episode.external_id),
        "meta": _meta(episode),
        "extension": [_episode_extension(episode)],
        "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": codes.CONDITION_VERIFICATION, "code": "confirmed"}]},
        "category": [{"coding": [{"system": codes.CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": {"coding": coding, "text": text},
        "bodySite": [{"text": _pain_area_text(area)} for area in episode.pain_areas if isinstance(area, dict)]
        or None,
        "subject": reference("Patient", episode.patient.external_id),
        "onsetDateTime": episode.pain_onset_date.isoformat() if episode.pain_onset_date else None,
        "recordedDate": episode.created_at.isoformat(),
        "asserter": practitioner_reference(episode.physician),
    }
    return FhirCondition.model_validate(body)


# --- Observation ----------------------------------------------------------------------------------


def observation_id(entry: PainEntry, field: str) -> str:
    suffix = codes.MEASURES[field][0]
    return f"{entry.external_id}-{suffix}" if suffix else str(entry.external_id)


def _value(entry: PainEntry, field: str) -> dict:
    value = getattr(entry, field)
    if field == "percent_relief":
        return {"valueQuantity": {"value": value, "unit": "%", "system": codes.UCUM, "code": "%"}}
    if field == "medication_use":
        return {"valueCodeableConcept": {
            "coding": [{"system": codes.code_system("medication-use"), "code": value,
                        "display": codes.MEDICATION_USE_CODES[value]}],
        }}
    return {"valueInteger": value}


def recorded_measures(entry: PainEntry) -> list[str]:
    """The entry's measures that were recorded (the NRS always is), in a fixed order."""
    return [field for field in codes.MEASURES if getattr(entry, field) not in (None, "")]


def observation_resource(entry: PainEntry, field: str) -> FhirObservation:
    episode = entry.episode
    patient_ref = reference("Patient", episode.patient.external_id)
    body = {
        "resourceType": "Observation",
        "id": observation_id(entry, field),
        "meta": _meta(entry),
        "extension": [
            _episode_extension(episode),
            {"url": codes.extension_url("pain-phase"),
             "valueCoding": {"system": codes.code_system("pain-phase"), "code": entry.phase,
                             "display": PainPhase(entry.phase).label}},
        ],
        "status": "final",
        "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": {"coding": [codes.measure_coding(field)], "text": codes.MEASURES[field][3]},
        "subject": patient_ref,
        "effectiveDateTime": _local(entry.recorded_at, episode.clinic),
        "performer": [patient_ref] if entry.source == PainSource.PATIENT_LINK else None,
        **_value(entry, field),
    }
    return FhirObservation.model_validate(body)


def observations_of(entry: PainEntry, fields=None) -> list[FhirObservation]:
    return [observation_resource(entry, field) for field in recorded_measures(entry)
            if fields is None or field in fields]


# --- Appointment ----------------------------------------------------------------------------------


def appointment_resource(appointment: Appointment) -> FhirAppointment:
    clinic = appointment.clinic
    participants = [{"actor": reference("Patient", appointment.patient.external_id), "required": "required",
                     "status": "accepted" if appointment.confirmed_at else "needs-action"}]
    if appointment.episode_id:
        participants.append({"actor": practitioner_reference(appointment.episode.physician),
                             "required": "required", "status": "accepted"})
    body = {
        "resourceType": "Appointment",
        "id": str(appointment.external_id),
        "meta": {**_meta(appointment), "versionId": version_id(appointment)},
        "identifier": [{"system": codes.appointment_identifier_system(clinic), "value": appointment.external_ref}]
        if appointment.external_ref else None,
        "extension": [_episode_extension(appointment.episode)] if appointment.episode_id else None,
        "status": appointment.status,
        "cancelationReason": {"text": appointment.cancellation_reason}
        if appointment.status == "cancelled" and appointment.cancellation_reason else None,
        "serviceType": [{
            "coding": [{"system": codes.code_system("appointment-kind"), "code": appointment.kind,
                        "display": AppointmentKind(appointment.kind).label}],
            "text": AppointmentKind(appointment.kind).label,
        }],
        "start": _local(appointment.starts_at, clinic),
        "end": _local(appointment.ends_at, clinic),
        "minutesDuration": int((appointment.ends_at - appointment.starts_at).total_seconds() // 60) or None,
        "created": appointment.created_at.isoformat(),
        "participant": participants,
    }
    return FhirAppointment.model_validate(body)
