"""`Patient/[id]/$everything`: the patient and what of theirs the caller's role may see, each resource valid
R4, scoped and audited as reads are, paged by `_count` (capped) with queries that do not grow with the patient."""

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from api.models import AuditEvent
from fhir_r4 import codes
from pathway.stages import Role
from tests.factories import AppointmentFactory, EpisodeFactory, PainEntryFactory, PatientFactory, advance_to, staff

from .conftest import BASE, fhir_get, outcome

CLINICAL = {"EpisodeOfCare", "Condition", "Observation"}


@pytest.fixture
def history(episode, physician):
    PainEntryFactory(episode=episode, nrs=6, sleep_quality=4, activity_limitation=5, medication_use="less")
    AppointmentFactory(patient=episode.patient, episode=episode)
    other = EpisodeFactory(patient=PatientFactory(clinic=episode.clinic), physician=physician)
    PainEntryFactory(episode=other)  # someone else's: never in this patient's Bundle
    AppointmentFactory(patient=other.patient, episode=other)
    return episode


def everything(client, patient, expect=200, **params) -> dict:
    return fhir_get(client, f"Patient/{patient.external_id}/$everything", expect, **params)


def validated(bundle: dict) -> list:
    """Every entry parsed by its own fhir.resources model, not only as part of the Bundle."""
    Bundle.model_validate(bundle)
    return [get_fhir_model_class(e["resource"]["resourceType"]).model_validate(e["resource"])
            for e in bundle.get("entry", [])]


def test_a_coordinator_gets_the_patient_and_everything_of_theirs(ehr, history, physician):
    patient = history.patient
    body = everything(ehr, patient)
    resources = validated(body)
    assert body["type"] == "searchset" and body["total"] == len(resources)
    kinds = [res.get_resource_type() for res in resources]
    assert kinds == ["Patient", "Practitioner", "EpisodeOfCare", "Condition", *["Observation"] * 4, "Appointment"]
    assert resources[0].id == str(patient.external_id)
    assert resources[1].id == codes.practitioner_id(physician)
    for res in resources[2:]:
        subject = getattr(res, "subject", None) or getattr(res, "patient", None)
        if subject is None:  # the Appointment names the patient as a participant
            subject = res.participant[0].actor
        assert subject.reference == f"Patient/{patient.external_id}"
    codes_seen = {res.code.coding[0].code for res in resources if res.get_resource_type() == "Observation"}
    assert codes_seen == {"72514-3", "sleep-quality", "activity-limitation", "medication-use"}


def test_the_front_desk_gets_no_clinical_resource(desk, history):
    kinds = {res.get_resource_type() for res in validated(everything(desk, history.patient))}
    assert kinds == {"Patient", "Practitioner", "Appointment"}
    assert not kinds & CLINICAL


def test_another_clinics_patient_is_not_found(other_ehr, history):
    body = outcome(other_ehr, f"Patient/{history.patient.external_id}/$everything", 404)
    assert body["issue"][0]["code"] == "not-found"


def test_a_user_of_two_clinics_sees_clinically_only_where_clinical(clinic, other_clinic, history):
    from .conftest import user_client

    person = staff(clinic, Role.FRONT_DESK, username="both")
    person.clinic_memberships.create(clinic=other_clinic, role=Role.COORDINATOR)
    client = user_client(person)
    assert not {r.get_resource_type() for r in validated(everything(client, history.patient))} & CLINICAL
    theirs = EpisodeFactory(patient=PatientFactory(clinic=other_clinic))
    assert "EpisodeOfCare" in {r.get_resource_type() for r in validated(everything(client, theirs.patient))}


def test_it_is_audited_as_a_read_naming_the_patient(ehr, history):
    everything(ehr, history.patient)
    event = AuditEvent.objects.filter(action="fhir.Patient.everything").get()
    assert event.patient_ids == [str(history.patient.external_id)] and event.status_code == 200


def test_pages_follow_next_links_and_count_is_capped(ehr, history, settings):
    settings.FHIR = {**settings.FHIR, "MAX_PAGE_SIZE": 3}
    body = everything(ehr, history.patient, _count=100)
    seen = [e["resource"]["id"] + e["resource"]["resourceType"] for e in body["entry"]]
    assert len(seen) == 3
    while (link := next((lk["url"] for lk in body["link"] if lk["relation"] == "next"), None)) is not None:
        response = ehr.get(link)
        assert response.status_code == 200
        body = response.json()
        validated(body)
        seen += [e["resource"]["id"] + e["resource"]["resourceType"] for e in body["entry"]]
    assert len(seen) == len(set(seen)) == body["total"] == 9


@pytest.mark.parametrize("params", [{"_page": "0"}, {"_count": "x"}, {"start": "2020-01-01"}])
def test_bad_or_unsupported_parameters_are_refused(ehr, history, params):
    assert outcome(ehr, f"Patient/{history.patient.external_id}/$everything", 400, **params)


def test_an_unknown_patient_is_not_found(ehr, db):
    outcome(ehr, "Patient/00000000-0000-0000-0000-000000000000/$everything", 404)


def test_queries_do_not_grow_with_the_patients_records(ehr, history, physician, django_assert_max_num_queries):
    ehr.get(BASE + f"Patient/{history.patient.external_id}/$everything")
    with django_assert_max_num_queries(8):
        everything(ehr, history.patient)
    # more episodes, in different stages (each with its transition history), other physicians, more entries
    for stage in ("trial", "implant", "trial_failed", "withdrawn"):
        episode = advance_to(EpisodeFactory(patient=history.patient, physician=staff(history.clinic, Role.PHYSICIAN)),
                             stage)
        PainEntryFactory(episode=episode, sleep_quality=3)
        AppointmentFactory(patient=history.patient, episode=episode)
    with django_assert_max_num_queries(8):
        body = everything(ehr, history.patient, _count=200)
    stages = {res.status for res in validated(body) if res.get_resource_type() == "EpisodeOfCare"}
    assert len(stages) >= 3 and body["total"] > 15
