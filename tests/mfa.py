"""Second-factor helpers for tests: an authenticator device, its code computed here (RFC 6238, independent of
django-otp's own code), and a test client whose session is already verified."""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
from base64 import b32decode

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_code(key: bytes, *, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 10 ** digits:0{digits}d}"


def key_from_secret(secret: str) -> bytes:
    """The key behind the base32 secret shown on the enrolment page (spaces and padding as an app ignores them)."""
    secret = "".join(secret.split()).upper()
    return b32decode(secret + "=" * (-len(secret) % 8))


def authenticator(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def verified_client(user, client: Client | None = None) -> Client:
    """`force_login` plus a verified second factor, as after a real sign-in with a code."""
    client = client or Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or authenticator(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
