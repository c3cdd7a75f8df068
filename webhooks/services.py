"""Registering endpoints, fanning events out to them, and delivering (Standard Webhooks, at least once).

WebhookDelivery follows the reminders' sweep pattern (notifications/services.py): the beat sweep claims due rows
under `select_for_update(skip_locked=True)` with a lease and enqueues one task per delivery; a killed worker's
claim runs out and the next sweep takes it again (the receiver may see a message twice, with the same
webhook-id, so it can tell). A delivery waits while an earlier event of the same episode (or patient) to the same
endpoint is still pending or sending, so each endpoint receives an episode's events in order.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta

import requests
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.crypto import salted_hmac
from standardwebhooks.webhooks import Webhook

from events.bus import Occurrence
from events.models import Event, EventType

from .addresses import RefusedAddress, check_url
from .models import DeliveryStatus, EndpointRole, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

# Front desk sees whether an episode is open or closed, not its stages (DOMAIN.md "Roles"): these types are
# delivered to clinical endpoints only, and these payload keys are removed for front-desk ones.
CLINICAL_ONLY_TYPES = frozenset({EventType.EPISODE_HELD, EventType.EPISODE_RELEASED,
                                 EventType.INBOUND_SMS_NEEDS_ATTENTION})
CLINICAL_KEYS = frozenset({"transition", "from_stage", "to_stage"})
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


def _config() -> dict:
    return settings.WEBHOOKS


def _cipher() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(
        salted_hmac("webhooks", "endpoint-secret", secret=key, algorithm="sha256").digest())) for key in keys])


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    return _cipher().decrypt(endpoint.secret_encrypted.encode()).decode()


def event_types_for(role: str) -> list[str]:
    if role == EndpointRole.FRONT_DESK:
        return [t for t in EventType.values if t not in CLINICAL_ONLY_TYPES]
    return list(EventType.values)


def _check(url: str, event_types, role: str) -> list[str]:
    errors = {}
    try:
        check_url(url)
    except RefusedAddress as error:
        errors["url"] = [str(error)]
    if role not in EndpointRole.values:
        errors["role"] = [f"Choose one of: {', '.join(EndpointRole.values)}."]
    allowed = event_types_for(role)
    if not isinstance(event_types, list) or not event_types or any(t not in allowed for t in event_types):
        errors["event_types"] = [f"Choose from: {', '.join(allowed)}."]
    if errors:
        from pathway.errors import InvalidInput

        raise InvalidInput(errors)
    return list(dict.fromkeys(event_types))


def endpoint_create(*, clinic, url: str, event_types: list[str], role: str, enabled: bool = True
                    ) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its `whsec_` secret, which is shown this once."""
    event_types = _check(url, event_types, role)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    endpoint = WebhookEndpoint.objects.create(
        clinic=clinic, url=url, event_types=event_types, role=role, enabled=enabled,
        secret_encrypted=_cipher().encrypt(secret.encode()).decode())
    return endpoint, secret


def endpoint_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    url, types = fields.get("url", endpoint.url), fields.get("event_types", endpoint.event_types)
    role = fields.get("role", endpoint.role)
    endpoint.url, endpoint.event_types, endpoint.role = url, _check(url, types, role), role
    endpoint.enabled = fields.get("enabled", endpoint.enabled)
    endpoint.save()
    return endpoint


def deliveries_create(occurrence: Occurrence) -> None:
    """Subscriber of every event: one delivery per enabled endpoint that wants it, in the change's transaction."""
    event = occurrence.event
    now = timezone.now()
    rows = [
        WebhookDelivery(event=event, endpoint=endpoint, ordering_key=event.ordering_key, sequence=event.sequence,
                 next_attempt_at=now, created_at=now)
        for endpoint in WebhookEndpoint.objects.filter(clinic_id=event.clinic_id, enabled=True)
        if event.type in endpoint.event_types and payload_for(event, endpoint.role) is not None
    ]
    WebhookDelivery.objects.bulk_create(rows)


def payload_for(event: Event, role: str) -> dict | None:
    """The body: ids, types and times; None when this role may not hear of the event at all."""
    clinical = role == EndpointRole.CLINICAL
    if not clinical and event.type in CLINICAL_ONLY_TYPES:
        return None
    details = dict(event.payload)
    if not clinical:
        details = {k: v for k, v in details.items() if k not in CLINICAL_KEYS}
        if event.type == EventType.EPISODE_TRANSITIONED and details.get("episode_status") != "closed":
            return None  # a move between open stages is clinical; front desk hears when an episode closes
    data = {"event_id": str(event.external_id), "clinic": event.clinic.slug,
            "episode_id": _str(event.episode_id), "appointment_id": _str(event.appointment_id),
            "patient_id": _str(event.patient_id), "sequence": event.sequence, **details}
    return {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": data}


def _str(value) -> str | None:
    return str(value) if value is not None else None


# --- Claiming -------------------------------------------------------------------------------------

def deliveries_claim_due(*, now: datetime | None = None, limit: int | None = None) -> list[tuple[str, str]]:
    now = now or timezone.now()
    limit = limit or _config()["SWEEP_BATCH_SIZE"]
    token = uuid.uuid4()
    earlier_open = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"), ordering_key=OuterRef("ordering_key"),
        sequence__lt=OuterRef("sequence"), status__in=OPEN,
    )
    with transaction.atomic():
        # A killed worker's claim: back to pending (at least once: it may have been delivered already).
        expired = list(WebhookDelivery.objects.select_for_update(skip_locked=True)
                       .filter(status=DeliveryStatus.SENDING, lease_until__lt=now).values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=expired).update(status=DeliveryStatus.PENDING, lease_token=None,
                                                       lease_until=None)
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
            .exclude(Exists(earlier_open))
            .order_by("next_attempt_at", "id").values_list("pk", "external_id")[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in due]).update(
            status=DeliveryStatus.SENDING, lease_token=token,
            lease_until=now + timedelta(seconds=_config()["LEASE_SECONDS"]),
        )
    return [(str(external_id), str(token)) for _, external_id in due]


