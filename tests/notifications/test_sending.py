"""The sweep and the send: once, on time, never late, retried only when the provider may take it next time."""

import threading
import uuid
from datetime import timedelta

import psycopg
import pytest
import responses
import time_machine
from django.utils import timezone

from notifications import services
from notifications.channels import PermanentSendError, SendResult, TransientSendError, UnknownOutcomeError
from notifications.channels import sms as sms_channel
from notifications.models import Reminder, ReminderStatus
from pathway import services as pathway_services
from pathway.stages import AppointmentKind

from .helpers import book, chicago, send_due, utc

pytestmark = pytest.mark.django_db

APPOINTMENT = chicago(2026, 3, 12, 10, 0)
REMINDER_24H = chicago(2026, 3, 11, 10, 0)


@pytest.fixture
def appointment(patient, front_desk):
    with time_machine.travel(utc(2026, 3, 1, 12), tick=False):
        return book(patient, front_desk, AppointmentKind.IMPLANT_SURGERY, APPOINTMENT)


def reminder(appointment, purpose="appointment_24h") -> Reminder:
    return Reminder.objects.get(appointment=appointment, purpose=purpose, status__in=["pending", "sending", "sent",
                                                                                       "failed", "skipped"])


class FailingSMS:
    """A provider that fails the way the test says (the only test double of this module)."""

    errors: list = []
    sent: list = []

    def send(self, message):
        if FailingSMS.errors:
            raise FailingSMS.errors.pop(0)
        FailingSMS.sent.append(message)
        return SendResult("SMfake")


@pytest.fixture
def failing_sms(notification_settings):
    notification_settings["SMS_BACKEND"] = f"{__name__}.FailingSMS"
    FailingSMS.errors, FailingSMS.sent = [], []
    return FailingSMS


def test_nothing_is_sent_before_its_time(appointment):
    with time_machine.travel(chicago(2026, 3, 9, 9, 59), tick=False):
        assert send_due() == []
    assert {r.status for r in Reminder.objects.filter(appointment=appointment)} == {ReminderStatus.PENDING}
    with time_machine.travel(chicago(2026, 3, 9, 10, 0), tick=False):
        assert send_due() == ["sent"]
    assert reminder(appointment, "appointment_72h").status == ReminderStatus.SENT
    assert reminder(appointment).status == ReminderStatus.PENDING


def test_a_due_reminder_is_sent_once_and_its_message_id_kept(appointment):
    with time_machine.travel(REMINDER_24H + timedelta(seconds=30), tick=False):
        claims = services.reminders_claim_due()
        assert len(claims) == 1  # the 72 h reminder is long past: skipped, not sent late
        assert services.reminder_send(reminder_id=claims[0].reminder_id, claim=claims[0].token) == "sent"
        assert services.reminder_send(reminder_id=claims[0].reminder_id, claim=claims[0].token) == "not-claimed"
        assert services.reminders_claim_due() == []
    row = reminder(appointment)
    assert (row.status, row.attempts) == (ReminderStatus.SENT, 1)
    assert row.provider_message_id.startswith("memory-")
    assert len(sms_channel.outbox) == 1
    late = reminder(appointment, "appointment_72h")
    assert late.status == ReminderStatus.SKIPPED and late.reason.startswith("too late to send")


def test_a_concurrent_second_sweep_finds_nothing_to_claim(appointment):
    with time_machine.travel(REMINDER_24H, tick=False):
        first = services.reminders_claim_due()
        second = services.reminders_claim_due()
    assert len(first) == 1 and second == []


def test_the_sms_says_who_when_and_how_to_confirm_or_stop_and_nothing_clinical(appointment):
    with time_machine.travel(REMINDER_24H, tick=False):
        send_due()
    (message,) = sms_channel.outbox
    assert message.to == "+15557654321"
    assert message.text == (
        "North Pain Clinic: reminder of your appointment on Thu 12 Mar at 10:00 AM CDT. Reply C to confirm. "
        "To change it call +15550100100. Reply STOP to opt out."
    )
    without_clinic_name = message.text.replace("North Pain Clinic", "").lower()
    for clinical in ("implant", "surgery", "procedure", "pain", "drg", "crps", "trial", "stimulat", "nrs"):
        assert clinical not in without_clinic_name


