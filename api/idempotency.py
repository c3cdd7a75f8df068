"""`Idempotency-Key` on POST: a retry replays the first answer instead of acting twice.

The first request with a (caller, key) pair inserts a row before it runs; the unique constraint makes a
concurrent duplicate fail its insert and answer 409. When the first finishes, its status and body are
stored and replayed to every retry with the same body for IDEMPOTENCY_HOURS; another body answers 422.
A request that fails with a server error releases its key so that the retry runs.

The stored answer holds patient data (a booked patient's name, a phone number), so it is kept encrypted
(Fernet, with keys derived from SECRET_KEY and SECRET_KEY_FALLBACKS: rotating the secret key rotates these
too) and deleted once IDEMPOTENCY_HOURS have passed. A record that can no longer be decrypted (its key was
retired) answers 409, as a retry would that came too late.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http.request import RawPostDataException
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from .models import ClinicAPIKey, IdempotencyRecord

HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # visible ASCII, e.g. a UUID
_VALID_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


class KeyReused(exceptions.APIException):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with another request body; use a new key."


class StillRunning(exceptions.APIException):
    status_code = 409
    default_code = "idempotency_in_flight"
    default_detail = "The first request with this Idempotency-Key is still running; retry shortly."


class Replay(Exception):
    """Not an error: carries the stored answer past the view."""

    def __init__(self, response: Response):
        super().__init__("replay")
        self.response = response


class ReplayUnavailable(exceptions.APIException):
    status_code = 409
    default_code = "idempotency_replay_unavailable"
    default_detail = "The first answer to this Idempotency-Key can no longer be read; use a new key."


def _cipher() -> MultiFernet:
    """One Fernet key per secret key (the current one first), so a rotated SECRET_KEY still reads old records."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    digests = [salted_hmac("api.idempotency", "response", secret=secret, algorithm="sha256").digest()
               for secret in secrets]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(digest)) for digest in digests])


def caller_of(request) -> str:
    if isinstance(request.auth, ClinicAPIKey):
        return f"key:{request.auth.pk}"[:80]
    return f"user:{request.user.pk}"


def _fingerprint(request) -> str:
    try:
        body = request._request.body
    except RawPostDataException:
        body = json.dumps(request.data, sort_keys=True, cls=JSONEncoder).encode()
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def begin(request) -> IdempotencyRecord | None:
    """Claim the key for this request, or raise Replay / KeyReused / StillRunning."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID_KEY.match(key):
        raise exceptions.ValidationError({HEADER: ["Use 1 to 255 visible ASCII characters, e.g. a UUID."]})
    caller, fingerprint = caller_of(request), _fingerprint(request)
    expired = timezone.now() - timedelta(hours=settings.API["IDEMPOTENCY_HOURS"])
    IdempotencyRecord.objects.filter(created_at__lt=expired).delete()  # indexed; usually deletes nothing
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(caller=caller, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    first = IdempotencyRecord.objects.filter(caller=caller, key=key).first()
    if first is None:  # released by a failed first attempt a moment ago
        raise StillRunning()
    if first.fingerprint != fingerprint:
        raise KeyReused()
    if first.completed_at is None:
        raise StillRunning()
    try:
        body = json.loads(_cipher().decrypt(first.response_body.encode())) if first.response_body else None
    except InvalidToken:
        raise ReplayUnavailable() from None
    response = Response(body, status=first.response_status,
                        content_type=first.response_content_type or None)
    response["Idempotent-Replayed"] = "true"
    raise Replay(response)


def finish(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        release(record)
        return
    body = json.dumps(response.data, cls=JSONEncoder) if response.data is not None else ""
    body = _cipher().encrypt(body.encode()).decode() if body else ""
    content_type = response.content_type or ""
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        completed_at=timezone.now(), response_status=response.status_code, response_body=body,
        response_content_type=content_type,
    )


def release(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).delete()
