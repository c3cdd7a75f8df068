"""The append-only record of who read which patient's data, who tried to write what, and who was refused.

One mechanism for the API, the web pages and the admin: `AuditMiddleware` gives every request a request id
and an `AuditTrail`; views name the patients whose data they show (`request.audit.read(...)`), and the
middleware writes one row when the answer is sent: a single INSERT, whatever the page holds. Refusals
(401, 403, 404 on patient-data paths) are recorded even though no patient is named, so probing shows up;
sign-ins (successful or not) and an API key used from an address it has not used before get a row too.
"""

from __future__ import annotations

import re
import uuid

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from .models import AuditEvent, ClinicAPIKey

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Where a refusal means someone asked for patient data (the rest, e.g. /static/, is not worth a row).
PATIENT_DATA_PATHS = ("/api/", "/admin/", "/patients/", "/episodes/", "/appointments/", "/board/", "/worklist/",
                      "/caseload/", "/diary/", "/authorizations/", "/fhir/", "/schedule/", "/reports/")
DENIED = (401, 403, 404)


def request_id_of(request) -> str:
    """The caller's X-Request-ID when it is a plain token, else a fresh one; echoed on the response."""
    if assigned := getattr(request, "request_id", None):
        return assigned
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex


class AuditTrail:
    """What one request showed: the action and the patients named by the view. Written once, by the middleware
    (or by the API, which also records writes without patients and then marks the trail written)."""

    __slots__ = ("action", "patient_ids", "written")

    def __init__(self):
        self.action = ""
        self.patient_ids: set[str] = set()
        self.written = False

    def read(self, action: str, *patient_ids) -> None:
        self.action = self.action or action
        self.patient_ids.update(str(pid) for pid in patient_ids if pid is not None)


def _who(request) -> tuple[str, object, ClinicAPIKey | None]:
    key = getattr(request, "auth", None)
    if isinstance(key, ClinicAPIKey):
        return f"API key {key.prefix}", None, key
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and getattr(user, "pk", None) is not None:
        return user.get_username(), user, None
    return "anonymous", None, None


def audit_record(
    *, request, action: str, status_code: int, patient_ids=(), label: str = "", detail: str = "",
    path: str | None = None,
) -> AuditEvent:
    """`path` replaces the request's own where that holds a secret (a calendar feed's token)."""
    who, user, key = _who(request)
    event = AuditEvent.objects.create(
        request_id=request_id_of(request),
        actor_label=(label or who)[:150],
        actor_user=user,
        actor_api_key=key,
        action=action[:60],
        method=request.method[:10],
        path=(request.path if path is None else path).replace("\x00", "\ufffd")[:300],  # no NUL in PostgreSQL text
        status_code=status_code,
        patient_ids=sorted({str(pid) for pid in patient_ids}),
        address=request.META.get("REMOTE_ADDR") or None,
        detail=detail[:300],
    )
    if (trail := getattr(request, "audit", None)) is not None:
        trail.written = True
    return event


def _denied_action(request) -> str:
    match = getattr(request, "resolver_match", None)
    return f"denied.{match.view_name}" if match and match.view_name else "denied"


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_of(request)
        request.audit = trail = AuditTrail()
        response = self.get_response(request)
        if not trail.written:
            if response.status_code in DENIED and request.path.startswith(PATIENT_DATA_PATHS):
                audit_record(request=request, action=trail.action or _denied_action(request),
                             status_code=response.status_code, patient_ids=trail.patient_ids)
            elif trail.patient_ids:
                audit_record(request=request, action=trail.action, status_code=response.status_code,
                             patient_ids=trail.patient_ids)
        response.setdefault("X-Request-ID", request.request_id)
        return response


def audit_read(request, action: str, *patient_ids) -> None:
    """Name the patients a page shows; outside a request (a test calling a view function) it does nothing."""
    if (trail := getattr(request, "audit", None)) is not None:
        trail.read(action, *patient_ids)


def api_key_note_address(*, request, api_key: ClinicAPIKey) -> None:
    """A key used from an address it has not used before leaves a row (and the address is remembered)."""
    address = request.META.get("REMOTE_ADDR") or ""
    if not address or address in (api_key.known_addresses or []):
        return
    # Read again under the row's lock: two processes (each with the key from its own cache) seeing the same new
    # address at once must neither lose the other's address nor audit it twice.
    with transaction.atomic():
        known = (ClinicAPIKey.objects.select_for_update().filter(pk=api_key.pk)
                 .values_list("known_addresses", flat=True).first()) or []
        if address in known:
            api_key.known_addresses = known
            return
        api_key.known_addresses = [*known, address][-ClinicAPIKey.KNOWN_ADDRESSES_KEPT:]
        ClinicAPIKey.objects.filter(pk=api_key.pk).update(known_addresses=api_key.known_addresses)
        AuditEvent.objects.create(
            request_id=request_id_of(request), actor_label=f"API key {api_key.prefix}", actor_api_key=api_key,
            action="api_key.new_address", method=request.method[:10],
            path=request.path.replace("\x00", "\ufffd")[:300], status_code=0, address=address,
        )


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def _signed_in(sender, request, user, **kwargs):
    if getattr(request, "audit", None) is not None:  # a real request, not a test's force_login
        audit_record(request=request, action="sign_in", status_code=200, label=user.get_username())


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # Only the name that was typed: Django already scrubs the password from `credentials`, never log it.
    if getattr(request, "audit", None) is not None:
        typed = str(credentials.get("username", ""))[:100].replace("\x00", "")
        audit_record(request=request, action="sign_in.failed", status_code=401, label=f"anonymous as {typed!r}")