def test_the_email_reminder_has_both_parts_and_nothing_clinical(clinic, front_desk, mailoutbox):
    from tests.factories import PatientFactory

    patient = PatientFactory(clinic=clinic, preferred_channel="email", email_consent=True, email="e@example.org")
    with time_machine.travel(utc(2026, 3, 1, 12), tick=False):
        book(patient, front_desk, AppointmentKind.IMPLANT_SURGERY, APPOINTMENT)
    with time_machine.travel(REMINDER_24H, tick=False):
        assert send_due() == ["sent"]
    (email,) = mailoutbox
    assert email.to == ["e@example.org"]
    assert "Thu 12 Mar at 10:00 AM CDT" in email.body and "+15550100100" in email.body
    html = email.alternatives[0][0]
    assert "Thu 12 Mar at 10:00 AM CDT" in html
    assert "implant" not in (email.body + html + email.subject).lower()


def test_nothing_is_sent_after_the_appointment_started(appointment):
    with time_machine.travel(APPOINTMENT + timedelta(seconds=1), tick=False):
        assert send_due() == []
    assert not sms_channel.outbox
    assert reminder(appointment, "appointment_2h").reason == "the appointment had started before it could be sent"


def test_far_past_due_is_skipped_with_a_reason(appointment, notification_settings):
    notification_settings["MAX_LATENESS_MINUTES"] = 30
    with time_machine.travel(REMINDER_24H + timedelta(minutes=31), tick=False):
        assert send_due() == []
    assert reminder(appointment).reason == "too late to send: 31 minutes past its time"


def test_a_cancellation_after_the_claim_stops_the_send(appointment, front_desk):
    with time_machine.travel(REMINDER_24H, tick=False):
        (claim,) = services.reminders_claim_due()
        # A claimed row whose send has not started is cancelled too; the send task then finds it is not its own.
        pathway_services.appointment_cancel(appointment=appointment, actor=front_desk, reason="patient unwell")
        assert services.reminder_send(reminder_id=claim.reminder_id, claim=claim.token) == "not-claimed"
    assert not sms_channel.outbox
    row = Reminder.objects.get(external_id=claim.reminder_id)
    assert (row.status, row.reason) == ("cancelled", "appointment cancelled")


def test_stop_after_the_claim_stops_the_send(appointment, patient):
    with time_machine.travel(REMINDER_24H, tick=False):
        (claim,) = services.reminders_claim_due()
        pathway_services.patient_revoke_sms_consent(patient=patient)
        assert services.reminder_send(reminder_id=claim.reminder_id, claim=claim.token) == "not-claimed"
    assert not sms_channel.outbox
    row = Reminder.objects.get(external_id=claim.reminder_id)
    assert (row.status, row.reason) == ("cancelled", "the patient replied STOP")


def test_consent_withdrawn_without_stop_is_checked_again_at_send(appointment, patient):
    from pathway.models import Patient

    with time_machine.travel(REMINDER_24H, tick=False):
        (claim,) = services.reminders_claim_due()
        Patient.objects.filter(pk=patient.pk).update(sms_consent=False)  # e.g. changed by staff meanwhile
        assert services.reminder_send(reminder_id=claim.reminder_id, claim=claim.token) == "cancelled"
    assert not sms_channel.outbox
    row = Reminder.objects.get(external_id=claim.reminder_id)
    assert (row.status, row.reason) == ("cancelled", "no SMS consent or phone number on file any more")


def test_nothing_goes_out_in_quiet_hours(appointment):
    row = reminder(appointment)
    Reminder.objects.filter(pk=row.pk).update(due_at=chicago(2026, 3, 11, 21, 30),
                                              scheduled_for=chicago(2026, 3, 11, 21, 30))
    with time_machine.travel(chicago(2026, 3, 11, 21, 30), tick=False):
        assert send_due() == ["skipped"]
    assert not sms_channel.outbox


