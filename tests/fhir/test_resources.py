"""Every resource the server emits validates against fhir.resources' R4 models, with episodes in every stage."""

from datetime import timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner

from fhir_r4 import codes
from pathway import services
from pathway.actors import Actor
from pathway.stages import Stage
from tests.factories import AppointmentFactory, EpisodeFactory, PainEntryFactory, PatientFactory, advance_to

from .conftest import fhir_get

MODELS = {"Patient": Patient, "Practitioner": Practitioner, "EpisodeOfCare": EpisodeOfCare, "Condition": Condition,
          "Observation": Observation, "Appointment": Appointment}
# FHIR R4 EpisodeOfCare.status for each stage (DOMAIN.md, "Outside standards"), hold aside.
EXPECTED_STATUS = {
    Stage.EVALUATION: "active", Stage.TRIAL: "active", Stage.TRIAL_REVIEW: "active", Stage.IMPLANT: "active",
    Stage.FOLLOW_UP: "active", Stage.NOT_CANDIDATE: "cancelled", Stage.WITHDRAWN: "cancelled",
    Stage.TRIAL_FAILED: "finished", Stage.EXPLANTED: "finished", Stage.DISCHARGED: "finished",
}


def validated_bundle(client, resource_type: str, **params) -> list:
    """The searchset, parsed by the library's Bundle and each entry by its own resource model."""
    body = fhir_get(client, resource_type, **params)
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset"
    resources = []
    for entry in body.get("entry", []):
        resource = entry["resource"]
        resources.append(MODELS[resource["resourceType"]].model_validate(resource))
        assert entry["fullUrl"].endswith(f"/fhir/r4/{resource['resourceType']}/{resource['id']}")
    return resources


@pytest.fixture
def every_stage(clinic, physician):
    """One episode in each stage, each with a pain entry recording every measure and an appointment."""
    episodes = {}
    for stage in Stage:
        patient = PatientFactory(clinic=clinic, primary_physician=physician)
        episode = advance_to(EpisodeFactory(patient=patient, physician=physician, icd10_code="G56.41"), stage)
        PainEntryFactory(episode=episode, nrs=6, phase="trial", percent_relief=40, sleep_quality=5,
                         activity_limitation=4, medication_use="less")
        AppointmentFactory(patient=patient, episode=episode, kind="programming", external_ref=f"PM-{stage}")
        episodes[stage] = episode
    return episodes


def test_every_resource_of_every_stage_validates(ehr, every_stage):
    for resource_type, model in MODELS.items():
        resources = validated_bundle(ehr, resource_type, _count=200)
        assert resources, resource_type
        assert all(isinstance(r, model) for r in resources)
        for resource in resources:
            read = fhir_get(ehr, f"{resource_type}/{resource.id}")
            assert model.model_validate(read).id == resource.id


@pytest.mark.parametrize("stage", list(Stage))
def test_episode_status_follows_the_stage(ehr, every_stage, stage):
    episode = every_stage[stage]
    body = fhir_get(ehr, f"EpisodeOfCare/{episode.external_id}")
    assert body["status"] == EXPECTED_STATUS[stage]
    assert body["extension"][0]["valueCoding"]["code"] == stage
    assert body["statusHistory"][-1]["status"] == EXPECTED_STATUS[stage]
    assert "end" not in body["statusHistory"][-1]["period"]
    assert body["type"][0]["coding"][0]["code"] == "drg-stimulation"
    assert body["careManager"]["reference"] == f"Practitioner/{codes.practitioner_id(episode.physician)}"
    assert ("end" in body["period"]) == (stage in codes.ENDED_STATUS)


def test_a_hold_is_onhold_and_leaves_its_period_in_the_history(ehr, episode, physician):
    doctor = Actor.for_user(physician)
    services.episode_hold(episode=episode, actor=doctor, reason="Insurance appeal")
    assert fhir_get(ehr, f"EpisodeOfCare/{episode.external_id}")["status"] == "onhold"
    services.episode_release(episode=episode, actor=doctor, reason="Appeal won")
    body = fhir_get(ehr, f"EpisodeOfCare/{episode.external_id}")
    assert body["status"] == "active"
    assert [h["status"] for h in body["statusHistory"]] == ["active", "onhold", "active"]
    assert body["statusHistory"][0]["period"]["end"] == body["statusHistory"][1]["period"]["start"]


