"""Making and revoking feeds from the web page and the admin; one patient's appointments as a file; the token
in no log line."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from icalendar import Calendar

from api.models import AuditEvent
from calendars.models import CalendarFeed
from config.log_redaction import redact
from pathway import services as pathway_services
from pathway.actors import Actor
from pathway.management.staff_access import staff_access_sync
from pathway.stages import AppointmentKind, Role
from tests.factories import AppointmentFactory, EpisodeFactory, staff
from tests.test_logging import Walk, gunicorn_access_log, log_lines  # noqa: F401 (a fixture)

from .conftest import signed_in

pytestmark = pytest.mark.django_db
CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 3, 5, 9, 0, tzinfo=CHICAGO)
LINK = re.compile(r'value="(https?://[^"]+/calendars/([A-Za-z0-9_-]+)\.ics)"')


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def make_link(client, owner) -> tuple[str, str]:
    response = client.post("/calendar-feeds/new/", {"owner": owner})
    assert response.status_code == 201, response.content.decode()
    url, token = LINK.search(response.content.decode()).groups()
    return url, token


def test_a_physician_makes_their_own_link_and_sees_it_once(physician_client, physician):
    page = physician_client.get("/calendar-feeds/").content.decode()
    assert "My appointments" in page and "No link yet." in page
    url, token = make_link(physician_client, "me")
    assert url.startswith("http://testserver/calendars/")
    assert Client().get(f"/calendars/{token}.ics").status_code == 200
    again = physician_client.get("/calendar-feeds/").content.decode()
    assert token not in again and "never" not in again  # read once just now
    feed = CalendarFeed.objects.get()
    assert feed.physician == physician and feed.created_by == physician and feed.created_at == NOW


def test_a_coordinator_makes_and_revokes_the_clinic_link(coordinator_client, coordinator, clinic):
    page = coordinator_client.get("/calendar-feeds/").content.decode()
    assert "North Pain Clinic: all appointments" in page and "My appointments" not in page
    _, token = make_link(coordinator_client, str(clinic.external_id))
    feed = CalendarFeed.objects.get()
    assert feed.clinic == clinic
    response = coordinator_client.post(f"/calendar-feeds/{feed.external_id}/revoke/", follow=True)
    assert "no longer opens" in response.content.decode()
    feed.refresh_from_db()
    assert feed.revoked_at == NOW and feed.revoked_by == coordinator
    assert Client().get(f"/calendars/{token}.ics").status_code == 404


def test_a_physician_may_not_make_the_clinic_link(physician_client, clinic):
    assert physician_client.post("/calendar-feeds/new/", {"owner": str(clinic.external_id)}).status_code == 404
    assert not CalendarFeed.objects.exists()


def test_an_unknown_owner_is_refused_and_changes_nothing(coordinator_client, other_clinic):
    for owner in ("", "nobody", str(other_clinic.external_id)):
        response = coordinator_client.post("/calendar-feeds/new/", {"owner": owner})
        assert response.status_code == 400 and "Choose whose calendar feed" in response.content.decode()
    # A coordinator has no feed of their own: "me" is a physician's.
    response = coordinator_client.post("/calendar-feeds/new/", {"owner": "me"})
    assert response.status_code == 400 and "Only a physician" in response.content.decode()
    assert not CalendarFeed.objects.exists()


def test_another_clinics_feed_cannot_be_revoked(coordinator_client, other_clinic, outsider):
    client = signed_in(outsider)
    make_link(client, str(other_clinic.external_id))
    feed = CalendarFeed.objects.get()
    assert coordinator_client.post(f"/calendar-feeds/{feed.external_id}/revoke/").status_code == 404
    feed.refresh_from_db()
    assert feed.revoked_at is None


def test_front_desk_has_no_feed_page(front_desk):
    assert signed_in(front_desk).get("/calendar-feeds/").status_code == 403


def test_the_feed_page_and_the_patient_page_link_it(coordinator_client, episode):
    page = coordinator_client.get(f"/patients/{episode.patient.external_id}/").content.decode()
    assert f'href="/patients/{episode.patient.external_id}/appointments.ics"' in page
    assert "Download appointments (.ics)" in page and 'href="/calendar-feeds/"' in page


# --- One patient's appointments as a file ------------------------------------------------------------


def test_a_coordinator_downloads_a_patients_upcoming_appointments(coordinator_client, coordinator, episode):
    patient = episode.patient
    actor = Actor.for_user(coordinator)
    soon = AppointmentFactory(patient=patient, starts_at=NOW + timedelta(days=2), kind=AppointmentKind.PRE_OP)
    cancelled = AppointmentFactory(patient=patient, starts_at=NOW + timedelta(days=3))
    pathway_services.appointment_cancel(appointment=cancelled, actor=actor, reason="moved away")
    past = AppointmentFactory(patient=patient, starts_at=NOW - timedelta(days=1))
    someone_else = AppointmentFactory(patient__clinic=patient.clinic, starts_at=NOW + timedelta(days=2))

    response = coordinator_client.get(f"/patients/{patient.external_id}/appointments.ics")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="appointments.ics"'
    body = response.content.decode()
    (event,) = Calendar.from_ical(body).events
    assert str(event["UID"]) == f"{soon.external_id}@drg-pathway.invalid" and event.start == soon.starts_at
    assert str(event["SUMMARY"]) == "Pre-op" and str(event["LOCATION"]) == "North Pain Clinic"
    assert "+15550100100" in str(event["DESCRIPTION"])
    for absent in (cancelled, past, someone_else):
        assert str(absent.external_id) not in body
    for secret in (patient.given_name, patient.family_name, patient.mrn, "G90.521"):
        assert secret not in body
    row = AuditEvent.objects.get()
    assert row.action == "web.patient_appointments_ics" and row.patient_ids == [str(patient.external_id)]


def test_a_patient_file_is_for_clinical_staff_of_the_patients_clinic(front_desk, outsider, episode):
    url = f"/patients/{episode.patient.external_id}/appointments.ics"
    assert signed_in(front_desk).get(url).status_code == 403
    assert signed_in(outsider).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the sign-in page
    assert {r.status_code for r in AuditEvent.objects.all()} == {403, 404}


# --- The admin ----------------------------------------------------------------------------------------


def test_a_clinic_administrator_makes_and_revokes_links_in_the_admin(clinic, other_clinic, physician):
    administrator = staff(clinic, Role.ADMIN, username="north-admin")
    staff_access_sync(user=administrator)
    client = signed_in(administrator)
    response = client.post("/admin/calendars/calendarfeed/add/", {"clinic": clinic.pk}, follow=True)
    text = response.content.decode()
    token = re.search(r"/calendars/([A-Za-z0-9_-]+)\.ics", text).group(1)
    assert "not shown again" in text
    assert Client().get(f"/calendars/{token}.ics").status_code == 200

    response = client.post("/admin/calendars/calendarfeed/add/", {"physician": physician.pk}, follow=True)
    assert CalendarFeed.objects.filter(physician=physician, revoked_at__isnull=True).count() == 1
    # Another clinic is not theirs to give a feed.
    response = client.post("/admin/calendars/calendarfeed/add/", {"clinic": other_clinic.pk})
    assert response.status_code == 200 and not CalendarFeed.objects.filter(clinic=other_clinic).exists()

    ids = list(CalendarFeed.objects.values_list("pk", flat=True))
    client.post("/admin/calendars/calendarfeed/", {"action": "revoke", "_selected_action": ids})
    assert not CalendarFeed.objects.filter(revoked_at__isnull=True).exists()
    assert Client().get(f"/calendars/{token}.ics").status_code == 404


def test_the_admin_lists_only_feeds_of_the_administrators_clinics(clinic, other_clinic, outsider):
    make_link(signed_in(outsider), str(other_clinic.external_id))
    administrator = staff(clinic, Role.ADMIN, username="north-admin")
    staff_access_sync(user=administrator)
    page = signed_in(administrator).get("/admin/calendars/calendarfeed/").content.decode()
    assert "South Pain Clinic" not in page and "0 calendar feeds" in page


# --- Logs -------------------------------------------------------------------------------------------


def test_the_token_is_in_no_log_line(log_lines, coordinator_client, clinic, tmp_path):  # noqa: F811
    EpisodeFactory(patient__clinic=clinic)
    _, token = make_link(coordinator_client, str(clinic.external_id))
    walk = Walk()
    feed = Client()
    assert walk.call(feed, "get", f"/calendars/{token}.ics").status_code == 200
    assert walk.call(feed, "get", f"/calendars/{token[:-2]}xx.ics").status_code == 404
    assert walk.call(feed, "get", f"/calendars/{token}").status_code == 404  # the .ics forgotten
    for method, url, _ in walk.requests:
        logging.getLogger("django.server").info('"%s" %s %s', f"{method} {url} HTTP/1.1", "200", "1234")
    logged = log_lines.getvalue()
    access = gunicorn_access_log(walk.requests, tmp_path / "access.log")
    assert "Not Found: /calendars/[token].ics" in logged and "Not Found: /calendars/[token]\n" in logged
    assert '"GET /calendars/[token].ics HTTP/1.1"' in access and '"/calendars/[token].ics"' in access
    for output in (logged, access):
        assert token not in output and token[:20] not in output


@pytest.mark.parametrize(("line", "expected"), [
    ('"GET /calendars/Ab_c-123dEf.ics HTTP/1.1" 200', '"GET /calendars/[token].ics HTTP/1.1" 200'),
    ("Not Found: /calendars/Ab_c-123dEf", "Not Found: /calendars/[token]"),
    ("https://pathway.example.org/calendars/Ab_c-123dEf.ics?x=1",
     "https://pathway.example.org/calendars/[token].ics?x=[redacted]"),
    ("/calendar-feeds/new/", "/calendar-feeds/new/"),
])
def test_redact_masks_a_feed_token(line, expected):
    assert redact(line) == expected


