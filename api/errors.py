"""Every error the API answers is an RFC 9457 problem document, built here and nowhere else.

Domain refusals (pathway.errors) and DRF's own exceptions map to a status and a stable `code`:
InvalidInput → 400 with per-field `errors`, NotPermitted → 403, TransitionRefused → 409 with the
`stage`, `allowed_transitions` and `unmet` guards, StateRefused (input refused by the object's state: a
completed appointment, a checklist item whose evidence is missing) → 409 in that same shape, Conflict and
DuplicateBooking → 409, not found (or another clinic's) → 404, and anything unexpected → 500, logged.
"""

from __future__ import annotations

import logging
import math
import traceback

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from pathway.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    DuplicateBooking,
    InvalidInput,
    NotPermitted,
    StateRefused,
    TransitionRefused,
)

from .parsers import BodyRefused

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:drg-pathway:problem:"

# DRF's exception codes → our stable codes (anything else keeps DRF's default_code).
DRF_CODES = {
    "permission_denied": "forbidden",
    "invalid": "invalid",
    "parse_error": "malformed_body",
}
TITLES = {
    400: "Invalid input",
    401: "Authentication required",
    403: "Not permitted for your role",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Server error",
}


class UnknownReference(exceptions.APIException):
    """The body or query names an object this caller cannot see (a patient, a username): 404, as the
    object's own URL would answer, with `errors` naming the field so it is not mistaken for a wrong URL."""

    status_code = 404
    default_code = "not_found"

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("Not found: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem document; the optional members appear with the errors that carry them."""

    type = serializers.CharField(help_text="URI naming the kind of problem; ends with the code.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable, machine-readable: invalid, forbidden, not_found, "
                                           "transition_refused, conflict, throttled, …")
    instance = serializers.CharField(required=False, help_text="urn:request:<request id>")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="Validation errors per field.",
    )
    stage = serializers.CharField(required=False, help_text="The state the refusal depends on: the episode's "
                                                            "stage, or the appointment's status.")
    allowed_transitions = serializers.ListField(child=serializers.CharField(), required=False)
    unmet = serializers.ListField(child=serializers.CharField(), required=False,
                                  help_text="The guards that are not met, in words.")
    appointment = serializers.UUIDField(required=False, help_text="duplicate_booking: the appointment "
                                                                  "already booked.")


def problem_response(
    *, status_code: int, code: str, detail: str, title: str | None = None, request=None, headers=None, **members
) -> Response:
    body = {
        "type": TYPE_PREFIX + code,
        "title": title or TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["instance"] = f"urn:request:{request_id}"
    body.update({k: v for k, v in members.items() if v is not None})
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def _field_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error detail into {"field" or "field.sub": [messages]}."""
    if isinstance(detail, dict):
        errors: dict[str, list[str]] = {}
        for name, value in detail.items():
            errors.update(_field_errors(value, f"{prefix}.{name}" if prefix else str(name)))
        return errors
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        errors = {}
        for index, value in enumerate(detail):
            errors.update(_field_errors(value, f"{prefix}.{index}" if prefix else str(index)))
        return errors
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]}


def _errors_of(exc: InvalidInput) -> dict[str, list[str]]:
    return {("non_field_errors" if k == "__all__" else k): [str(m) for m in v] for k, v in exc.errors.items()}


def _domain_problem(exc: DomainError, request) -> Response:
    if isinstance(exc, StateRefused):
        # Right in itself, refused by the object's state: a conflict, shaped like a refused transition.
        return problem_response(status_code=409, code=exc.code, title=exc.title, detail=exc.detail, request=request,
                                stage=exc.state, allowed_transitions=exc.allowed,
                                unmet=[m for messages in exc.errors.values() for m in messages],
                                errors=_errors_of(exc))
    if isinstance(exc, AlreadyExists):
        return problem_response(status_code=409, code=exc.code, title=exc.title, detail="Already taken.",
                                errors=_errors_of(exc), request=request)
    if isinstance(exc, InvalidInput):
        return problem_response(status_code=400, code=exc.code, title=exc.title, detail="Some fields are not valid.",
                                errors=_errors_of(exc), request=request)
    if isinstance(exc, NotPermitted):
        return problem_response(status_code=403, code=exc.code, title=exc.title, detail=exc.detail, request=request)
    if isinstance(exc, TransitionRefused):
        return problem_response(status_code=409, code=exc.code, title=exc.title, detail=exc.detail, request=request,
                                stage=exc.stage, allowed_transitions=list(exc.allowed), unmet=list(exc.unmet))
    if isinstance(exc, DuplicateBooking):
        return problem_response(status_code=409, code=exc.code, title=exc.title, detail=exc.detail, request=request,
                                appointment=str(exc.existing))
    if isinstance(exc, Conflict):
        return problem_response(status_code=409, code=exc.code, title=exc.title, detail=exc.detail, request=request,
                                stage=exc.stage)
    return problem_response(status_code=400, code=exc.code, title=exc.title, detail=exc.detail, request=request)


def problem_exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, DomainError):
        return _domain_problem(exc, request)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return problem_response(status_code=404, code="not_found", detail="No such object.", request=request)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return _unexpected(exc, request)

    headers = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if isinstance(exc, exceptions.Throttled):
        wait = math.ceil(exc.wait) if exc.wait is not None else 60
        headers["Retry-After"] = str(max(wait, 1))
        return problem_response(status_code=429, code="throttled", request=request, headers=headers,
                                detail=f"Request limit reached; retry in {max(wait, 1)} seconds.")
    code = DRF_CODES.get(exc.default_code, exc.default_code)
    if isinstance(exc, UnknownReference):
        return problem_response(status_code=404, code=code, detail=str(exc.detail), errors=exc.errors,
                                request=request)
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(status_code=400, code="invalid", detail="Some fields are not valid.",
                                errors=_field_errors(exc.detail), request=request, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if isinstance(exc, exceptions.ParseError) and not isinstance(exc, BodyRefused):
        detail = "The body is not valid JSON."
    return problem_response(status_code=exc.status_code, code=code, detail=str(detail), request=request,
                            headers=headers)


def _unexpected(exc: Exception, request) -> Response:
    """A bug: logged with its traceback and the request id, answered as a problem the caller can quote.

    The log names the exception's type and where it was raised, not its message: a database error's
    message can quote the values (names, MRNs) it was given.
    """
    request_id = getattr(request, "request_id", None) or "unknown"
    logger.error(
        "Unexpected %s in %s %s (request %s)\n%s", type(exc).__name__, getattr(request, "method", "?"),
        getattr(request, "path", "?"), request_id, "".join(traceback.format_tb(exc.__traceback__)),
    )
    return problem_response(status_code=500, code="server_error", request=request,
                            detail=f"Something went wrong on our side; nothing you did. Quote request "
                                   f"{request_id} when you report it.")


def problem_statuses(*, method: str) -> list[int]:
    """The error statuses every operation may answer (described in the schema)."""
    statuses = [status.HTTP_400_BAD_REQUEST, 401, 403, 404, 405, 406, 429, 500]
    if method in {"POST", "PATCH", "PUT"}:
        statuses += [409, 415, 422]
    return sorted(statuses)
