"""A demo walk leaves no phone number, MRN, name, address, birth date or diary token in any log line or console.

The walk signs in, opens the worklist and a patient's page, searches (the web's POST, the admin's ?q=, the API's
?search=&mrn=&birth_date=), books an appointment through the API, sends the digest, a diary prompt and a
reminder through the console backends, and opens the diary link (a good one and a tampered one). What is read:
every line Django's configured handler writes, runserver's request lines (django.server) and gunicorn's access
log for the same requests (config/gunicorn.py), and what the console backends print.
"""

from __future__ import annotations

import io
import logging
import runpy
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from gunicorn.config import Config
from rest_framework.test import APIClient

from api.models import ClinicAPIKey
from config.log_redaction import GunicornLogger, redact
from notifications import services
from notifications.messages import diary_token
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, advance_to, staff
from tests.notifications.helpers import send_due

pytestmark = pytest.mark.django_db
CHICAGO = ZoneInfo("America/Chicago")


def chicago(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


class Walk:
    """Records every request as runserver and gunicorn would see it, with the previous URL as the referer."""

    def __init__(self):
        self.requests: list[tuple[str, str, str]] = []

    def call(self, client, method: str, url: str, *args, **kwargs):
        referer = self.requests[-1][1] if self.requests else ""
        response = getattr(client, method)(url, *args, HTTP_REFERER=referer, **kwargs)
        self.requests.append((method.upper(), url, referer))
        return response


@pytest.fixture
def log_lines():
    """What the configured console handler (settings.LOGGING, the one every logger writes through) writes."""
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


@pytest.fixture
def console_settings(settings):
    settings.EMAIL_BACKEND = "notifications.channels.console.MaskingConsoleEmailBackend"
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "SMS_BACKEND": "console",
                              "PUBLIC_BASE_URL": "https://pathway.example.org"}


def gunicorn_access_log(requests, path) -> str:
    conf = runpy.run_path("config/gunicorn.py")
    cfg = Config()
    cfg.set("access_log_format", conf["access_log_format"])
    cfg.set("accesslog", str(path))
    logger = GunicornLogger(cfg)
    assert conf["logger_class"] == "config.log_redaction.GunicornLogger"
    for method, url, referer in requests:
        raw_path, _, query = url.partition("?")
        environ = {"REQUEST_METHOD": method, "RAW_URI": url, "PATH_INFO": raw_path, "QUERY_STRING": query,
                   "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7", "HTTP_REFERER": referer or "-",
                   "HTTP_USER_AGENT": "Mozilla/5.0"}
        request = SimpleNamespace(headers=[("REFERER", referer)])
        logger.access(SimpleNamespace(status="200 OK", sent=1234, headers=[]), request, environ,
                      timedelta(milliseconds=12))
    for handler in logger.access_log.handlers:
        handler.flush()
    return path.read_text()


