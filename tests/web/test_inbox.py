"""The inbox: a patient's SMS that needs a person is read, answered with a clinic template and marked handled."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.http import QueryDict
from django.urls import reverse

from api.models import AuditEvent
from notifications import services as notification_services
from notifications.channels import sms
from notifications.models import InboundMessage, Reminder
from notifications.views import twilio_signature
from pathway.stages import Role
from tests.factories import ClinicFactory, PatientFactory, staff

from .conftest import signed_in

pytestmark = pytest.mark.django_db
CHICAGO = ZoneInfo("America/Chicago")
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=CHICAGO)
NIGHT = datetime(2026, 3, 2, 22, 30, tzinfo=CHICAGO)
WEBHOOK = "http://testserver/sms/inbound/"


@pytest.fixture(autouse=True)
def sms_settings(settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "SMS_BACKEND": "in-memory",
                              "TWILIO_AUTH_TOKEN": "test-auth-token", "TWILIO_WEBHOOK_URL": ""}
    sms.outbox.clear()
    yield settings.NOTIFICATIONS
    sms.outbox.clear()


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic, family_name="Texter", given_name="Tess", phone="+15557654321",
                          sms_consent=True, preferred_channel="sms")


def texts(client, body: str, *, sid: str = "SM0001", sender: str = "+15557654321"):
    """What Twilio does when a patient texts the clinic: a signed POST to the webhook."""
    data = {"MessageSid": sid, "From": sender, "To": "+15550100100", "Body": body, "AccountSid": "AC0"}
    params = QueryDict(mutable=True)
    params.update(data)
    response = client.post(reverse("notifications:sms-inbound"), data,
                           HTTP_X_TWILIO_SIGNATURE=twilio_signature(WEBHOOK, params, "test-auth-token"))
    assert response.status_code == 200
    return InboundMessage.objects.get(provider_message_id=sid)


def reply_form(message, template: str = "call_us", key: str = "6f1c1b0e-6d1e-4a57-9d0e-3c6a2d0b7a11") -> dict:
    prefix = f"reply-{message.external_id.hex[:12]}"
    return {f"{prefix}-template": template, f"{prefix}-request_key": key}


def handle_form(message, note: str) -> dict:
    return {f"handle-{message.external_id.hex[:12]}-note": note}


def send_due(now) -> list[str]:
    return [notification_services.reminder_send(reminder_id=c.reminder_id, claim=c.token)
            for c in notification_services.reminders_claim_due(now=now)]


@time_machine.travel(NOON, tick=False)
def test_a_message_needing_a_person_is_in_the_inbox_with_its_patient_and_the_nav_counts_it(
    client, coordinator_client, patient
):
    message = texts(client, "Can I come an hour later? My knee is worse")
    texts(client, "STOP", sid="SM0002")  # handled on arrival: not in the inbox
    page = coordinator_client.get("/inbox/").content.decode()
    assert "Texter, Tess" in page and f"/patients/{patient.external_id}/" in page
    assert "Can I come an hour later? My knee is worse" in page
    assert 'Inbox <span class="badge">1<span class="sr-label"> waiting</span>' in page
    assert f'id="message-{message.external_id}"' in page
    assert page.count('class="inbound"') == 1


@time_machine.travel(NOON, tick=False)
def test_marking_handled_records_who_when_and_what_and_takes_it_off_the_worklist(
    client, coordinator_client, coordinator, patient
):
    message = texts(client, "Can I come an hour later?")
    assert "Can I come an hour later?" in coordinator_client.get("/worklist/").content.decode()
    response = coordinator_client.post(f"/inbox/{message.external_id}/handled/",
                                       handle_form(message, "Called back, moved to 11:00"))
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    message.refresh_from_db()
    assert (message.handled_by, message.handled_by_label, message.handled_note) == (
        coordinator, "cora", "Called back, moved to 11:00")
    assert message.handled_at == NOON
    assert "Can I come an hour later?" not in coordinator_client.get("/worklist/").content.decode()
    inbox = coordinator_client.get("/inbox/").content.decode()
    assert 'class="inbound"' not in inbox and "No patient message is waiting." in inbox
    assert "Handled in the last 7 days" in inbox and "Called back, moved to 11:00" in inbox
    assert 'class="badge"' not in inbox


@time_machine.travel(NOON, tick=False)
def test_handling_needs_a_note_and_happens_once(client, coordinator_client, physician_client, patient):
    message = texts(client, "Question about my bill")
    response = coordinator_client.post(f"/inbox/{message.external_id}/handled/", handle_form(message, "  "))
    assert response.status_code == 422 and "This field is required." in response.content.decode()
    message.refresh_from_db()
    assert message.handled_at is None
    assert physician_client.post(f"/inbox/{message.external_id}/handled/",
                                 handle_form(message, "Passed to billing")).status_code == 302
    again = coordinator_client.post(f"/inbox/{message.external_id}/handled/", handle_form(message, "Me too"))
    assert again.status_code == 409  # a second tab, or a colleague a moment later
    assert "Already marked handled by drphys" in again.content.decode()
    message.refresh_from_db()
    assert message.handled_note == "Passed to billing"


def test_the_service_refuses_a_second_handling_as_a_conflict(client, patient, coordinator):
    from pathway.actors import Actor
    from pathway.errors import Conflict

    message = texts(client, "hello")
    notification_services.inbound_message_handle(message=message, actor=Actor.for_user(coordinator), note="ok")
    with pytest.raises(Conflict, match="Already marked handled by cora"):
        notification_services.inbound_message_handle(message=message, actor=Actor.for_user(coordinator),
                                                     note="again")


@time_machine.travel(NOON, tick=False)
def test_a_template_reply_is_queued_once_and_sent_once_naming_only_the_clinic(
    client, coordinator_client, coordinator, patient, clinic
):
    message = texts(client, "Can I come an hour later?")
    for _ in range(2):  # a double click: the same form twice
        response = coordinator_client.post(f"/inbox/{message.external_id}/reply/", reply_form(message))
        assert response.status_code == 302
    reply = Reminder.objects.get(reply_to=message)
    assert (reply.purpose, reply.channel, reply.status, reply.template) == ("reply", "sms", "pending", "call_us")
    assert (reply.patient, reply.requested_by, reply.scheduled_for) == (patient, coordinator, NOON)
    assert send_due(NOON) == ["sent"] and send_due(NOON) == []
    assert len(sms.outbox) == 1
    sent = sms.outbox[0]
    assert sent.to == patient.phone
    assert sent.text == f"{clinic.name}: please call us at {clinic.phone} about your message. Reply STOP to opt out."
    assert patient.family_name not in sent.text and patient.given_name not in sent.text
    assert "Reply “Please call us” · Sent" in coordinator_client.get("/inbox/").content.decode()


@time_machine.travel(NIGHT, tick=False)
def test_a_reply_asked_for_in_quiet_hours_goes_out_at_eight(client, coordinator_client, patient):
    message = texts(client, "Are you open tomorrow?")
    coordinator_client.post(f"/inbox/{message.external_id}/reply/", reply_form(message, "received"))
    reply = Reminder.objects.get(reply_to=message)
    assert reply.scheduled_for == datetime(2026, 3, 3, 8, 0, tzinfo=CHICAGO)
    assert send_due(NIGHT) == []


@time_machine.travel(NOON, tick=False)
def test_no_reply_without_sms_consent_or_to_an_unknown_number(client, coordinator_client, patient, clinic):
    message = texts(client, "Please stop texting my mother's phone", sid="SM0009")
    patient.sms_consent = False
    patient.save()
    response = coordinator_client.post(f"/inbox/{message.external_id}/reply/", reply_form(message))
    assert response.status_code == 422
    assert "no SMS consent on file" in response.content.decode()
    assert not Reminder.objects.filter(reply_to=message).exists()
    unknown = texts(client, "who is this?", sid="SM0010", sender="+15559999999")
    InboundMessage.objects.filter(pk=unknown.pk).update(clinic=clinic)  # e.g. narrowed by the number texted
    response = coordinator_client.post(f"/inbox/{unknown.external_id}/reply/", reply_form(unknown))
    assert response.status_code == 422 and "call them instead" in response.content.decode()


@time_machine.travel(NOON, tick=False)
def test_a_template_not_configured_is_refused(client, coordinator_client, patient):
    message = texts(client, "hello")
    response = coordinator_client.post(f"/inbox/{message.external_id}/reply/",
                                       reply_form(message, "free_text"))
    assert response.status_code == 422 and "Select a valid choice" in response.content.decode()
    assert not Reminder.objects.exists()


def test_templates_that_could_carry_patient_data_fail_the_system_check(settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "REPLY_TEMPLATES": {
        "bad": ["Hello", "Dear {given_name}, {clinic} here."]}}
    with pytest.raises(SystemCheckError, match=re.escape("may name only {clinic} and {phone}, not given_name")):
        call_command("check")


def test_another_clinics_message_is_not_found_and_front_desk_has_no_inbox(client, patient, front_desk):
    message = texts(client, "hello")
    other = ClinicFactory(slug="south")
    outsider = signed_in(staff(other, Role.COORDINATOR, username="stranger"))
    assert "hello" not in outsider.get("/inbox/").content.decode()
    assert outsider.post(f"/inbox/{message.external_id}/handled/", handle_form(message, "x")).status_code == 404
    assert outsider.post(f"/inbox/{message.external_id}/reply/", reply_form(message)).status_code == 404
    assert signed_in(front_desk).get("/inbox/").status_code == 403
    message.refresh_from_db()
    assert message.handled_at is None and not Reminder.objects.exists()


def test_reading_the_inbox_is_audited_with_the_patients_shown(client, coordinator_client, patient):
    texts(client, "hello")
    coordinator_client.get("/inbox/")
    event = AuditEvent.objects.filter(action="web.inbox").get()
    assert str(patient.external_id) in str(event.patient_ids)


def test_the_handled_time_is_stored_in_utc(client, coordinator_client, patient):
    with time_machine.travel(NOON, tick=False):
        message = texts(client, "hello")
        coordinator_client.post(f"/inbox/{message.external_id}/handled/", handle_form(message, "done"))
    message.refresh_from_db()
    assert message.handled_at == datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


@time_machine.travel(NOON, tick=False)
def test_a_reply_form_without_its_key_says_so_and_queues_nothing(client, coordinator_client, patient):
    message = texts(client, "hello")
    form = reply_form(message)
    form.pop(f"reply-{message.external_id.hex[:12]}-request_key")
    response = coordinator_client.post(f"/inbox/{message.external_id}/reply/", form)
    assert response.status_code == 422 and "the form was incomplete" in response.content.decode()
    assert not Reminder.objects.exists()
