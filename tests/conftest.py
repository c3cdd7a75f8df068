import calendar
import os
import re
import socket
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
import time_machine
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


# No result may depend on the day the suite runs. `make test` proves it by running the suite again with the
# clock moved (TEST_CLOCK, see scripts/test.sh), and the clock keeps ticking from there; tests that freeze time
# still freeze it where they say. TEST_CLOCK is one of
#   +400d      400 days from now
#   leap-day   the next 29 February at 18:30 in Chicago, when it is already 1 March in UTC
#   dst        the next spring-forward day in Chicago, two minutes before its clocks jump from 02:00 to 03:00
#   an ISO time, e.g. 2028-02-29T18:30:00-06:00, to repeat a run exactly (the header prints the moment used)
CHICAGO = ZoneInfo("America/Chicago")


def _moved_clock(value: str, now: datetime) -> datetime:
    if match := re.fullmatch(r"\+(\d+)d", value):
        return now + timedelta(days=int(match[1]))
    if value == "leap-day":
        year = next(y for y in range(now.year + 1, now.year + 9) if calendar.isleap(y))
        return datetime(year, 2, 29, 18, 30, tzinfo=CHICAGO)
    if value == "dst":
        day = now.astimezone(CHICAGO).date() + timedelta(days=1)
        while CHICAGO.utcoffset(datetime.combine(day + timedelta(days=1), time())) == CHICAGO.utcoffset(
                datetime.combine(day, time())) or CHICAGO.dst(datetime.combine(day, time())):
            day += timedelta(days=1)
        return datetime.combine(day, time(1, 58), tzinfo=CHICAGO)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pytest_configure(config):
    if value := os.environ.get("TEST_CLOCK"):
        config._moved_clock = time_machine.travel(_moved_clock(value, datetime.now(UTC)), tick=True)
        config._moved_clock.start()


def pytest_report_header(config):
    if os.environ.get("TEST_CLOCK"):
        return f"clock moved (TEST_CLOCK={os.environ['TEST_CLOCK']}): now is {datetime.now(UTC).isoformat()}"
    return None


def pytest_unconfigure(config):
    if moved := getattr(config, "_moved_clock", None):
        moved.stop()
