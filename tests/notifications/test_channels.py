"""The SMS adapter's HTTP exchange against recorded Twilio responses, and email's two parts."""

import json
import socket
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from notifications.channels import Message, PermanentSendError, TransientSendError, UnknownOutcomeError
from notifications.channels.email import EmailChannel
from notifications.channels.sms import TwilioSMSBackend, get_sms_backend

from .helpers import utc
from .twilio_standin import TwilioStandIn

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


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (502, 20502), (504, 20504)])
@responses.activate
def test_twilio_server_and_gateway_errors_leave_the_outcome_unknown(status, code):
    # Twilio or a gateway in front of it may fail after the message was created: retrying could send it twice.
    responses.add(responses.POST, URL, json={"code": code, "message": "Internal Server Error"}, status=status)
    with pytest.raises(UnknownOutcomeError, match="may have been sent"):
        TwilioSMSBackend().send(MESSAGE)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("base", ["refused", "http://twilio-stand-in.invalid"])
def test_twilio_unreachable_before_the_request_left_is_safe_to_retry(notification_settings, base):
    """Connection refused and a DNS failure, for real: the request provably never reached anyone."""
    notification_settings["TWILIO_API_BASE"] = f"http://127.0.0.1:{closed_port()}" if base == "refused" else base
    with pytest.raises(TransientSendError, match="could not reach Twilio"):
        TwilioSMSBackend().send(MESSAGE)


def test_twilio_connection_aborted_after_the_request_is_unknown_not_retryable(notification_settings):
    with TwilioStandIn() as twilio:
        twilio.abort_next = 1  # takes the message, then drops the connection without answering
        notification_settings["TWILIO_API_BASE"] = twilio.base_url
        with pytest.raises(UnknownOutcomeError, match="broke after the request went out"):
            TwilioSMSBackend().send(MESSAGE)
        assert len(twilio.messages) == 1


@pytest.mark.parametrize(("exception", "error"), [
    (requests.ConnectTimeout(), TransientSendError),
    # The request went out and no answer came back: it may have been delivered, so it is not simply retried.
    (requests.ReadTimeout(), UnknownOutcomeError),
    (requests.ConnectionError("Connection aborted."), UnknownOutcomeError),
])
@responses.activate
def test_twilio_network_failures(exception, error):
    responses.add(responses.POST, URL, body=exception)
    with pytest.raises(error):
        TwilioSMSBackend().send(MESSAGE)


def listed(*messages, next_page_uri=None) -> dict:
    return {"messages": list(messages), "next_page_uri": next_page_uri, "page": 0, "page_size": 1000}


def twilio_message(sid, *, created, body=MESSAGE.text, direction="outbound-api") -> dict:
    return {"sid": sid, "to": MESSAGE.to, "from": "+15005550006", "body": body, "direction": direction,
            "status": "queued", "date_created": created, "date_sent": None}


@responses.activate
def test_twilio_finds_what_was_sent_to_the_number_since_the_attempt():
    responses.add(responses.GET, URL, json=listed(
        twilio_message("SMnewer", created="Wed, 11 Mar 2026 15:00:09 +0000"),
        twilio_message("SMtrial", created="Wed, 11 Mar 2026 15:00:03 +0000",
                       body="Sent from your Twilio trial account - " + MESSAGE.text),
        twilio_message("SMother", created="Wed, 11 Mar 2026 15:00:02 +0000", body="Another clinic message"),
        twilio_message("SMreply", created="Wed, 11 Mar 2026 15:00:02 +0000", direction="inbound"),
        twilio_message("SMlast-week", created="Wed, 04 Mar 2026 15:00:02 +0000"),
    ))
    found = TwilioSMSBackend().find_sent(MESSAGE, since=utc(2026, 3, 11, 15, 0, 0))
    assert [f.message_id for f in found] == ["SMtrial", "SMnewer"]  # oldest first
    query = parse_qs(responses.calls[0].request.url.split("?", 1)[1])
    # No DateSent filter: a queued message has no date_sent yet and would be missed.
    assert query == {"To": ["+15557654321"], "From": ["+15005550006"], "PageSize": ["1000"]}


@responses.activate
def test_twilio_lookup_of_a_diary_prompt_ignores_its_freshly_signed_link():
    sent = Message(to=MESSAGE.to, text="North: today's diary: https://c.example.org/d/abc:1/ (48 h).")
    again = Message(to=MESSAGE.to, text="North: today's diary: https://c.example.org/d/abc:2/ (48 h).")
    responses.add(responses.GET, URL, json=listed(
        twilio_message("SMdiary", created="Wed, 11 Mar 2026 23:00:01 +0000", body=sent.text)))
    assert [f.message_id for f in TwilioSMSBackend().find_sent(again, since=utc(2026, 3, 11, 23))] == ["SMdiary"]


@responses.activate
def test_twilio_lookup_follows_pages():
    next_uri = "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json?PageSize=1000&Page=1"
    responses.add(responses.GET, URL, json=listed(next_page_uri=next_uri))
    responses.add(responses.GET, URL, json=listed(twilio_message("SM2", created="Wed, 11 Mar 2026 15:00:01 +0000")))
    assert [f.message_id for f in TwilioSMSBackend().find_sent(MESSAGE, since=utc(2026, 3, 11, 15))] == ["SM2"]
    assert "Page=1" in responses.calls[1].request.url


@pytest.mark.parametrize("failure", [requests.ConnectionError("Connection aborted."), 500, 401])
@responses.activate
def test_twilio_lookup_that_cannot_answer_is_transient(failure):
    if isinstance(failure, int):
        responses.add(responses.GET, URL, json={"code": 20500, "message": "Internal"}, status=failure)
    else:
        responses.add(responses.GET, URL, body=failure)
    with pytest.raises(TransientSendError, match="could not ask Twilio"):
        TwilioSMSBackend().find_sent(MESSAGE, since=utc(2026, 3, 11, 15))


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
