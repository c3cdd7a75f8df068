"""The scheduling system books, moves and cancels through FHIR: the v1 services, their rules and reminders,
conditional create by identifier, If-Match versions, and an OperationOutcome for every refusal."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment as FhirAppointment

from fhir_r4 import codes
from notifications.models import Reminder
from pathway.models import Appointment
from pathway.stages import Role

from .conftest import BASE, key_client

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def scheduler(clinic):
    return key_client(clinic, Role.FRONT_DESK)


def start_in(days: int) -> datetime:
    return (timezone.now() + timedelta(days=days)).astimezone(UTC).replace(hour=15, minute=0, second=0,
                                                                           microsecond=0)


def appointment_body(patient, start, *, kind="consultation", status="booked", episode=None, ref=None, **extra):
    body = {
        "resourceType": "Appointment",
        "status": status,
        "serviceType": [{"coding": [{"system": codes.code_system("appointment-kind"), "code": kind}]}],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "participant": [{"actor": {"reference": f"Patient/{patient.external_id}"}, "status": "accepted"}],
        **extra,
    }
    if episode is not None:
        body["extension"] = [{"url": codes.EPISODE_OF_CARE_EXTENSION,
                              "valueReference": {"reference": f"EpisodeOfCare/{episode.external_id}"}}]
    if ref:
        body["identifier"] = [{"system": codes.appointment_identifier_system(patient.clinic), "value": ref}]
    return body


def post(client, body, **headers):
    return client.post(BASE + "Appointment", body, format="json", **headers)


def put(client, appointment_id, body, **headers):
    return client.put(f"{BASE}Appointment/{appointment_id}", body, format="json", **headers)


def assert_outcome(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:600])
    assert response["Content-Type"] == FHIR_JSON
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    if code:
        assert body["issue"][0]["details"]["coding"][0]["code"] == code, body
    return body


def test_a_booking_is_made_with_its_reminders_and_answered_201_with_location_and_etag(scheduler, patient, episode):
    start = start_in(5)
    response = post(scheduler, appointment_body(patient, start, episode=episode, ref="PM-100"))
    assert response.status_code == 201, response.content
    resource = FhirAppointment.model_validate(response.json())
    appointment = Appointment.objects.get(external_id=resource.id)
    assert (appointment.patient, appointment.episode, appointment.kind) == (patient, episode, "consultation")
    assert (appointment.starts_at, appointment.external_ref) == (start, "PM-100")
    assert response["Location"].endswith(f"/fhir/r4/Appointment/{resource.id}")
    assert response["ETag"] == f'W/"{resource.meta.versionId}"'
    assert Reminder.objects.filter(appointment=appointment).exists()


def test_a_booking_is_audited_with_its_patient(scheduler, patient):
    from api.models import AuditEvent

    response = post(scheduler, appointment_body(patient, start_in(5)))
    event = AuditEvent.objects.first()
    assert (event.action, event.status_code, event.patient_ids) == ("fhir.Appointment.create", 201,
                                                                   [str(patient.external_id)])
    assert response.status_code == 201


def test_a_booking_sent_as_fhir_json_is_read_too(scheduler, patient):
    import json

    response = scheduler.post(BASE + "Appointment", json.dumps(appointment_body(patient, start_in(4))),
                              content_type=FHIR_JSON)
    assert response.status_code == 201, response.content


def test_if_none_exist_finds_the_first_booking_instead_of_making_a_second(scheduler, patient, clinic):
    body = appointment_body(patient, start_in(6), ref="PM-7")
    condition = f"identifier={codes.appointment_identifier_system(clinic)}|PM-7"
    first = post(scheduler, body, HTTP_IF_NONE_EXIST=condition)
    again = post(scheduler, body, HTTP_IF_NONE_EXIST=condition)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Appointment.objects.count() == 1


def test_if_none_exist_matching_several_is_412(scheduler, patient):
    for days in (3, 4):
        assert post(scheduler, appointment_body(patient, start_in(days))).status_code == 201
    response = post(scheduler, appointment_body(patient, start_in(8)),
                    HTTP_IF_NONE_EXIST=f"patient=Patient/{patient.external_id}")
    assert_outcome(response, 412, "precondition_failed")


def test_the_same_idempotency_key_replays_the_first_answer(scheduler, patient):
    body = appointment_body(patient, start_in(5))
    first = post(scheduler, body, HTTP_IDEMPOTENCY_KEY="book-1")
    again = post(scheduler, body, HTTP_IDEMPOTENCY_KEY="book-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Appointment.objects.count() == 1


def test_a_duplicate_booking_is_409_as_in_the_api(scheduler, patient):
    body = appointment_body(patient, start_in(5))
    assert post(scheduler, body).status_code == 201
    assert assert_outcome(post(scheduler, body), 409, "duplicate_booking")["issue"][0]["code"] == "conflict"


@pytest.mark.parametrize(("change", "field"), [
    ({"serviceType": [{"text": "Consultation"}]}, "serviceType"),
    ({"status": "arrived"}, "status"),
    ({"participant": [{"status": "accepted"}]}, "participant"),
    ({"start": "2030-01-15T15:00:00"}, "start"),
    ({"resourceType": "Patient"}, "resourceType"),
    ({"minutesDuration": "thirty"}, "minutesDuration"),
])
def test_a_booking_that_cannot_be_read_is_400_and_books_nothing(scheduler, patient, change, field):
    body = assert_outcome(post(scheduler, {**appointment_body(patient, start_in(5)), **change}), 400, "invalid")
    assert any(issue["diagnostics"].startswith(field) for issue in body["issue"]), body
    assert not Appointment.objects.exists()


def test_a_booking_for_another_clinics_patient_is_404(other_clinic, patient):
    other = key_client(other_clinic, Role.FRONT_DESK)
    assert_outcome(post(other, appointment_body(patient, start_in(5))), 404, "not_found")
    assert not Appointment.objects.exists()


def test_only_appointments_are_written(scheduler, patient):
    response = scheduler.post(BASE + "Patient", {"resourceType": "Patient"}, format="json")
    assert_outcome(response, 405)
    response = scheduler.put(f"{BASE}Patient/{patient.external_id}", {"resourceType": "Patient"}, format="json")
    assert_outcome(response, 405)


# --- updates ----------------------------------------------------------------------------------------


@pytest.fixture
def booked(scheduler, patient):
    response = post(scheduler, appointment_body(patient, start_in(5), ref="PM-5"))
    assert response.status_code == 201
    return response.json(), response["ETag"]


def test_moving_an_appointment_reschedules_it_and_its_reminders(scheduler, booked):
    resource, version = booked
    later = datetime.fromisoformat(resource["start"]) + timedelta(days=1)
    moved = {**resource, "start": later.isoformat(), "end": (later + timedelta(minutes=45)).isoformat()}
    response = put(scheduler, resource["id"], moved, HTTP_IF_MATCH=version)
    assert response.status_code == 200, response.content
    appointment = Appointment.objects.get(external_id=resource["id"])
    assert appointment.starts_at == later and appointment.ends_at == later + timedelta(minutes=45)
    assert response["ETag"] != version
    reminders = Reminder.objects.filter(appointment=appointment)
    assert reminders.filter(appointment_starts_at=later).exists()
    assert not reminders.exclude(appointment_starts_at=later).filter(status__in=["pending", "sending"]).exists()


def test_a_stale_if_match_is_412_and_changes_nothing(scheduler, booked):
    resource, version = booked
    arrived = {**resource, "status": "arrived"}
    assert put(scheduler, resource["id"], arrived, HTTP_IF_MATCH=version).status_code == 200
    fulfilled = {**resource, "status": "fulfilled"}
    assert_outcome(put(scheduler, resource["id"], fulfilled, HTTP_IF_MATCH=version), 412, "precondition_failed")
    assert Appointment.objects.get(external_id=resource["id"]).status == "arrived"


@pytest.mark.parametrize("status", ["arrived", "fulfilled", "noshow", "entered-in-error"])
def test_a_status_change_runs_the_service(scheduler, booked, status):
    resource, version = booked
    response = put(scheduler, resource["id"], {**resource, "status": status}, HTTP_IF_MATCH=version)
    assert response.status_code == 200, response.content
    assert Appointment.objects.get(external_id=resource["id"]).status == status


def test_cancelling_needs_a_reason_and_cancels_the_reminders(scheduler, booked):
    resource, _ = booked
    assert_outcome(put(scheduler, resource["id"], {**resource, "status": "cancelled"}), 400, "invalid")
    response = put(scheduler, resource["id"], {**resource, "status": "cancelled",
                                               "cancelationReason": {"text": "Patient ill"}})
    assert response.status_code == 200
    appointment = Appointment.objects.get(external_id=resource["id"])
    assert (appointment.status, appointment.cancellation_reason) == ("cancelled", "Patient ill")
    assert not appointment.reminders.exclude(status__in=["cancelled", "skipped"]).exists()


def test_a_finished_appointment_refuses_a_move_as_the_api_does(scheduler, booked):
    resource, _ = booked
    put(scheduler, resource["id"], {**resource, "status": "fulfilled"})
    later = datetime.fromisoformat(resource["start"]) + timedelta(days=1)
    response = put(scheduler, resource["id"], {**resource, "status": "fulfilled", "start": later.isoformat(),
                                               "end": (later + timedelta(minutes=30)).isoformat()})
    assert_outcome(response, 409, "transition_refused")


def test_the_kind_or_patient_cannot_change_on_a_booking(scheduler, booked, clinic):
    resource, _ = booked
    changed = {**resource, "serviceType": [{"coding": [{"system": codes.code_system("appointment-kind"),
                                                         "code": "imaging"}]}]}
    assert_outcome(put(scheduler, resource["id"], changed), 400, "invalid")
    assert Appointment.objects.get(external_id=resource["id"]).kind == "consultation"


def test_an_update_of_another_clinics_appointment_is_404(other_clinic, booked):
    resource, _ = booked
    other = key_client(other_clinic, Role.FRONT_DESK)
    assert_outcome(put(other, resource["id"], {**resource, "status": "arrived"}), 404, "not_found")


def test_a_read_carries_the_etag_an_update_checks(scheduler, booked):
    resource, version = booked
    response = scheduler.get(f"{BASE}Appointment/{resource['id']}")
    assert response["ETag"] == version
