"""Liveness and readiness probes and the API's unknown-path answer: plain Django views, no patient data."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.http import require_GET

from config.celery_app import app as celery_app


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    """Connect with the Celery app's own broker settings, giving up after a short timeout."""
    timeout = settings.API["READY_BROKER_TIMEOUT_SECONDS"]
    try:
        with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=0, timeout=timeout)
        return True
    except Exception:
        return False


@require_GET
def readyz(request):
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ready = all(checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def api_not_found(request):
    body = {"type": "urn:drg-pathway:problem:not_found", "title": "Not found", "status": 404, "code": "not_found",
            "detail": "No such endpoint. Paths end with a slash, e.g. /api/v1/patients/; see /api/docs/."}
    return JsonResponse(body, status=404, content_type="application/problem+json")


def server_error(request):
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    body = {"type": "urn:drg-pathway:problem:server_error", "title": "Server error", "status": 500,
            "code": "server_error", "detail": "Something went wrong on our side; nothing you did."}
    return JsonResponse(body, status=500, content_type="application/problem+json")