def test_a_transient_failure_is_retried_after_a_backoff(appointment, failing_sms):
    failing_sms.errors = [TransientSendError("Twilio 20429: Too Many Requests")]
    with time_machine.travel(REMINDER_24H, tick=False):
        assert send_due() == ["pending"]
        row = reminder(appointment)
        assert (row.status, row.attempts, row.due_at) == ("pending", 1, REMINDER_24H + timedelta(seconds=60))
        assert row.reason == "attempt 1 failed, retrying in 60 s: Twilio 20429: Too Many Requests"
        assert send_due() == []  # not before its backoff
    with time_machine.travel(REMINDER_24H + timedelta(seconds=61), tick=False):
        assert send_due() == ["sent"]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.reason) == ("sent", 2, "")
    assert len(failing_sms.sent) == 1


def test_retries_are_bounded(appointment, failing_sms, notification_settings):
    notification_settings["MAX_ATTEMPTS"] = 3
    failing_sms.errors = [TransientSendError("Service Unavailable")] * 3
    moment = REMINDER_24H
    for _ in range(3):
        with time_machine.travel(moment, tick=False):
            send_due()
        moment += timedelta(minutes=16)
    row = reminder(appointment)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.reason == "gave up after 3 attempts: Service Unavailable"


@pytest.mark.parametrize("error", [
    PermanentSendError("Twilio 21610: Attempt to send to unsubscribed recipient"),
    UnknownOutcomeError("Twilio did not answer in time; the message may have been sent"),
])
def test_permanent_and_unknown_failures_are_failed_with_the_reason(appointment, failing_sms, error):
    failing_sms.errors = [error]
    with time_machine.travel(REMINDER_24H, tick=False):
        assert send_due() == ["failed"]
        assert send_due() == []
    row = reminder(appointment)
    assert (row.status, row.reason, row.attempts) == ("failed", error.reason, 1)


def test_an_expired_lease_that_never_started_is_claimed_again(appointment, notification_settings):
    with time_machine.travel(REMINDER_24H, tick=False):
        (lost,) = services.reminders_claim_due()  # its worker died before the send task ran
    later = REMINDER_24H + timedelta(seconds=notification_settings["LEASE_SECONDS"] + 1)
    with time_machine.travel(later, tick=False):
        (again,) = services.reminders_claim_due()
        assert again.reminder_id == lost.reminder_id and again.token != lost.token
        assert services.reminder_send(reminder_id=lost.reminder_id, claim=lost.token) == "not-claimed"
        assert services.reminder_send(reminder_id=again.reminder_id, claim=again.token) == "sent"
    assert len(sms_channel.outbox) == 1


def die_mid_send(appointment, notification_settings, *, delivered: bool):
    """Claim, stamp the send, maybe hand the message to the provider, then 'die' before recording it."""
    from notifications import messages

    with time_machine.travel(REMINDER_24H, tick=False):
        (claim,) = services.reminders_claim_due()
        Reminder.objects.filter(external_id=claim.reminder_id).update(send_started_at=timezone.now(), attempts=1)
        if delivered:
            sms_channel.InMemorySMSBackend().send(messages.build(reminder(appointment)))
    return REMINDER_24H + timedelta(seconds=notification_settings["LEASE_SECONDS"] + 1)


@pytest.mark.parametrize("delivered", [True, False])
def test_after_a_worker_died_mid_send_the_provider_is_asked_before_any_resend(
    appointment, notification_settings, delivered
):
    later = die_mid_send(appointment, notification_settings, delivered=delivered)
    with time_machine.travel(later, tick=False):
        assert send_due() == ["sent"]
        assert send_due() == []
    assert len(sms_channel.outbox) == 1  # delivered once, whether or not the dead worker's send got through
    row = reminder(appointment)
    assert row.provider_message_id == "memory-1" and row.attempts == 2


def test_after_a_worker_died_mid_send_a_provider_that_cannot_tell_is_not_tried_again(
    appointment, notification_settings, failing_sms
):
    later = die_mid_send(appointment, notification_settings, delivered=False)
    with time_machine.travel(later, tick=False):
        assert send_due() == ["failed"]
    row = reminder(appointment)
    assert row.status == "failed" and row.reason.startswith("outcome unknown")
    assert not failing_sms.sent


def test_a_release_after_a_broker_failure_hands_the_row_back(appointment):
    with time_machine.travel(REMINDER_24H, tick=False):
        (claim,) = services.reminders_claim_due()
        services.reminder_release_claim(claim=claim)
        assert [c.reminder_id for c in services.reminders_claim_due()] == [claim.reminder_id]


