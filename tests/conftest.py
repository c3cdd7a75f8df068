import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings

# `make test` runs the suite twice: on PostgreSQL + Redis (the "server run") and on SQLite with a local
# broker. Server-bound tests skip where their server is absent, except when the server run is required
# (TEST_SERVERS=required, set by `make test` when CI is set): then a missing server is a failure.
SERVERS_REQUIRED = os.environ.get("TEST_SERVERS") == "required"


def redis_answers() -> bool:
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        return False
    url = urlparse(settings.CELERY_BROKER_URL)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


def on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_runtest_setup(item):
    missing = []
    if item.get_closest_marker("postgres") and not on_postgres():
        missing.append("PostgreSQL (set DATABASE_URL)")
    if item.get_closest_marker("redis") and not redis_answers():
        missing.append("Redis (set REDIS_URL)")
    if missing:
        message = "needs " + " and ".join(missing)
        if SERVERS_REQUIRED:
            pytest.fail(message + ", which this run requires")
        pytest.skip(message)
