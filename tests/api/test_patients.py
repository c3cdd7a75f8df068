"""patients/: the front desk registers and updates demographics, contacts and consents."""

import pytest

from api.models import ConsentChange
from pathway.models import Patient
from tests.api.conftest import problem, queries_of
from tests.factories import PatientFactory

NEW = {"mrn": "NEW-1", "given_name": "Grace", "family_name": "Hopper", "birth_date": "1956-12-09",
       "phone": "+15551230000", "email": "grace@example.org"}


def test_front_desk_registers_a_patient(desk, clinic):
    response = desk.post("/api/v1/patients/", NEW, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    patient = Patient.objects.get(external_id=body["id"])
    assert patient.clinic == clinic and body["family_name"] == "Hopper"


@pytest.mark.parametrize("field, value", [
    ("clinic", "south"), ("id", "00000000-0000-0000-0000-000000000001"), ("created_at", "2026-01-01T00:00:00Z"),
    ("sms_consent_at", "2026-01-01T00:00:00Z"), ("stage", "trial"), ("updated_at", "2026-01-01T00:00:00Z"),
])
def test_fields_not_the_callers_to_set_are_refused(desk, patient, field, value):
    body = problem(desk.post("/api/v1/patients/", {**NEW, field: value}, format="json"), 400, "invalid")
    assert body["errors"] == {field: ["This field cannot be set."]}
    body = problem(desk.patch(f"/api/v1/patients/{patient.external_id}/", {field: value}, format="json"), 400)
    assert field in body["errors"]


def test_invalid_fields_are_listed_each(desk):
    body = problem(desk.post("/api/v1/patients/", {**NEW, "phone": "555", "birth_date": "soon"}, format="json"), 400)
    assert set(body["errors"]) == {"birth_date", "phone"}  # the phone's pattern is in the schema too
    body = problem(desk.post("/api/v1/patients/", {**NEW, "phone": "555"}, format="json"), 400)
    assert set(body["errors"]) == {"phone"}


def test_duplicate_mrn_is_a_field_error(desk, patient):
    body = problem(desk.post("/api/v1/patients/", {**NEW, "mrn": patient.mrn}, format="json"), 409, "already_exists")
    assert "MRN" in " ".join(m for messages in body["errors"].values() for m in messages)


def test_consent_changes_are_recorded_with_when_and_by_whom(desk, coord, patient):
    url = f"/api/v1/patients/{patient.external_id}/"
    response = desk.patch(url, {"sms_consent": True, "sms_consent_method": "verbal"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["sms_consent"] is True and response.json()["sms_consent_at"]
    coord.patch(url, {"sms_consent": False}, format="json")
    coord.patch(url, {"sms_consent": False, "phone": "+15559990000"}, format="json")  # no change: no row

    changes = list(ConsentChange.objects.filter(patient=patient))
    assert [(c.consent, c.given, c.method) for c in changes] == [("sms", True, "verbal"), ("sms", False, "")]
    assert changes[0].actor_api_key_id == desk.api_key.pk and changes[0].actor_label.startswith("API key")
    assert changes[1].actor_user == coord.user
    listed = desk.get(url + "consent-changes/").json()
    assert [(c["given"], c["by"]) for c in listed] == [(True, changes[0].actor_label), (False, "coord")]


def test_filters(desk, clinic):
    PatientFactory(clinic=clinic, given_name="Marie", family_name="Curie", mrn="A-1", birth_date="1967-11-07")
    PatientFactory(clinic=clinic, given_name="Pierre", family_name="Curie", mrn="A-2")
    PatientFactory(clinic=clinic, given_name="Lise", family_name="Meitner", mrn="A-3")

    def mrns(query):
        response = desk.get("/api/v1/patients/" + query)
        assert response.status_code == 200, response.content
        return sorted(p["mrn"] for p in response.json()["results"])

    assert mrns("?search=curie") == ["A-1", "A-2"]
    assert mrns("?search=marie+curie") == ["A-1"]
    assert mrns("?mrn=A-3") == ["A-3"]
    assert mrns("?birth_date=1967-11-07") == ["A-1"]
    assert mrns("?updated_since=2999-01-01T00:00:00Z") == []
    problem(desk.get("/api/v1/patients/?birth_date=never"), 400, "invalid")


def test_another_clinics_patient_is_not_found(desk, other_clinic):
    stranger = PatientFactory(clinic=other_clinic)
    problem(desk.get(f"/api/v1/patients/{stranger.external_id}/"), 404, "not_found")
    problem(desk.patch(f"/api/v1/patients/{stranger.external_id}/", {"phone": "+15550001111"}, format="json"), 404)
    assert desk.get("/api/v1/patients/").json()["results"] == []


def test_put_is_not_offered(desk, patient):
    problem(desk.put(f"/api/v1/patients/{patient.external_id}/", NEW, format="json"), 405)


@pytest.mark.parametrize("who", ["desk", "coord"])
def test_listing_50_costs_the_same_queries_as_listing_1(request, who, clinic, django_assert_num_queries):
    client = request.getfixturevalue(who)
    PatientFactory(clinic=clinic)
    client.get("/api/v1/patients/")  # the key's last use is written once a minute: not part of the count
    one = queries_of(lambda: client.get("/api/v1/patients/"))
    assert one <= 8  # caller (key, or session + user + roles), page, audit row; a session write for people
    PatientFactory.create_batch(49, clinic=clinic)
    with django_assert_num_queries(one):
        assert len(client.get("/api/v1/patients/").json()["results"]) == 50


# --- Search in the body -----------------------------------------------------------------------------


def test_a_search_in_the_body_finds_by_mrn_name_or_birth_date_and_is_audited(desk, clinic):
    from api.models import AuditEvent

    wanted = PatientFactory(clinic=clinic, mrn="FIND-ME-1", family_name="Quillfeather", birth_date="1971-04-02")
    PatientFactory(clinic=clinic, mrn="OTHER-2", family_name="Other")
    for criteria in ({"mrn": "FIND-ME-1"}, {"search": "quillfeather"}, {"birth_date": "1971-04-02"}):
        response = desk.post("/api/v1/patients/search/", criteria, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert [p["id"] for p in body["results"]] == [str(wanted.external_id)] and body["truncated"] is False
    audited = AuditEvent.objects.filter(action="patients.search")
    assert audited.count() == 3 and all(row.patient_ids == [str(wanted.external_id)] for row in audited)
    assert all("FIND-ME" not in row.path for row in audited)


def test_a_search_needs_a_criterion_and_sees_only_the_callers_clinic(desk, clinic, other_clinic):
    problem(desk.post("/api/v1/patients/search/", {}, format="json"), 400)
    problem(desk.post("/api/v1/patients/search/", {"mrn": 7}, format="json"), 400)
    PatientFactory(clinic=other_clinic, mrn="ELSEWHERE-1")
    assert desk.post("/api/v1/patients/search/", {"mrn": "ELSEWHERE-1"}, format="json").json()["results"] == []