def test_the_sweep_task_enqueues_one_send_per_due_reminder(appointment, settings):
    from config.celery_app import app
    from notifications import tasks

    app.conf.task_always_eager = True
    try:
        with time_machine.travel(REMINDER_24H, tick=False):
            assert tasks.sweep() == 1
    finally:
        app.conf.task_always_eager = False
    assert reminder(appointment).status == "sent"
    assert len(sms_channel.outbox) == 1


# --- Outcomes that are unclear at first, and sends that outlast their lease -------------------------


@pytest.fixture
def twilio_standin(notification_settings):
    from .twilio_standin import TwilioStandIn

    with TwilioStandIn() as twilio:
        notification_settings["SMS_BACKEND"] = "twilio"
        notification_settings["TWILIO_API_BASE"] = twilio.base_url
        yield twilio


def test_a_connection_broken_after_the_request_is_resolved_by_asking_twilio_not_by_resending(
    appointment, twilio_standin
):
    twilio_standin.abort_next = 1  # Twilio creates the message, then the connection drops without an answer
    with time_machine.travel(REMINDER_24H, tick=False):
        assert send_due() == ["pending"]
        row = reminder(appointment)
        assert (row.status, row.send_started_at) == ("pending", REMINDER_24H)  # the marker stays
        assert row.reason.startswith("attempt 1 may have been sent; the provider is asked in 60 s")
    with time_machine.travel(REMINDER_24H + timedelta(seconds=61), tick=False):
        assert send_due() == ["sent"]
    (message,) = twilio_standin.messages
    assert twilio_standin.posts() == 1  # asked, not sent again
    row.refresh_from_db()
    assert (row.status, row.provider_message_id, row.attempts, row.reason) == ("sent", message["sid"], 2, "")


@responses.activate
def test_an_unclear_answer_for_a_message_twilio_never_created_is_sent_after_the_lookup(
    appointment, notification_settings
):
    notification_settings["SMS_BACKEND"] = "twilio"
    url = "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"
    responses.add(responses.POST, url, json={"code": 20502, "message": "Bad Gateway"}, status=502)
    responses.add(responses.GET, url, json={"messages": [], "next_page_uri": None})
    responses.add(responses.POST, url, json={"sid": "SMsecond"}, status=201)
    with time_machine.travel(REMINDER_24H, tick=False):
        assert send_due() == ["pending"]
    with time_machine.travel(REMINDER_24H + timedelta(seconds=61), tick=False):
        assert send_due() == ["sent"]
    assert [call.request.method for call in responses.calls] == ["POST", "GET", "POST"]
    row = reminder(appointment)
    assert (row.status, row.provider_message_id) == ("sent", "SMsecond")


def test_an_unclear_outcome_that_stays_unclear_gives_up_saying_it_may_have_been_sent(
    appointment, notification_settings, twilio_standin
):
    notification_settings["MAX_ATTEMPTS"] = 2
    twilio_standin.abort_next = 1
    with time_machine.travel(REMINDER_24H, tick=False):
        assert send_due() == ["pending"]
    twilio_standin.shutdown()
    twilio_standin.server_close()  # Twilio cannot be asked any more
    with time_machine.travel(REMINDER_24H + timedelta(seconds=61), tick=False):
        assert send_due() == ["failed"]
    row = reminder(appointment)
    assert row.reason.startswith("gave up after 2 attempts: could not ask Twilio what was sent")
    assert row.reason.endswith("the message may have been sent")
    assert twilio_standin.posts() == 1


