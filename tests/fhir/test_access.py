"""Scoped as the API is: another clinic's resource is 404, the front desk's clinical one 403, each as an
OperationOutcome; every read names its patients in the audit trail; a page's queries do not grow with it."""

import pytest
from rest_framework.test import APIClient

from api.models import AuditEvent
from fhir_r4 import codes
from pathway.stages import Role
from tests.factories import AppointmentFactory, EpisodeFactory, PainEntryFactory, PatientFactory, staff

from .conftest import BASE, fhir_get, key_client, outcome, user_client

CLINICAL = ("EpisodeOfCare", "Condition", "Observation")


@pytest.fixture
def records(episode):
    entry = PainEntryFactory(episode=episode, nrs=6)
    appointment = AppointmentFactory(patient=episode.patient, episode=episode)
    return {
        "Patient": str(episode.patient.external_id),
        "Practitioner": codes.practitioner_id(episode.physician),
        "EpisodeOfCare": str(episode.external_id),
        "Condition": str(episode.external_id),
        "Observation": str(entry.external_id),
        "Appointment": str(appointment.external_id),
    }


@pytest.mark.parametrize("resource_type", ["Patient", "Practitioner", *CLINICAL, "Appointment"])
def test_another_clinics_resource_is_not_found(other_ehr, records, resource_type):
    body = outcome(other_ehr, f"{resource_type}/{records[resource_type]}", 404)
    assert body["issue"][0]["code"] == "not-found"
    assert fhir_get(other_ehr, resource_type)["total"] == 0


@pytest.mark.parametrize("resource_type", CLINICAL)
def test_the_front_desk_sees_no_clinical_resource(desk, records, resource_type):
    assert outcome(desk, f"{resource_type}/{records[resource_type]}", 403)["issue"][0]["code"] == "forbidden"
    assert outcome(desk, resource_type, 403)["issue"][0]["code"] == "forbidden"


@pytest.mark.parametrize("resource_type", ["Patient", "Practitioner", "Appointment"])
def test_the_front_desk_reads_demographics_and_bookings(desk, records, resource_type):
    assert fhir_get(desk, f"{resource_type}/{records[resource_type]}")["id"] == records[resource_type]
    assert fhir_get(desk, resource_type)["total"] == 1


def test_a_front_desk_user_of_one_clinic_coordinating_another_sees_only_the_other_clinically(
        clinic, other_clinic, records):
    person = staff(clinic, Role.FRONT_DESK, username="both")
    person.clinic_memberships.create(clinic=other_clinic, role=Role.COORDINATOR)
    theirs = EpisodeFactory(patient=PatientFactory(clinic=other_clinic))
    client = user_client(person)
    assert {e["resource"]["id"] for e in fhir_get(client, "EpisodeOfCare")["entry"]} == {str(theirs.external_id)}
    outcome(client, f"EpisodeOfCare/{records['EpisodeOfCare']}", 403)


def test_an_unknown_key_or_none_is_401(db, records):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")
    response = client.get(BASE + "Patient")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert response.json()["issue"][0]["code"] == "login"
    outcome(APIClient(), "Patient", 401)


def test_the_key_is_taken_as_bearer_or_api_key_and_a_session_works(clinic, coordinator, records):
    for client in (key_client(clinic, Role.COORDINATOR, "Bearer"), key_client(clinic, Role.COORDINATOR, "Api-Key"),
                   user_client(coordinator)):
        assert fhir_get(client, f"Patient/{records['Patient']}")["id"] == records["Patient"]


def test_reads_and_searches_are_audited_with_their_patients(ehr, records, episode):
    fhir_get(ehr, f"Observation/{records['Observation']}")
    event = AuditEvent.objects.first()
    assert (event.action, event.status_code, event.patient_ids) == ("fhir.Observation.read", 200,
                                                                   [records["Patient"]])
    assert event.actor_api_key == ehr.api_key
    fhir_get(ehr, "Appointment", _include="Appointment:patient")
    event = AuditEvent.objects.first()
    assert (event.action, event.patient_ids) == ("fhir.Appointment.search", [records["Patient"]])


def test_a_refusal_is_audited_too(desk, records):
    outcome(desk, f"Condition/{records['Condition']}", 403)
    event = AuditEvent.objects.first()
    assert event.status_code == 403 and event.path.startswith("/fhir/r4/Condition/")


# One key lookup, the clinics, the total, the page (and the episodes' history, or the included patients),
# the audit row: the same for a page of 1 as for a page of 20.
@pytest.mark.parametrize(("resource_type", "params", "queries"), [
    ("Patient", {}, 4),
    ("Practitioner", {}, 3),  # no patient named, no audit row
    ("EpisodeOfCare", {"_include": "EpisodeOfCare:patient"}, 6),
    ("Condition", {}, 4),
    ("Observation", {}, 4),
    ("Appointment", {"_include": "Appointment:patient"}, 5),
])
def test_a_search_page_costs_the_same_queries_whatever_its_size(
        ehr, clinic, physician, django_assert_num_queries, resource_type, params, queries):
    def add(n):
        for _ in range(n):
            episode = EpisodeFactory(patient=PatientFactory(clinic=clinic, primary_physician=physician),
                                     physician=physician)
            PainEntryFactory(episode=episode, sleep_quality=4)
            AppointmentFactory(patient=episode.patient, episode=episode)

    add(1)
    ehr.get(BASE + resource_type, params)  # last use, address: written once; the key: kept
    with django_assert_num_queries(queries):
        assert ehr.get(BASE + resource_type, params).status_code == 200
    add(19)
    for _ in range(19):
        staff(clinic, Role.PHYSICIAN)
    with django_assert_num_queries(queries):
        body = ehr.get(BASE + resource_type, {**params, "_count": 50}).json()
    assert body["total"] >= 20
