"""appointments/: booking, rescheduling and the front desk's day (check-in, complete, cancel, no-show)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from pathway.models import Appointment
from tests.api.conftest import problem, queries_of
from tests.factories import AppointmentFactory, EpisodeFactory, PatientFactory

START = (timezone.now() + timedelta(days=5)).replace(microsecond=0)


def book(client, patient, **extra):
    body = {"patient": str(patient.external_id), "kind": "consultation", "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(minutes=30)).isoformat(), **extra}
    return client.post("/api/v1/appointments/", body, format="json")


def test_front_desk_books_and_checks_in(desk, patient):
    response = book(desk, patient, external_ref="SCHED-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "booked" and body["patient"] == str(patient.external_id)
    assert body["external_ref"] == "SCHED-1"
    checked = desk.post(f"/api/v1/appointments/{body['id']}/check-in/")
    assert checked.status_code == 200 and checked.json()["status"] == "arrived"
    done = desk.post(f"/api/v1/appointments/{body['id']}/complete/")
    assert done.json()["status"] == "fulfilled"
    body = problem(desk.post(f"/api/v1/appointments/{body['id']}/check-in/"), 409, "transition_refused")
    assert "status" in body["errors"] and body["stage"] == "fulfilled"


def test_external_ref_is_unique_per_clinic(desk, patient):
    assert book(desk, patient, external_ref="SCHED-9").status_code == 201
    later = (START + timedelta(days=1)).isoformat()
    body = problem(book(desk, patient, external_ref="SCHED-9", starts_at=later, ends_at=later[:11] + "23:59:00Z"),
                   409, "already_exists")
    assert "external_ref" in body["errors"]


def test_book_for_an_episode_of_the_patient(coord, patient, episode):
    response = book(coord, patient, episode=str(episode.external_id))
    assert response.status_code == 201 and response.json()["episode"] == str(episode.external_id)
    other = EpisodeFactory(patient=PatientFactory(clinic=patient.clinic))
    problem(book(coord, patient, episode=str(other.external_id)), 400)


def test_cancel_needs_a_reason(desk, patient):
    appointment = AppointmentFactory(patient=patient)
    url = f"/api/v1/appointments/{appointment.external_id}/cancel/"
    body = problem(desk.post(url, {}, format="json"), 400)
    assert "reason" in body["errors"]
    response = desk.post(url, {"reason": "patient called"}, format="json")
    assert response.json()["status"] == "cancelled" and response.json()["cancellation_reason"] == "patient called"


def test_no_show(desk, patient):
    appointment = AppointmentFactory(patient=patient)
    assert desk.post(f"/api/v1/appointments/{appointment.external_id}/no-show/").json()["status"] == "noshow"


def test_patch_with_a_new_start_reschedules_keeping_the_length(desk, patient):
    appointment = AppointmentFactory(patient=patient, starts_at=START, ends_at=START + timedelta(minutes=45))
    appointment.confirmed_at = timezone.now()
    appointment.save()
    later = START + timedelta(days=1)
    response = desk.patch(f"/api/v1/appointments/{appointment.external_id}/", {"starts_at": later.isoformat()},
                          format="json")
    assert response.status_code == 200, response.content
    appointment.refresh_from_db()
    assert appointment.starts_at == later and appointment.ends_at == later + timedelta(minutes=45)
    assert appointment.confirmed_at is None  # the patient confirms the new time afresh


@pytest.mark.parametrize("field, value", [("kind", "imaging"), ("status", "fulfilled"), ("patient", "x"),
                                          ("clinic", "south"), ("created_at", "2026-01-01T00:00:00Z")])
def test_patch_of_other_fields_is_refused(desk, patient, field, value):
    appointment = AppointmentFactory(patient=patient)
    body = problem(desk.patch(f"/api/v1/appointments/{appointment.external_id}/", {field: value}, format="json"),
                   400)
    assert body["errors"] == {field: ["This field cannot be set."]}


def test_filters(desk, patient, clinic):
    soon = AppointmentFactory(patient=patient, kind="imaging", starts_at=START)
    later = AppointmentFactory(patient=PatientFactory(clinic=clinic), starts_at=START + timedelta(days=10))

    def ids(query):
        response = desk.get("/api/v1/appointments/" + query)
        assert response.status_code == 200, response.content
        return {a["id"] for a in response.json()["results"]}

    cut = (START + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"?start_before={cut}") == {str(soon.external_id)}
    assert ids(f"?start_after={cut}") == {str(later.external_id)}
    assert ids("?kind=imaging") == {str(soon.external_id)}
    assert ids(f"?patient={patient.external_id}") == {str(soon.external_id)}
    assert ids("?status=booked") == {str(soon.external_id), str(later.external_id)}


def test_another_clinics_appointment_is_not_found(desk, other_clinic):
    stranger = AppointmentFactory(patient=PatientFactory(clinic=other_clinic))
    problem(desk.get(f"/api/v1/appointments/{stranger.external_id}/"), 404)
    problem(desk.post(f"/api/v1/appointments/{stranger.external_id}/check-in/"), 404)
    assert problem(book(desk, stranger.patient), 404, "not_found")["errors"] == {"patient": ["No such patient."]}
    assert Appointment.objects.filter(clinic=other_clinic).count() == 1


@pytest.mark.parametrize("who", ["desk", "coord"])
def test_listing_50_costs_the_same_queries_as_listing_1(request, who, clinic, django_assert_num_queries):
    client = request.getfixturevalue(who)
    AppointmentFactory(patient=PatientFactory(clinic=clinic), episode=None)
    client.get("/api/v1/appointments/")
    one = queries_of(lambda: client.get("/api/v1/appointments/"))
    for _ in range(49):
        patient = PatientFactory(clinic=clinic)
        AppointmentFactory(patient=patient, episode=EpisodeFactory(patient=patient))
    with django_assert_num_queries(one):
        assert len(client.get("/api/v1/appointments/").json()["results"]) == 50


@pytest.mark.parametrize("value", ["1856-03-12T00:20:28.758+20:44", "0001-01-01T00:00:00+23:00"])
def test_time_filters_take_any_offset(desk, value):
    from urllib.parse import quote

    for query in ("start_after", "start_before", "updated_since"):
        response = desk.get(f"/api/v1/appointments/?{query}={quote(value)}")
        assert response.status_code in (200, 400), response.content


def test_reminders_of_an_appointment_show_their_outcomes(desk, coord, patient):
    patient.sms_consent = True
    patient.save()
    appointment = problem_free_book(desk, patient)
    reminders = coord.get(f"/api/v1/appointments/{appointment}/reminders/")
    assert reminders.status_code == 200, reminders.content
    rows = reminders.json()
    assert {row["status"] for row in rows} == {"pending"} and len(rows) >= 2
    assert set(rows[0]) == {
        "id", "purpose", "channel", "status", "scheduled_for", "due_at", "appointment_starts_at", "attempts",
        "sent_at", "provider_message_id", "reason", "updated_at",
    }
    desk.post(f"/api/v1/appointments/{appointment}/cancel/", {"reason": "patient called"}, format="json")
    after = desk.get(f"/api/v1/appointments/{appointment}/reminders/").json()
    assert {row["status"] for row in after} == {"cancelled"}


def test_reminders_of_another_clinics_appointment_are_not_found(other_coord, patient):
    appointment = AppointmentFactory(patient=patient)
    problem(other_coord.get(f"/api/v1/appointments/{appointment.external_id}/reminders/"), 404)


def problem_free_book(client, patient) -> str:
    response = book(client, patient)
    assert response.status_code == 201, response.content
    return response.json()["id"]
