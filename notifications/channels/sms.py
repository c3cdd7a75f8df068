"""SMS backends: console and in-memory for the demo and tests, a Redis list that counts sends across
processes (the integration tests' "provider"), and Twilio's REST API for production."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid

import requests
from django.conf import settings
from django.utils.module_loading import import_string

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

    def was_sent(self, message: Message) -> SendResult | None:
        """Whether this reminder already went out (asked after a worker died mid-send)."""
        with _outbox_lock:
            for position, sent in enumerate(outbox, start=1):
                if sent.reference == message.reference:
                    return SendResult(f"memory-{position}")
        return None


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
            # One transaction: the list counts sends, the hash answers `was_sent`.
            with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(self.key, json.dumps({"reference": message.reference, "message_id": message_id}))
                pipe.hset(f"{self.key}:by-reference", message.reference, message_id)
                pipe.execute()
        except redis.ConnectionError as error:
            raise TransientSendError(f"recording store unavailable: {type(error).__name__}") from None
        return SendResult(message_id)

    def was_sent(self, message: Message) -> SendResult | None:
        import redis

        try:
            found = self.client.hget(f"{self.key}:by-reference", message.reference)
        except redis.ConnectionError as error:
            raise TransientSendError(f"recording store unavailable: {type(error).__name__}") from None
        return SendResult(found.decode()) if found else None


_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")
# Twilio's HTTP answers that mean "try again later"; any other 4xx is final for this message.
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


def _without_numbers(text: str) -> str:
    """Provider messages quote the number; the reason a coordinator reads does not need it."""
    return _PHONE.sub("[number]", text)


class TwilioSMSBackend:
    """Twilio's Programmable Messaging REST API (POST …/Accounts/{sid}/Messages.json), without the SDK."""

    def __init__(self, session: requests.Session | None = None):
        config = settings.NOTIFICATIONS
        self.account_sid = config["TWILIO_ACCOUNT_SID"]
        self.auth_token = config["TWILIO_AUTH_TOKEN"]
        self.from_number = config["TWILIO_FROM_NUMBER"]
        self.timeout = config["TWILIO_TIMEOUT_SECONDS"]
        self.url = f"{config['TWILIO_API_BASE'].rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        self.session = session or requests.Session()

    def send(self, message: Message) -> SendResult:
        if not (self.account_sid and self.auth_token and self.from_number):
            raise PermanentSendError("Twilio is not configured: set TWILIO_ACCOUNT_SID, _AUTH_TOKEN, _FROM_NUMBER")
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
            raise TransientSendError(f"could not reach Twilio ({type(error).__name__})") from None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code in (200, 201) and payload.get("sid"):
            return SendResult(payload["sid"])
        detail = f"Twilio {payload.get('code') or response.status_code}: {payload.get('message') or response.reason}"
        detail = _without_numbers(detail)[:450]
        if response.status_code in TRANSIENT_STATUS:
            raise TransientSendError(detail)
        raise PermanentSendError(detail)


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