def test_patient_carries_mrn_name_birth_date_telecom_and_reminder_preferences(ehr, clinic, settings):
    settings.FHIR = {**settings.FHIR, "MRN_SYSTEMS": {"north": "urn:oid:1.2.36.146.595.217.0.1"}}
    patient = PatientFactory(clinic=clinic, mrn="A-77", given_name="Grace", family_name="Hopper",
                             phone="+15550101010", email="", preferred_channel="sms", sms_consent=True)
    body = fhir_get(ehr, f"Patient/{patient.external_id}")
    assert body["identifier"][0]["system"] == "urn:oid:1.2.36.146.595.217.0.1"
    assert body["identifier"][0]["value"] == "A-77"
    assert body["name"] == [{"use": "official", "family": "Hopper", "given": ["Grace"]}]
    assert body["birthDate"] == patient.birth_date.isoformat()
    assert body["telecom"] == [{"system": "phone", "value": "+15550101010", "use": "mobile", "rank": 1}]
    preferences = {e["url"]: next(v for k, v in e.items() if k.startswith("value"))
                   for e in body["extension"][0]["extension"]}
    assert preferences == {"channel": "sms", "smsConsent": True, "emailConsent": False, "diaryConsent": False}


def test_each_measure_of_a_pain_entry_is_its_own_observation(ehr, episode):
    entry = PainEntryFactory(episode=episode, nrs=7, sleep_quality=3, medication_use="more")
    body = fhir_get(ehr, "Observation")
    by_code = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in body["entry"]}
    assert set(by_code) == {"72514-3", "sleep-quality", "medication-use"}
    nrs = by_code["72514-3"]
    assert nrs["id"] == str(entry.external_id)
    assert nrs["code"]["coding"][0]["system"] == "http://loinc.org"
    assert nrs["valueInteger"] == 7
    assert nrs["subject"]["reference"] == f"Patient/{episode.patient.external_id}"
    assert nrs["extension"][0] == {"url": "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare",
                                   "valueReference": {"reference": f"EpisodeOfCare/{episode.external_id}"}}
    assert nrs["effectiveDateTime"].endswith(("-06:00", "-05:00"))  # the clinic's offset (Chicago)
    assert by_code["sleep-quality"]["valueInteger"] == 3
    assert by_code["medication-use"]["valueCodeableConcept"]["coding"][0]["code"] == "more"
    assert body["total"] == 3


def test_condition_names_the_icd10_code_and_the_diagnosis(ehr, episode):
    body = fhir_get(ehr, f"Condition/{episode.external_id}")
    assert body["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G90.521"}
    assert body["code"]["coding"][1]["code"] == "crps_1"
    assert body["subject"]["reference"] == f"Patient/{episode.patient.external_id}"
    assert body["bodySite"] == [{"text": "left foot"}]


def test_appointment_times_carry_the_clinic_offset_and_kind_and_participants(ehr, episode, physician):
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    appointment = AppointmentFactory(patient=episode.patient, episode=episode, kind="wound_check",
                                     starts_at=start, ends_at=start + timedelta(minutes=20))
    body = fhir_get(ehr, f"Appointment/{appointment.external_id}")
    assert body["status"] == "booked"
    parsed = Appointment.model_validate(body)
    assert parsed.start == start and parsed.end == start + timedelta(minutes=20)
    assert body["start"].endswith(("-06:00", "-05:00"))
    assert body["serviceType"][0]["coding"][0]["code"] == "wound_check"
    actors = [p["actor"]["reference"] for p in body["participant"]]
    assert actors == [f"Patient/{episode.patient.external_id}", f"Practitioner/{codes.practitioner_id(physician)}"]


def test_a_cancelled_appointment_says_why(ehr, patient, coordinator):
    appointment = AppointmentFactory(patient=patient)
    services.appointment_cancel(appointment=appointment, actor=Actor.for_user(coordinator), reason="Patient ill")
    body = fhir_get(ehr, f"Appointment/{appointment.external_id}")
    assert body["status"] == "cancelled"
    assert body["cancelationReason"] == {"text": "Patient ill"}
