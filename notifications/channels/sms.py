"""SMS backends: console and in-memory for the demo and tests, a Redis list that counts sends across
processes (the integration tests' "provider"), and Twilio's REST API for production."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils.module_loading import import_string
from urllib3.exceptions import MaxRetryError, NewConnectionError

from .base import Message, PermanentSendError, SendResult, TransientSendError, UnknownOutcomeError
from .console import mask_phone, mask_text

# Messages sent through the in-memory backend in this process (like django.core.mail.outbox).
outbox: list[Message] = []
_outbox_lock = threading.Lock()


class ConsoleSMSBackend:
    """Prints each SMS to stdout, masked (channels/console.py), as Django's console email backend does; demo only."""

    def send(self, message: Message) -> SendResult:
        message_id = f"console-{uuid.uuid4().hex}"
        to, text = mask_phone(message.to), mask_text(message.text)
        sys.stdout.write(f"SMS to {to} ({message_id}):\n{text}\n{'-' * 40}\n")
        sys.stdout.flush()
        return SendResult(message_id)


class InMemorySMSBackend:
    def send(self, message: Message) -> SendResult:
        with _outbox_lock:
            outbox.append(message)
        return SendResult(f"memory-{len(outbox)}")

    def find_sent(self, message: Message, *, since: datetime) -> list[SendResult]:
        """This reminder's sends so far (asked when an earlier attempt's outcome is unknown)."""
        with _outbox_lock:
            return [SendResult(f"memory-{position}") for position, sent in enumerate(outbox, start=1)
                    if sent.reference == message.reference]


class RedisListSMSBackend:
    """Appends each send's reference to a Redis list, so a test can count sends made by several workers."""

    def __init__(self):
        import redis

        self.client = redis.Redis.from_url(settings.NOTIFICATIONS["SMS_RECORD_REDIS_URL"])
        self.key = settings.NOTIFICATIONS["SMS_RECORD_KEY"]
        self.delay = settings.NOTIFICATIONS["SMS_RECORD_DELAY_SECONDS"]

    def send(self, message: Message) -> SendResult:
        import redis

        if self.delay:
            time.sleep(self.delay)
        message_id = f"redis-{uuid.uuid4().hex}"
        try:
            # One transaction: the list counts sends, the hash answers `find_sent`.
            with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(self.key, json.dumps({"reference": message.reference, "message_id": message_id}))
                pipe.hset(f"{self.key}:by-reference", message.reference, message_id)
                pipe.execute()
        except redis.ConnectionError as error:
            raise TransientSendError(f"recording store unavailable: {type(error).__name__}") from None
        return SendResult(message_id)

    def find_sent(self, message: Message, *, since: datetime) -> list[SendResult]:
        import redis

        try:
            found = self.client.hget(f"{self.key}:by-reference", message.reference)
        except redis.ConnectionError as error:
            raise TransientSendError(f"recording store unavailable: {type(error).__name__}") from None
        return [SendResult(found.decode())] if found else []


_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")
_LINK = re.compile(r"https?://\S+")
# Twilio's HTTP answers that say the message was not taken: rate limited, or refused while overloaded.
TRANSIENT_STATUS = frozenset({429, 503})
# Answers from a server or a gateway that may have failed after Twilio created the message.
UNKNOWN_STATUS = frozenset({500, 502, 504})
# Twilio's clock and ours differ a little; its `date_created` has whole seconds.
LOOKUP_CLOCK_MARGIN = timedelta(minutes=2)
LOOKUP_PAGE_SIZE = 1000  # Twilio's maximum
LOOKUP_MAX_PAGES = 3


def _without_numbers(text: str) -> str:
    """Provider messages quote the number; the reason a coordinator reads does not need it."""
    return _PHONE.sub("[number]", text)


def _never_left(error: requests.ConnectionError) -> bool:
    """True only when the request provably never reached Twilio: the connection itself could not be made
    (refused, unreachable, DNS failure). An error after connecting ("connection aborted", reset, TLS or
    proxy trouble) may come after Twilio read the request."""
    cause = error.args[0] if error.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _comparable(text: str) -> str:
    # A diary prompt's signed link carries the time it was made, so a resend's link differs.
    return _LINK.sub("<link>", text)


