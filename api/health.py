"""Liveness and readiness probes: plain Django views, no authentication, no patient data."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
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