class SlowSMS:
    """A provider that holds each send until the test lets it go, and cannot say what it sent (as Twilio
    could not before the lookup existed)."""

    started = threading.Event()
    proceed = threading.Event()
    sent: list = []

    def send(self, message):
        SlowSMS.started.set()
        assert SlowSMS.proceed.wait(10)
        SlowSMS.sent.append(message)
        return SendResult(f"SMslow{len(SlowSMS.sent)}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_send_slower_than_its_lease_keeps_its_row_and_is_sent_once(appointment, notification_settings):
    from django.db import connection

    notification_settings["SMS_BACKEND"] = f"{__name__}.SlowSMS"
    SlowSMS.started.clear(), SlowSMS.proceed.clear(), SlowSMS.sent.clear()
    outcome = []

    def worker(claim):
        try:
            outcome.append(services.reminder_send(reminder_id=claim.reminder_id, claim=claim.token))
        finally:
            connection.close()

    with time_machine.travel(REMINDER_24H, tick=False) as clock:
        (claim,) = services.reminders_claim_due()
        sending = threading.Thread(target=worker, args=(claim,))
        sending.start()
        assert SlowSMS.started.wait(10)
        clock.shift(timedelta(seconds=notification_settings["LEASE_SECONDS"] * 3))  # far past the lease
        assert services.reminders_claim_due() == []  # the sweep skips the row the send holds
        row = reminder(appointment)
        assert (row.status, row.lease_token) == ("sending", uuid.UUID(claim.token))
        SlowSMS.proceed.set()
        sending.join(10)
    assert outcome == ["sent"] and len(SlowSMS.sent) == 1
    row.refresh_from_db()
    assert (row.status, row.provider_message_id) == ("sent", "SMslow1")


class SessionLosingSMS:
    """Sends, then the database ends the worker's session before the outcome is committed (a failover, a
    network cut): the worker must still record the real outcome."""

    sent: list = []

    def send(self, message):
        from django.db import connection

        pid = connection.connection.info.backend_pid
        with psycopg.connect(**_admin_params()) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        SessionLosingSMS.sent.append(message)
        return SendResult("SMlate")


def _admin_params() -> dict:
    from django.db import connection

    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_send_whose_session_was_lost_is_still_recorded_as_sent(appointment, notification_settings):
    notification_settings["SMS_BACKEND"] = f"{__name__}.SessionLosingSMS"
    SessionLosingSMS.sent = []
    with time_machine.travel(REMINDER_24H, tick=False):
        assert send_due() == ["sent"]
    assert len(SessionLosingSMS.sent) == 1
    row = reminder(appointment)
    assert (row.status, row.provider_message_id) == ("sent", "SMlate")


@pytest.mark.parametrize("delivered", [True, False])
def test_a_row_cancelled_after_its_worker_died_mid_send_says_sent_if_the_message_went_out(
    appointment, notification_settings, front_desk, delivered
):
    later = die_mid_send(appointment, notification_settings, delivered=delivered)
    with time_machine.travel(later, tick=False):
        pathway_services.appointment_cancel(appointment=appointment, actor=front_desk, reason="patient unwell")
        assert send_due() == ["sent" if delivered else "cancelled"]
    row = reminder(appointment) if delivered else Reminder.objects.get(appointment=appointment,
                                                                       purpose="appointment_24h")
    assert len(sms_channel.outbox) == int(delivered)
    assert (row.status, row.reason) == (("sent", "") if delivered else ("cancelled", "appointment cancelled"))


@pytest.mark.parametrize("delivered", [True, False])
def test_a_row_too_late_after_its_worker_died_mid_send_says_sent_if_the_message_went_out(
    appointment, notification_settings, delivered
):
    notification_settings["MAX_LATENESS_MINUTES"] = 30
    die_mid_send(appointment, notification_settings, delivered=delivered)
    with time_machine.travel(REMINDER_24H + timedelta(minutes=31), tick=False):
        assert send_due() == ["sent" if delivered else "skipped"]
    row = reminder(appointment)
    assert len(sms_channel.outbox) == int(delivered)
    assert row.status == ("sent" if delivered else "skipped")


def test_a_row_cancelled_after_an_unanswerable_interruption_says_it_may_have_been_sent(
    appointment, notification_settings, failing_sms, front_desk
):
    later = die_mid_send(appointment, notification_settings, delivered=False)
    with time_machine.travel(later, tick=False):
        pathway_services.appointment_cancel(appointment=appointment, actor=front_desk, reason="patient unwell")
        assert send_due() == ["cancelled"]
    row = Reminder.objects.get(appointment=appointment, purpose="appointment_24h")
    assert row.reason == "appointment cancelled; an earlier attempt may have been sent"
    assert not failing_sms.sent
