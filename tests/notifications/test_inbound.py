"""Replies by SMS through the signed webhook: STOP revokes, C / YES confirms, the rest waits for a coordinator."""

import logging

import pytest
import time_machine
from django.http import QueryDict
from django.urls import reverse

from notifications.models import InboundMessage, Reminder
from notifications.views import twilio_signature
from pathway.models import Patient
from pathway.stages import AppointmentKind
from tests.factories import ClinicFactory, PatientFactory

from .helpers import book, chicago, utc

pytestmark = pytest.mark.django_db
URL = "http://testserver/sms/inbound/"


def test_the_signature_matches_twilios_published_examples():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = QueryDict(mutable=True)
    params.update({"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                   "From": "+14158675309", "To": "+18005551212"})
    assert twilio_signature(url, params, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = QueryDict(mutable=True)
    repeated.setlist("Sid", ["CA123"])
    repeated.setlist("SidAccount", ["AC123"])
    repeated.setlist("Digits", ["5678", "1234", "1234"])
    assert twilio_signature(url, repeated, "12345") == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def post(client, body, *, sid="SM0001", sender="+15557654321", to="+15550100100", signature=None, token=None):
    data = {"MessageSid": sid, "From": sender, "To": to, "Body": body, "AccountSid": "AC0"}
    params = QueryDict(mutable=True)
    params.update(data)
    signature = signature or twilio_signature(URL, params, token or "test-auth-token")
    return client.post(reverse("notifications:sms-inbound"), data, HTTP_X_TWILIO_SIGNATURE=signature)


def test_an_unsigned_or_badly_signed_request_is_refused(client, patient):
    assert client.post(reverse("notifications:sms-inbound"), {"MessageSid": "SM1", "From": patient.phone,
                                                                "Body": "STOP"}).status_code == 403
    assert post(client, "STOP", token="someone-elses-token").status_code == 403
    assert post(client, "STOP", signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=").status_code == 403
    patient.refresh_from_db()
    assert patient.sms_consent is True
    assert not InboundMessage.objects.exists()


def test_the_signature_covers_the_configured_public_url(client, patient, notification_settings):
    notification_settings["TWILIO_WEBHOOK_URL"] = "https://clinic.example.org/sms/inbound/"
    assert post(client, "STOP").status_code == 403  # signed for http://testserver/…, not the public URL


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"])
@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_stop_and_its_variants_revoke_sms_consent_and_cancel_pending_sms(client, patient, front_desk, word):
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    response = post(client, word)
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    patient.refresh_from_db()
    assert (patient.sms_consent, patient.sms_consent_method) == (False, "sms_reply")
    assert {r.status for r in Reminder.objects.filter(appointment=appointment)} == {"cancelled"}
    message = InboundMessage.objects.get()
    assert (message.action, message.needs_attention, message.body, message.patient) == ("stop", False, "", patient)


@pytest.mark.parametrize("word", ["C", "c", "YES", "Yes!"])
@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_c_or_yes_confirms_the_next_appointment(client, patient, front_desk, word):
    later = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 20, 10, 0))
    sooner = book(patient, front_desk, AppointmentKind.TRIAL_CHECK, chicago(2026, 3, 12, 10, 0))
    assert post(client, word).status_code == 200
    sooner.refresh_from_db()
    later.refresh_from_db()
    assert sooner.confirmed_at == utc(2026, 3, 1, 12) and later.confirmed_at is None
    message = InboundMessage.objects.get()
    assert (message.action, message.appointment, message.needs_attention) == ("confirm", sooner, False)


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_anything_else_is_kept_for_a_coordinator_and_never_logged(client, patient, front_desk, caplog):
    book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    with caplog.at_level(logging.DEBUG):
        assert post(client, "Can I come an hour later? My knee is worse").status_code == 200
    message = InboundMessage.objects.get()
    assert (message.action, message.needs_attention, message.patient) == ("other", True, patient)
    assert message.body == "Can I come an hour later? My knee is worse"
    assert "knee" not in caplog.text and patient.phone not in caplog.text


def test_a_confirmation_without_an_upcoming_appointment_needs_a_coordinator(client, patient):
    post(client, "C")
    message = InboundMessage.objects.get()
    assert (message.action, message.needs_attention) == ("other", True)


def test_an_unknown_number_is_recorded_for_a_coordinator(client, patient):
    post(client, "STOP", sender="+15559999999")
    message = InboundMessage.objects.get()
    assert message.patient is None and message.needs_attention
    assert Patient.objects.get(pk=patient.pk).sms_consent is True


def test_a_redelivered_webhook_is_handled_once(client, patient):
    post(client, "hello", sid="SM42")
    post(client, "hello", sid="SM42")
    assert InboundMessage.objects.count() == 1


def test_the_same_number_in_two_clinics_is_narrowed_by_the_number_texted(client, patient):
    other_clinic = ClinicFactory(slug="south", phone="+15550200200")
    twin = PatientFactory(clinic=other_clinic, phone=patient.phone, sms_consent=True)
    post(client, "STOP", to="+15550200200")
    patient.refresh_from_db()
    twin.refresh_from_db()
    assert twin.sms_consent is False and patient.sms_consent is True
