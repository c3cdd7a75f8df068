"""Two checks every answer passes: Cache-Control for everything Django writes, and a NUL character refused
before any view runs."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.cache import add_never_cache_headers

from .inputs import NUL, NUL_MESSAGE

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class NoStoreMiddleware:
    """`Cache-Control: no-store` (and private, no-cache) on every response that passes through Django.

    Nearly every page and API answer holds patient data, and a shared workstation's browser cache or a proxy
    must keep none of it; listing the few that hold none is not worth the risk of forgetting one. Static files
    never reach this middleware: WhiteNoise, above it, answers them with its own long-lived caching.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response

# A NUL character: one check at the door covers the API, the pages, the admin's filters and the SMS webhook
# alike. Nothing a person or a system legitimately sends contains one, and PostgreSQL text cannot store it.
# The answer names where it was found: problem+json under /api/, plain text elsewhere.


def _nul_location(request) -> str | None:
    if NUL in request.path_info:
        return "path"
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            return f"query parameter {name!r}".replace(NUL, "\\x00")
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) and NUL in str(value):
            header = key.removeprefix("HTTP_").replace("_", "-").title()
            return f"header {header!r}"
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
        try:
            fields = list(request.POST.lists())
        except MultiPartParserError:
            return None  # malformed: Django's own handling answers it
        for name, values in fields:
            if NUL in name or any(NUL in value for value in values):
                return f"form field {name!r}".replace(NUL, "\\x00")
    return None


def _refusal(request, where: str):
    detail = f"{NUL_MESSAGE[:-1]} (found in the {where})."
    if request.path_info.startswith("/api/"):
        from api.audit import request_id_of
        from api.errors import PROBLEM_CONTENT_TYPE, TYPE_PREFIX

        request_id = request_id_of(request)
        body = {"type": TYPE_PREFIX + "nul_character", "title": "Invalid input", "status": 400,
                "detail": detail, "code": "nul_character", "instance": f"urn:request:{request_id}"}
        response = JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
        response["X-Request-ID"] = request_id
        return response
    return HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (where := _nul_location(request)) is not None:
            return _refusal(request, where)
        return self.get_response(request)
