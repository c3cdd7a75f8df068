"""The SMS adapter's HTTP exchange against recorded Twilio responses, and email's two parts."""

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from notifications.channels import Message, PermanentSendError, TransientSendError, UnknownOutcomeError
from notifications.channels.email import EmailChannel
from notifications.channels.sms import TwilioSMSBackend, get_sms_backend

RECORDINGS = Path(__file__).parent / "recordings"
URL = "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"
MESSAGE = Message(to="+15557654321", text="North Pain Clinic: reminder …", reference="ref-1")


def replay(name: str) -> None:
    recording = json.loads((RECORDINGS / f"{name}.json").read_text())
    responses.add(responses.POST, URL, json=recording["body"], status=recording["status"])


@responses.activate
def test_twilio_send_posts_the_form_and_returns_the_message_sid():
    replay("twilio_message_created")
    result = TwilioSMSBackend().send(MESSAGE)
    assert result.message_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    request = responses.calls[0].request
    assert parse_qs(request.body) == {"To": ["+15557654321"], "From": ["+15005550006"],
                                      "Body": ["North Pain Clinic: reminder …"]}
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(("recording", "error", "reason"), [
    ("twilio_invalid_number", PermanentSendError,
     "Twilio 21211: The 'To' number [number] is not a valid phone number."),
    ("twilio_unsubscribed", PermanentSendError, "Twilio 21610: Attempt to send to unsubscribed recipient"),
    ("twilio_bad_credentials", PermanentSendError, "Twilio 20003: Authenticate"),
    ("twilio_rate_limited", TransientSendError, "Twilio 20429: Too Many Requests"),
    ("twilio_unavailable", TransientSendError, "Twilio 20503: Service Unavailable"),
])
@responses.activate
def test_twilio_errors_are_sorted_into_permanent_and_transient(recording, error, reason):
    replay(recording)
    with pytest.raises(error) as raised:
        TwilioSMSBackend().send(MESSAGE)
    assert raised.value.reason == reason
    assert "+1555" not in raised.value.reason


@pytest.mark.parametrize(("exception", "error"), [
    (requests.ConnectTimeout(), TransientSendError),
    (requests.ConnectionError("refused"), TransientSendError),
    # The request went out and no answer came back: it may have been delivered, so it is not retried.
    (requests.ReadTimeout(), UnknownOutcomeError),
])
@responses.activate
def test_twilio_network_failures(exception, error):
    responses.add(responses.POST, URL, body=exception)
    with pytest.raises(error):
        TwilioSMSBackend().send(MESSAGE)


def test_twilio_without_credentials_fails_permanently(notification_settings):
    notification_settings["TWILIO_AUTH_TOKEN"] = ""
    with pytest.raises(PermanentSendError, match="not configured"):
        TwilioSMSBackend().send(MESSAGE)


def test_backend_is_chosen_by_setting(notification_settings):
    assert type(get_sms_backend()).__name__ == "InMemorySMSBackend"
    notification_settings["SMS_BACKEND"] = "twilio"
    assert isinstance(get_sms_backend(), TwilioSMSBackend)
    notification_settings["SMS_BACKEND"] = "notifications.channels.sms.ConsoleSMSBackend"
    assert type(get_sms_backend()).__name__ == "ConsoleSMSBackend"


def test_email_has_a_plain_text_and_an_html_part(mailoutbox):
    result = EmailChannel().send(Message(to="pat@example.org", subject="S", text="plain", html="<p>html</p>"))
    (email,) = mailoutbox
    assert email.body == "plain"
    assert email.alternatives[0][1] == "text/html"
    assert email.extra_headers["Message-ID"] == result.message_id


class RefusingSMTPBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPRecipientsRefused({"pat@example.org": (550, b"no such user")})


def test_email_refused_recipient_is_permanent(settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingSMTPBackend"
    with pytest.raises(PermanentSendError):
        EmailChannel().send(Message(to="pat@example.org", subject="S", text="plain"))
