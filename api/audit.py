"""The append-only record of who read which patient's data and who tried to write what through the API."""

from __future__ import annotations

import re
import uuid

from .authentication import actor_for
from .models import AuditEvent, ClinicAPIKey

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id_of(request) -> str:
    """The caller's X-Request-ID when it is a plain token, else a fresh one; echoed on the response."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex


def audit_record(*, request, action: str, status_code: int, patient_ids) -> AuditEvent:
    actor = actor_for(request)
    user = request.user if getattr(request.user, "pk", None) is not None else None
    return AuditEvent.objects.create(
        request_id=request.request_id,
        actor_label=actor.label if actor.roles or actor.api_key or actor.user else "anonymous",
        actor_user=user,
        actor_api_key=request.auth if isinstance(request.auth, ClinicAPIKey) else None,
        action=action[:60],
        method=request.method,
        path=request.path.replace("\x00", "\ufffd")[:300],  # PostgreSQL text cannot hold NUL
        status_code=status_code,
        patient_ids=sorted({str(pid) for pid in patient_ids}),
        address=request.META.get("REMOTE_ADDR") or None,
    )
