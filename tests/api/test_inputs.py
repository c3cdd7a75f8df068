"""Every input gets a clear answer: what used to be a 500 is a 400 (or a 409 when the object's state refuses
it) that names what is wrong, and nothing is stored."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from api.models import IdempotencyRecord
from notifications.models import Reminder
from pathway import services
from pathway.actors import Actor
from pathway.models import Appointment, ChecklistItem, PainEntry, Patient
from tests.api.conftest import problem
from tests.factories import AppointmentFactory, EpisodeFactory, PatientFactory

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
NEW_PATIENT = {"mrn": "IN-1", "given_name": "Grace", "family_name": "Hopper", "birth_date": "1950-12-09"}
NUL_MESSAGE = "NUL characters are not allowed."


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def booking(patient, **extra):
    start = NOW + timedelta(days=3)
    return {"patient": str(patient.external_id), "kind": "consultation", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(), **extra}


# --- NUL characters -------------------------------------------------------------------------------


def test_a_nul_in_the_authorization_header_is_400_before_authentication(client, db):
    response = client.get("/api/v1/patients/", HTTP_AUTHORIZATION="Api-Key abc\x00def")
    body = problem(response, 400, "nul_character")
    assert "header 'Authorization'" in body["detail"] and body["instance"].startswith("urn:request:")


def test_a_nul_in_primary_physician_is_400_naming_it(desk, physician):
    response = desk.post("/api/v1/patients/", {**NEW_PATIENT, "primary_physician": "doc\x00"}, format="json")
    assert problem(response, 400, "invalid")["errors"] == {"primary_physician": [NUL_MESSAGE]}
    assert not Patient.objects.filter(mrn="IN-1").exists()


def test_a_nul_in_the_caseloads_physician_is_400(coord):
    body = problem(coord.get("/api/v1/caseload/?physician=doc%00"), 400, "nul_character")
    assert "query parameter 'physician'" in body["detail"]


def test_a_nul_in_checklist_details_is_400_naming_the_path(doc, episode):
    response = doc.post(f"/api/v1/episodes/{episode.external_id}/checklist/",
                        {"kind": "prior_treatments", "status": "met", "details": {"tried": ["medications\x00"]}},
                        format="json")
    assert problem(response, 400, "invalid")["errors"] == {"details.tried.0": [NUL_MESSAGE]}
    assert ChecklistItem.objects.get(episode=episode, kind="prior_treatments").status == "pending"


def test_a_nul_in_a_key_of_the_body_is_400(desk):
    problem(desk.post("/api/v1/patients/", {**NEW_PATIENT, "x\x00": 1}, format="json"), 400, "invalid")


# --- Nesting --------------------------------------------------------------------------------------

DEEP = "[" * 3000 + "]" * 3000
WRITES = [
    ("post", "/api/v1/patients/"), ("patch", "/api/v1/patients/{patient}/"), ("post", "/api/v1/episodes/"),
    ("post", "/api/v1/episodes/{episode}/transitions/"), ("post", "/api/v1/episodes/{episode}/hold/"),
    ("post", "/api/v1/episodes/{episode}/release/"), ("post", "/api/v1/episodes/{episode}/checklist/"),
    ("post", "/api/v1/episodes/{episode}/pain-entries/"), ("post", "/api/v1/appointments/"),
    ("patch", "/api/v1/appointments/{appointment}/"), ("post", "/api/v1/appointments/{appointment}/cancel/"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("body", [DEEP, '{"a": ' * 3000 + "1" + "}" * 3000], ids=["arrays", "objects"])
def test_json_nested_3000_deep_is_400_on_every_write(coord, episode, method, path, body):
    appointment = AppointmentFactory(patient=episode.patient)
    url = path.format(patient=episode.patient.external_id, episode=episode.external_id,
                      appointment=appointment.external_id)
    response = getattr(coord, method)(url, body, content_type="application/json")
    assert "deeper than 32 levels" in problem(response, 400, "malformed_body")["detail"]
    assert not IdempotencyRecord.objects.exists()


def test_json_at_the_depth_limit_is_parsed(doc, episode):
    details = {"tried": ["medications"], "notes": json.loads("[" * 29 + "]" * 29)}
    response = doc.post(f"/api/v1/episodes/{episode.external_id}/checklist/",
                        {"kind": "prior_treatments", "status": "met", "details": details}, format="json")
    assert response.status_code == 200, response.content


def test_brackets_inside_strings_do_not_count_as_nesting(desk):
    response = desk.post("/api/v1/patients/", {**NEW_PATIENT, "given_name": "[" * 90}, format="json")
    assert response.status_code == 201, response.content


# --- Dates at the calendar's edges ----------------------------------------------------------------

EDGES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z", "2201-01-01T00:00:00Z",
         "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("edge", EDGES)
def test_booking_at_the_calendars_edge_is_400_and_books_nothing(desk, patient, edge):
    response = desk.post("/api/v1/appointments/", booking(patient, starts_at=edge), format="json")
    assert list(problem(response, 400, "invalid")["errors"]) == ["starts_at"]
    assert not Appointment.objects.exists() and not Reminder.objects.exists()


@pytest.mark.parametrize("edge", EDGES)
def test_rescheduling_to_the_calendars_edge_is_400_and_changes_nothing(desk, patient, edge):
    appointment = AppointmentFactory(patient=patient)
    before = appointment.starts_at
    response = desk.patch(f"/api/v1/appointments/{appointment.external_id}/", {"starts_at": edge}, format="json")
    assert list(problem(response, 400, "invalid")["errors"]) == ["starts_at"]
    appointment.refresh_from_db()
    assert appointment.starts_at == before


@pytest.mark.parametrize("edge", ["1900-01-01T00:00:00Z", "2200-12-31T00:00:00Z"])
def test_the_windows_own_edges_are_accepted(desk, patient, edge):
    start = datetime.fromisoformat(edge)
    body = booking(patient, starts_at=edge, ends_at=(start + timedelta(minutes=30)).isoformat())
    assert desk.post("/api/v1/appointments/", body, format="json").status_code == 201


def test_a_birth_date_outside_the_window_is_400(desk):
    response = desk.post("/api/v1/patients/", {**NEW_PATIENT, "birth_date": "0001-01-01"}, format="json")
    assert list(problem(response, 400)["errors"]) == ["birth_date"]


# --- Types the schema forbids ---------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("nrs", "7"), ("nrs", True), ("nrs", 7.0), ("phase", 1),
                                              ("sleep_quality", "3")])
def test_a_value_of_another_json_type_is_400_and_stores_nothing(doc, episode, field, value):
    body = {"nrs": 7, "phase": "baseline", field: value}
    response = doc.post(f"/api/v1/episodes/{episode.external_id}/pain-entries/", body, format="json")
    assert list(problem(response, 400, "invalid")["errors"]) == [field]
    assert not PainEntry.objects.exists()


@pytest.mark.parametrize("body", [{"sms_consent": "true"}, {"given_name": 7}, {"primary_physician": ["doc"]}])
def test_patient_fields_are_not_coerced(desk, patient, body):
    problem(desk.patch(f"/api/v1/patients/{patient.external_id}/", body, format="json"), 400, "invalid")


TYPED_FILTERS = [
    ("patients", "updated_since"), ("patients", "birth_date"), ("episodes", "updated_since"),
    ("episodes", "stage"), ("episodes", "on_hold"), ("episodes", "stalled"), ("episodes", "patient"),
    ("appointments", "updated_since"), ("appointments", "status"), ("appointments", "kind"),
    ("appointments", "patient"), ("appointments", "start_after"), ("appointments", "start_before"),
]


@pytest.mark.parametrize(("resource", "parameter"), TYPED_FILTERS)
def test_an_empty_typed_filter_is_400(coord, resource, parameter):
    body = problem(coord.get(f"/api/v1/{resource}/?{parameter}="), 400, "invalid")
    assert body["errors"] == {parameter: ["Give a value, or leave the parameter out."]}


def test_an_empty_text_filter_still_means_no_filter(coord, patient):
    assert len(coord.get("/api/v1/patients/?search=&mrn=").json()["results"]) == 1


def test_a_page_number_query_with_null_page_size_is_400(desk):
    problem(desk.get("/api/v1/appointments/?page_size=null"), 400, "invalid")


# --- Refusals that depend on the object's state: 409 ----------------------------------------------


def test_rescheduling_a_completed_appointment_is_409_with_its_status(desk, patient):
    appointment = AppointmentFactory(patient=patient, status="fulfilled")
    start = NOW + timedelta(days=9)
    response = desk.patch(f"/api/v1/appointments/{appointment.external_id}/", {"starts_at": start.isoformat()},
                          format="json")
    body = problem(response, 409, "transition_refused")
    assert body["stage"] == "fulfilled" and body["allowed_transitions"] == []
    assert body["unmet"] == ["A completed appointment cannot be rescheduled."]


def test_a_hold_on_a_closed_episode_is_409(coord, patient, physician):
    closed = EpisodeFactory(patient=patient, physician=physician, stage="withdrawn")
    body = problem(coord.post(f"/api/v1/episodes/{closed.external_id}/hold/", {"reason": "appeal"}, format="json"),
                   409, "transition_refused")
    assert body["stage"] == "withdrawn"


def test_a_pain_phase_the_stage_does_not_take_is_409(doc, episode):
    response = doc.post(f"/api/v1/episodes/{episode.external_id}/pain-entries/", {"nrs": 4, "phase": "trial"},
                        format="json")
    assert problem(response, 409, "transition_refused")["stage"] == "evaluation"
    assert not PainEntry.objects.exists()


def test_state_refusals_are_documented_as_409_on_their_operations(coord):
    paths = coord.get("/api/schema/?format=json").json()["paths"]
    assert "409" in paths["/api/v1/appointments/{id}/"]["patch"]["responses"]
    for operation in ("hold", "checklist", "pain-entries"):
        assert "409" in paths[f"/api/v1/episodes/{{id}}/{operation}/"]["post"]["responses"]
    for path in paths.values():
        for operation in path.values():
            assert {"400", "500"} <= set(operation["responses"])


# --- Booking twice --------------------------------------------------------------------------------


def test_a_booking_sent_twice_without_a_key_books_once_with_one_set_of_reminders(desk, patient):
    first = desk.post("/api/v1/appointments/", booking(patient), format="json")
    assert first.status_code == 201
    reminders = Reminder.objects.count()
    second = desk.post("/api/v1/appointments/", booking(patient), format="json")
    assert problem(second, 409, "duplicate_booking")["appointment"] == first.json()["id"]
    assert Appointment.objects.count() == 1 and Reminder.objects.count() == reminders


def test_another_kind_or_time_or_a_cancelled_first_is_a_new_booking(desk, patient):
    first = desk.post("/api/v1/appointments/", booking(patient), format="json").json()
    assert desk.post("/api/v1/appointments/", booking(patient, kind="imaging"), format="json").status_code == 201
    services.appointment_cancel(appointment=Appointment.objects.get(external_id=first["id"]),
                                actor=Actor.for_api_key(desk.api_key), reason="patient called")
    assert desk.post("/api/v1/appointments/", booking(patient), format="json").status_code == 201


# --- The unexpected -------------------------------------------------------------------------------


def test_an_unexpected_exception_is_problem_json_with_the_request_id_and_is_logged_without_phi(
    desk, patient, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError(f"patient {patient.mrn} broke it")

    monkeypatch.setattr("pathway.selectors.board_counts", broken)
    response = desk.get("/api/v1/board/", HTTP_X_REQUEST_ID="req-broken-1")
    body = problem(response, 500, "server_error")
    assert body["instance"] == "urn:request:req-broken-1" and "req-broken-1" in body["detail"]
    logged = [r for r in caplog.records if r.name == "api.errors"]
    assert logged and "RuntimeError" in logged[0].getMessage() and "req-broken-1" in logged[0].getMessage()
    assert patient.mrn not in caplog.text


def test_other_clinics_patients_stay_not_found_in_a_body(desk, other_clinic):
    stranger = PatientFactory(clinic=other_clinic)
    body = problem(desk.post("/api/v1/appointments/", booking(stranger), format="json"), 404, "not_found")
    assert body["errors"] == {"patient": ["No such patient."]}



def test_a_failure_outside_the_api_views_under_api_is_still_problem_json(db, rf):
    """Django's handler500 (config.urls) for a failure no API view caught, e.g. in a middleware."""
    from django.conf import settings
    from django.urls import get_resolver

    from api.health import server_error

    assert settings.ROOT_URLCONF == "config.urls" and get_resolver().resolve_error_handler(500) is server_error
    api = server_error(rf.get("/api/v1/board/"))
    assert api.status_code == 500 and api["Content-Type"] == "application/problem+json"
    assert json.loads(api.content)["code"] == "server_error"
    page = server_error(rf.get("/board/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