def test_a_demo_walk_logs_no_patient_data(log_lines, console_settings, capsys, admin_user, tmp_path):
    walk = Walk()
    clinic = ClinicFactory(slug="north", name="North Pain Clinic")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", email="cora@example.org")
    coordinator.set_password("walk-pass-2026")
    coordinator.save()
    patient = PatientFactory(
        clinic=clinic, given_name="Walkthrough", family_name="Quillfeather", mrn="DEMO-WALK",
        birth_date=datetime(1961, 4, 17).date(), phone="+15557654321", email="walk.quill@example.net",
        sms_consent=True, diary_consent=True,
    )
    with time_machine.travel(chicago(2026, 2, 26, 12, 0), tick=False):
        episode = advance_to(EpisodeFactory(patient=patient), "trial")  # expected to end on 5 March

    # The morning digest names the trial ending today by initials and MRN.
    with time_machine.travel(chicago(2026, 3, 5, 7, 30), tick=False):
        services.digests_plan()
        assert send_due() == ["sent"]

    with time_machine.travel(chicago(2026, 3, 5, 10, 0), tick=False):
        web = Client()
        assert walk.call(web, "post", reverse("web:login"),
                         {"username": "cora", "password": "walk-pass-2026"}).status_code == 302
        assert walk.call(web, "get", reverse("web:worklist")).status_code == 200
        # The search is a GET form: its query string (a name, an MRN, a birth date, a phone) is in the URL.
        for typed in ("Walkthrough", "DEMO-WALK", "1961-04-17", "%2B15557654321"):
            assert b"Quillfeather" in walk.call(web, "get", f"{reverse('web:patient_search')}?q={typed}").content
        assert walk.call(web, "get", reverse("web:patient", args=[patient.external_id])).status_code == 200
        admin = Client()
        admin.force_login(admin_user)
        assert walk.call(admin, "get", "/admin/pathway/patient/?q=DEMO-WALK").status_code == 200
        _, key = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.FRONT_DESK, name="scheduler")
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        found = walk.call(api, "get", "/api/v1/patients/?search=Walkthrough&mrn=DEMO-WALK&birth_date=1961-04-17")
        assert found.status_code == 200 and found.json()["results"]
        starts = chicago(2026, 3, 10, 10, 0)
        booked = walk.call(api, "post", "/api/v1/appointments/", {
            "patient": str(patient.external_id), "kind": "consultation", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=30)).isoformat()}, format="json")
        assert booked.status_code == 201, booked.content
        assert walk.call(api, "get", "/api/v1/patients/?mrn=NOBODY-HERE&search=Nobody").status_code == 200

    # The diary prompt at 18:00, and the patient opening its link (and a tampered copy of it).
    with time_machine.travel(chicago(2026, 3, 5, 18, 0), tick=False):
        services.diary_prompts_plan()
        assert send_due() == ["sent"]
        token = diary_token(episode_external_id=episode.external_id, day=datetime(2026, 3, 5).date())
    with time_machine.travel(chicago(2026, 3, 5, 18, 5), tick=False):
        phone = Client()
        assert walk.call(phone, "get", reverse("notifications:diary", args=[token])).status_code == 200
        assert walk.call(phone, "get", reverse("notifications:diary", args=[token[:-3] + "xyz"])).status_code == 400

    # The 72-hour reminder of the booked appointment.
    with time_machine.travel(chicago(2026, 3, 7, 10, 0), tick=False):
        assert send_due() == ["sent"]

    # runserver writes each request line through django.server, as basehttp.WSGIRequestHandler.log_message does.
    for method, url, _ in walk.requests:
        logging.getLogger("django.server").info('"%s" %s %s', f"{method} {url} HTTP/1.1", "200", "1234")

    logged = log_lines.getvalue()
    access = gunicorn_access_log(walk.requests, tmp_path / "access.log")
    console = capsys.readouterr().out

    # The walk did reach each output, so finding nothing in them means something.
    assert 'django.server "GET /api/v1/patients/?search=[redacted]&mrn=[redacted]&birth_date=[redacted]' in logged
    assert "Bad Request: /diary/[token]/" in logged
    assert "/admin/pathway/patient/?q=[redacted]" in access and '"https://' not in access
    assert '"GET /patients/?q=[redacted] HTTP/1.1"' in access and '"/patients/?q=[redacted]"' in access
    assert "E-mail to c•••@example.org" in console and "(MRN •••)" in console
    assert console.count("SMS to +•••••••••21") == 2 and "/diary/[token]/" in console

    secrets = {
        "given name": "Walkthrough", "family name": "Quillfeather", "MRN": "DEMO-WALK", "phone": "+15557654321",
        "phone digits": "5557654321", "e-mail": "walk.quill@example.net", "birth date": "1961-04-17",
        "diary token": token.split(":")[0], "diary signature": token.split(":")[-1], "API key": key,
    }
    for output_name, output in (("Django's log", logged), ("gunicorn's access log", access), ("console", console)):
        for line in output.splitlines():
            for what, value in secrets.items():
                assert value not in line, f"{what} in {output_name}: {line}"


@pytest.mark.parametrize(("line", "expected"), [
    ('"GET /api/v1/patients/?search=Ann+Lee&mrn=X1 HTTP/1.1" 200',
     '"GET /api/v1/patients/?search=[redacted]&mrn=[redacted] HTTP/1.1" 200'),
    ("Bad Request: /diary/eyJlIjoiMSJ9:1tZ:abc/", "Bad Request: /diary/[token]/"),
    ("https://pathway.example.org/diary/eyJl:1t:xx/?utm=1",
     "https://pathway.example.org/diary/[token]/?utm=[redacted]"),
    ("/admin/pathway/patient/?q=Lee", "/admin/pathway/patient/?q=[redacted]"),
    ("/x/?DEMO-WALK", "/x/?[redacted]"),
    ("Key (clinic_id, mrn)=(1, DEMO-WALK) already exists.", "Key (clinic_id, mrn)=([redacted]) already exists."),
    ("to +15551234567 or ann@example.org", "to [phone] or [email]"),
    ("Are you sure? Yes.", "Are you sure? Yes."),
    ("3 claims released at 2026-03-05 10:00:00", "3 claims released at 2026-03-05 10:00:00"),
])
def test_redact(line, expected):
    assert redact(line) == expected


def test_a_traceback_is_redacted_too(log_lines):
    try:
        raise ValueError("duplicate: Key (mrn)=(DEMO-WALK) for +15557654321")
    except ValueError:
        logging.getLogger("pathway").exception("failed on /diary/abc:def/")
    logged = log_lines.getvalue()
    assert "DEMO-WALK" not in logged and "+15557654321" not in logged and "abc:def" not in logged
    assert "ValueError" in logged
