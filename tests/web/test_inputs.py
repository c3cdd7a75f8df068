"""The pages, the admin and the SMS webhook answer malformed input with a 400 or the form's error, never a 500."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.http import QueryDict
from django.urls import reverse

from notifications.models import InboundMessage
from notifications.views import twilio_signature
from pathway.models import Appointment
from tests.factories import AppointmentFactory

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


# --- NUL characters -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "data"), [
    ("get", "/patients/", {"q": "Ada\x00"}),
    ("post", "/board/", {"q": "\x00"}),
    ("post", "/board/", {"physician": "doc\x00"}),
    ("get", "/board/?physician=%00", None),
    ("get", "/board/evaluation/?page=1%00", None),
])
def test_a_nul_in_a_search_or_filter_is_400(coordinator_client, method, url, data):
    response = getattr(coordinator_client, method)(url, data)
    assert response.status_code == 400
    assert "NUL characters are not allowed" in response.content.decode()


def test_a_nul_in_an_admin_filter_is_400(client, django_user_model, episode):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "pass-word-123"))
    assert client.get("/admin/pathway/episode/?stage=%00").status_code == 400
    assert client.get("/admin/pathway/episode/?q=%00").status_code == 400
    assert client.get("/admin/pathway/episode/?stage=evaluation").status_code == 200


def test_a_nul_in_the_session_cookie_is_400(client, db):
    assert client.get("/board/", HTTP_COOKIE="sessionid=abc\x00").status_code == 400


# --- Dates at the calendar's edges ----------------------------------------------------------------

EDGES = ["0001-01-01T00:00", "9999-12-31T23:59", "1899-12-31T10:00", "2201-01-01T10:00"]


@pytest.mark.parametrize("edge", EDGES)
def test_booking_at_the_calendars_edge_is_the_forms_error(coordinator_client, episode, edge):
    response = coordinator_client.post(f"/patients/{episode.patient.external_id}/appointments/",
                                       {"book-kind": "imaging", "book-minutes": "30", "book-starts_at": edge})
    assert response.status_code == 422
    assert "Enter a date between the years 1900 and 2200." in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("edge", EDGES)
def test_rescheduling_to_the_calendars_edge_is_the_forms_error(coordinator_client, episode, edge):
    appointment = AppointmentFactory(patient=episode.patient)
    before = appointment.starts_at
    key = appointment.external_id.hex[:12]
    response = coordinator_client.post(f"/appointments/{appointment.external_id}/reschedule/",
                                       {f"reschedule-{key}-starts_at": edge, f"reschedule-{key}-minutes": "30"},
                                       HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Enter a date between the years 1900 and 2200." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.starts_at == before


def test_a_pain_entry_at_the_calendars_edge_is_the_forms_error(coordinator_client, episode):
    key = episode.external_id.hex[:12]
    response = coordinator_client.post(f"/episodes/{episode.external_id}/pain/",
                                       {f"pain-{key}-phase": "baseline", f"pain-{key}-nrs": "5",
                                        f"pain-{key}-recorded_at": "9999-12-31T23:59"})
    assert response.status_code == 422
    assert not episode.pain_entries.exists()


# --- The board's page number ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["9223372036854775808", "99999999999999999999999", "0", "-1", "two", "¹"])
def test_a_board_page_number_out_of_range_is_400(coordinator_client, page):
    assert coordinator_client.get(f"/board/evaluation/?page={page}").status_code == 400
    assert coordinator_client.post("/board/evaluation/", {"page": page}, HTTP_HX_REQUEST="true").status_code == 400


# --- The SMS webhook ------------------------------------------------------------------------------

WEBHOOK_URL = "http://testserver/sms/inbound/"


@pytest.fixture
def twilio(settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "TWILIO_AUTH_TOKEN": "test-auth-token",
                              "TWILIO_WEBHOOK_URL": ""}


def signed_post(client, **fields):
    data = {"MessageSid": "SM0001", "From": "+15557654321", "To": "+15550100100", "Body": "C", **fields}
    params = QueryDict(mutable=True)
    params.update(data)
    return client.post(reverse("notifications:sms-inbound"), data,
                       HTTP_X_TWILIO_SIGNATURE=twilio_signature(WEBHOOK_URL, params, "test-auth-token"))


@pytest.mark.parametrize("fields", [
    {"Body": "ST\x00OP"}, {"From": "+1555\x00"}, {"MessageSid": "SM\x00"},
    {"MessageSid": "SM" + "1" * 63}, {"From": "+1" + "5" * 40}, {"Body": "x" * 1601},
], ids=["nul-body", "nul-from", "nul-sid", "long-sid", "long-from", "long-body"])
def test_a_signed_webhook_with_a_malformed_field_is_400_and_stores_nothing(client, db, twilio, fields):
    response = signed_post(client, **fields)
    assert response.status_code == 400
    name = next(iter(fields))
    assert name in response.content.decode()
    assert not InboundMessage.objects.exists()


def test_a_signed_webhook_with_ordinary_fields_is_still_taken(client, db, twilio):
    assert signed_post(client).status_code == 200
    assert InboundMessage.objects.count() == 1
