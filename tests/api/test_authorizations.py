"""/api/v1/authorizations/: read by every staff role, written by coordinators and physicians, through the
services; the same conventions as the rest of v1 (problem+json, Idempotency-Key, audit, constant queries)."""

from datetime import timedelta

import pytest

from api.models import AuditEvent
from pathway.clinic_time import clinic_today
from pathway.models import AuthorizationStatusChange, PriorAuthorization
from tests.factories import EpisodeFactory, PatientFactory, PriorAuthorizationFactory

from .conftest import problem, queries_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/authorizations/"


@pytest.fixture
def bare(patient, physician):
    return EpisodeFactory(patient=patient, physician=physician, auth_payer="", auth_number="",
                          auth_valid_from=None, auth_valid_to=None, implant_authorization=False)


def create(client, episode, **fields):
    return client.post(URL, {"episode": str(episode.external_id), "step": "implant", **fields}, format="json")


def test_a_coordinator_records_and_approves_an_implant_authorization(coord, bare):
    created = create(coord, bare, payer="Example Mutual", status="submitted", notes="Faxed the trial report")
    assert created.status_code == 201, created.content
    body = created.json()
    today = clinic_today(bare.clinic)
    assert (body["step"], body["status"], body["submitted_on"], body["episode"], body["patient"]) == (
        "implant", "submitted", today.isoformat(), str(bare.external_id), str(bare.patient.external_id))
    assert [(h["from_status"], h["to_status"], h["by"]) for h in body["history"]] == [("", "submitted", "coord")]
    approved = coord.patch(f"{URL}{body['id']}/", {"status": "approved", "number": "IMP-1",
                                                   "valid_from": today.isoformat(),
                                                   "valid_to": (today + timedelta(days=90)).isoformat()},
                           format="json")
    assert approved.status_code == 200, approved.content
    assert [h["to_status"] for h in approved.json()["history"]] == ["submitted", "approved"]


def test_the_front_desk_reads_them_but_not_the_notes_and_may_not_write(desk, coord, bare):
    authorization = PriorAuthorizationFactory(episode=bare, notes="Payer asked for the psychology report")
    rows = desk.get(URL).json()["results"]
    assert [(r["id"], r["number"], r["notes"]) for r in rows] == [
        (str(authorization.external_id), authorization.number, None)]
    assert coord.get(f"{URL}{authorization.external_id}/").json()["notes"] == "Payer asked for the psychology report"
    problem(create(desk, bare, payer="Plan"), 403, "forbidden")
    problem(desk.patch(f"{URL}{authorization.external_id}/", {"status": "expired"}, format="json"), 403, "forbidden")
    assert PriorAuthorization.objects.get(pk=authorization.pk).status == "approved"


def test_another_clinics_authorization_is_not_found(other_coord, bare):
    authorization = PriorAuthorizationFactory(episode=bare)
    problem(other_coord.get(f"{URL}{authorization.external_id}/"), 404, "not_found")
    problem(other_coord.patch(f"{URL}{authorization.external_id}/", {"status": "expired"}, format="json"), 404)
    assert problem(create(other_coord, bare), 404)["errors"] == {"episode": ["No such episode."]}
    assert other_coord.get(URL).json()["results"] == []


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"stage": "trial"}, "stage", id="unknown-field"),
    pytest.param({"units": "3"}, "units", id="units-as-text"),
    pytest.param({"status": "approved"}, "number", id="approved-without-number"),
    pytest.param({"valid_from": "2026-12-02", "valid_to": "2026-12-01"}, "valid_to", id="ends-before-start"),
])
def test_bad_input_is_400_naming_the_field_and_writes_nothing(coord, bare, body, field):
    assert field in problem(create(coord, bare, **body), 400, "invalid")["errors"]
    assert not PriorAuthorization.objects.exists()


def test_a_move_the_status_does_not_lead_to_is_409_with_the_allowed_ones(coord, bare):
    authorization = PriorAuthorizationFactory(episode=bare, status="expired")
    body = problem(coord.patch(f"{URL}{authorization.external_id}/", {"status": "approved"}, format="json"), 409)
    assert body["allowed_transitions"] == [] and body["stage"] == "expired"
    draft = PriorAuthorizationFactory(episode=bare, status="draft")
    body = problem(coord.patch(f"{URL}{draft.external_id}/", {"status": "denied"}, format="json"), 409)
    assert body["allowed_transitions"] == ["submitted"]


def test_a_retried_create_with_the_same_idempotency_key_records_one(coord, bare):
    first = coord.post(URL, {"episode": str(bare.external_id), "step": "trial"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="auth-create-1")
    again = coord.post(URL, {"episode": str(bare.external_id), "step": "trial"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="auth-create-1")
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
    assert again.json() == first.json()
    assert PriorAuthorization.objects.count() == 1 and AuthorizationStatusChange.objects.count() == 1


def test_reads_and_writes_are_audited_with_the_patient(coord, bare):
    created = create(coord, bare).json()
    coord.get(f"{URL}{created['id']}/")
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "patient_ids", "status_code"))
    patient = [str(bare.patient.external_id)]
    assert rows == [("authorizations.create", patient, 201), ("authorizations.retrieve", patient, 200)]


def test_filters_by_episode_step_and_status(desk, bare, clinic, physician):
    wanted = PriorAuthorizationFactory(episode=bare, step="implant", status="submitted")
    PriorAuthorizationFactory(episode=bare, step="trial")
    PriorAuthorizationFactory(episode=EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician),
                              step="implant", status="submitted")
    rows = desk.get(URL, {"episode": str(bare.external_id), "step": "implant", "status": "submitted"}).json()
    assert [r["id"] for r in rows["results"]] == [str(wanted.external_id)]
    problem(desk.get(URL, {"status": "granted"}), 400)


@pytest.mark.parametrize("who", ["desk", "coord"])
def test_listing_50_costs_the_same_queries_as_listing_1(request, who, clinic, physician, django_assert_num_queries):
    client = request.getfixturevalue(who)
    EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician, implant_authorization=False)
    client.get(URL)
    one = queries_of(lambda: client.get(URL))
    for _ in range(49):
        EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician, implant_authorization=False)
    with django_assert_num_queries(one):
        assert len(client.get(URL).json()["results"]) == 50


def test_the_deprecated_episode_fields_read_the_approved_trial_authorization(coord, desk, episode):
    trial = PriorAuthorization.objects.get(episode=episode, step="trial")
    clinical = coord.get(f"/api/v1/episodes/{episode.external_id}/").json()["clinical"]
    assert (clinical["auth_payer"], clinical["auth_number"], clinical["auth_valid_to"]) == (
        trial.payer, trial.number, trial.valid_to.isoformat())
    assert desk.get(f"/api/v1/episodes/{episode.external_id}/").json()["clinical"] is None


def test_the_deprecated_fields_on_episode_create_still_record_the_trial_authorization(coord, patient, physician):
    created = coord.post("/api/v1/episodes/", {
        "patient": str(patient.external_id), "physician": "doc", "auth_payer": "Plan", "auth_number": "A-1",
        "auth_valid_from": "2026-01-01", "auth_valid_to": "2026-03-01"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["clinical"]["auth_number"] == "A-1"
    listed = coord.get(URL, {"episode": created.json()["id"]}).json()["results"]
    assert [(r["step"], r["status"], r["number"]) for r in listed] == [("trial", "approved", "A-1")]