class TwilioSMSBackend:
    """Twilio's Programmable Messaging REST API (…/Accounts/{sid}/Messages.json), without the SDK.

    Twilio takes no idempotency key for a new message, so a send whose outcome is unknown is resolved by
    reading the account's messages to that number (`find_sent`) before anything is sent again.
    """

    def __init__(self, session: requests.Session | None = None):
        config = settings.NOTIFICATIONS
        self.account_sid = config["TWILIO_ACCOUNT_SID"]
        self.auth_token = config["TWILIO_AUTH_TOKEN"]
        self.from_number = config["TWILIO_FROM_NUMBER"]
        self.timeout = config["TWILIO_TIMEOUT_SECONDS"]
        self.base = config["TWILIO_API_BASE"].rstrip("/")
        self.url = f"{self.base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        self.session = session or requests.Session()

    def _check_configured(self) -> None:
        if not (self.account_sid and self.auth_token and self.from_number):
            raise PermanentSendError("Twilio is not configured: set TWILIO_ACCOUNT_SID, _AUTH_TOKEN, _FROM_NUMBER")

    def send(self, message: Message) -> SendResult:
        self._check_configured()
        try:
            response = self.session.post(
                self.url, data={"To": message.to, "From": self.from_number, "Body": message.text},
                auth=(self.account_sid, self.auth_token), timeout=self.timeout,
            )
        except requests.ConnectTimeout:
            raise TransientSendError("could not reach Twilio (connect timeout)") from None
        except requests.Timeout:
            raise UnknownOutcomeError("Twilio did not answer in time; the message may have been sent") from None
        except requests.ConnectionError as error:
            if _never_left(error):
                raise TransientSendError("could not reach Twilio (no connection)") from None
            raise UnknownOutcomeError(
                f"the connection to Twilio broke after the request went out ({type(error).__name__})"
            ) from None
        payload = _json(response)
        if response.status_code in (200, 201) and payload.get("sid"):
            return SendResult(payload["sid"])
        detail = f"Twilio {payload.get('code') or response.status_code}: {payload.get('message') or response.reason}"
        detail = _without_numbers(detail)[:450]
        if response.status_code in TRANSIENT_STATUS:
            raise TransientSendError(detail)
        if response.status_code in UNKNOWN_STATUS:
            raise UnknownOutcomeError(f"{detail} (the message may have been sent)")
        raise PermanentSendError(detail)

    def find_sent(self, message: Message, *, since: datetime) -> list[SendResult]:
        """Messages from our number to `message.to` with its text, created at or after `since`, oldest first.

        Read without a `DateSent` filter: `date_sent` stays empty while a message is queued, so such a
        filter can miss the very message we look for; `date_created` is checked here instead.
        Raises TransientSendError when Twilio cannot be asked now (a read is always safe to repeat).
        """
        self._check_configured()
        earliest = since - LOOKUP_CLOCK_MARGIN
        wanted = _comparable(message.text)
        found = []
        url, params = self.url, {"To": message.to, "From": self.from_number, "PageSize": LOOKUP_PAGE_SIZE}
        for _ in range(LOOKUP_MAX_PAGES):
            try:
                response = self.session.get(url, params=params, auth=(self.account_sid, self.auth_token),
                                            timeout=self.timeout)
            except requests.RequestException as error:
                raise TransientSendError(f"could not ask Twilio what was sent ({type(error).__name__})") from None
            payload = _json(response)
            if response.status_code != 200 or "messages" not in payload:
                detail = f"Twilio {payload.get('code') or response.status_code}: {payload.get('message') or ''}"
                raise TransientSendError(f"could not ask Twilio what was sent: {_without_numbers(detail)[:400]}")
            for item in payload["messages"]:
                created = _twilio_time(item.get("date_created"))
                # A trial account prefixes its own words, hence `endswith`.
                if (created is not None and created >= earliest and item.get("direction", "").startswith("outbound")
                        and _comparable(item.get("body") or "").endswith(wanted)):
                    found.append((created, item["sid"]))
            next_page = payload.get("next_page_uri")
            if not next_page:
                return [SendResult(sid) for _, sid in sorted(found)]
            url, params = f"{self.base}{next_page}", None
        if found:
            return [SendResult(sid) for _, sid in sorted(found)]
        raise TransientSendError("could not ask Twilio what was sent: too many messages to that number to read")


def _json(response: requests.Response) -> dict:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _twilio_time(value: str | None) -> datetime | None:
    """Twilio writes times as RFC 2822 ("Wed, 11 Mar 2026 15:00:01 +0000")."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


BACKENDS = {
    "console": ConsoleSMSBackend,
    "in-memory": InMemorySMSBackend,
    "redis-list": RedisListSMSBackend,
    "twilio": TwilioSMSBackend,
}


def get_sms_backend():
    name = settings.NOTIFICATIONS["SMS_BACKEND"]
    backend_class = BACKENDS.get(name) or import_string(name)
    return backend_class()