def delivery_release_claim(*, delivery_id: str, token: str) -> None:
    WebhookDelivery.objects.filter(external_id=delivery_id, lease_token=token, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.PENDING, lease_token=None, lease_until=None)


# --- Sending --------------------------------------------------------------------------------------

class _Retryable(Exception):
    pass


def delivery_send(*, delivery_id: str, token: str) -> str:
    """POST one claimed delivery; returns its new status. A claim no longer ours is a no-op."""
    delivery = (WebhookDelivery.objects.select_related("event", "event__clinic", "endpoint")
                .filter(external_id=delivery_id, lease_token=token, status=DeliveryStatus.SENDING).first())
    if delivery is None:
        return "not-claimed"
    endpoint, config = delivery.endpoint, _config()
    body = json.dumps(payload_for(delivery.event, endpoint.role), separators=(",", ":"), sort_keys=True)
    msg_id = f"msg_{delivery.external_id.hex}"  # the delivery's, so every retry shares it
    sent_at = timezone.now()
    headers = {
        "content-type": "application/json", "user-agent": "drg-pathway-webhooks",
        "webhook-id": msg_id, "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(endpoint_secret(endpoint)).sign(msg_id, sent_at, body),
    }
    started, status_code, error_class, outcome = time.monotonic(), None, "", DeliveryStatus.DELIVERED
    try:
        check_url(endpoint.url)
        response = requests.post(endpoint.url, data=body.encode(), headers=headers, allow_redirects=False,
                                 timeout=(config["CONNECT_TIMEOUT_SECONDS"], config["READ_TIMEOUT_SECONDS"]))
        status_code = response.status_code
        response.close()  # the answer's body is never read or kept
        if 200 <= status_code < 300:
            outcome = DeliveryStatus.DELIVERED
        elif status_code >= 500 or status_code in (408, 429):
            raise _Retryable
        else:
            outcome, error_class = DeliveryStatus.FAILED, f"HTTP {status_code}"
    except RefusedAddress:
        outcome, error_class = DeliveryStatus.FAILED, "RefusedAddress"
    except _Retryable:
        outcome, error_class = DeliveryStatus.PENDING, f"HTTP {status_code}"
    except requests.RequestException as error:
        outcome, error_class = DeliveryStatus.PENDING, type(error).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record_attempt(delivery, token, outcome, status_code, duration_ms, error_class)


def _record_attempt(delivery: WebhookDelivery, token: str, outcome: str, status_code, duration_ms: int,
                    error_class: str) -> str:
    now = timezone.now()
    attempts = delivery.attempts + 1
    values = {"attempts": attempts, "lease_token": None, "lease_until": None, "last_error": error_class[:200],
              "last_status_code": status_code}
    if outcome == DeliveryStatus.PENDING:
        wait = min(_config()["BACKOFF_BASE_SECONDS"] * 2 ** (attempts - 1), _config()["BACKOFF_MAX_SECONDS"])
        if now + timedelta(seconds=wait) > delivery.created_at + timedelta(seconds=_config()["RETRY_WINDOW_SECONDS"]):
            outcome = DeliveryStatus.FAILED
        else:
            values["next_attempt_at"] = now + timedelta(seconds=wait)
    if outcome != DeliveryStatus.PENDING:
        values["finished_at"] = now
    with transaction.atomic():
        if not WebhookDelivery.objects.filter(pk=delivery.pk, lease_token=token).update(status=outcome, **values):
            return "not-claimed"
        WebhookAttempt.objects.create(delivery=delivery, at=now, status_code=status_code, duration_ms=duration_ms,
                                       error_class=error_class[:100])
    logger.info("webhook delivery %s attempt %d: %s %s", delivery.external_id, attempts, outcome, error_class)
    return outcome


def delivery_replay(*, delivery: WebhookDelivery) -> bool:
    """An administrator sends a failed delivery again (from now, with a fresh retry window)."""
    now = timezone.now()
    return bool(WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, created_at=now, finished_at=None, last_error="",
        last_status_code=None))
