"""The schedule (a day, a week) in the clinic's time, check-in from it, booking from an empty slot; and the
patient search as a GET form whose query string stays out of the access log."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from api.models import AuditEvent
from notifications.models import Reminder, ReminderStatus
from pathway import services
from pathway.actors import Actor
from pathway.models import Appointment
from pathway.stages import AppointmentStatus, Role
from tests.factories import AppointmentFactory, ClinicFactory, EpisodeFactory, PatientFactory, staff
from tests.test_logging import gunicorn_access_log
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db
CHICAGO = ZoneInfo("America/Chicago")
# Wednesday 4 March 2026, 07:30 in Chicago (13:30 UTC): the clinic opens at 08:00.
NOW = datetime(2026, 3, 4, 7, 30, tzinfo=CHICAGO)
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/schedule/"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CHICAGO)


def book(episode, coordinator, starts_at, kind="consultation", minutes=30) -> Appointment:
    return services.appointment_book(patient=episode.patient, actor=Actor.for_user(coordinator), kind=kind,
                                     starts_at=starts_at, ends_at=starts_at + timedelta(minutes=minutes),
                                     episode=episode)


@pytest.fixture
def reachable(episode):
    """The episode's patient can be reminded by SMS, so a booking gets its reminders."""
    patient = episode.patient
    patient.sms_consent, patient.family_name, patient.given_name = True, "Testpatient", "Maren"
    patient.save()
    return episode


def day_page(client, query="date=2026-03-05") -> str:
    response = client.get(f"/schedule/?{query}")
    assert response.status_code == 200, response.content
    return response.content.decode()


# --- The day and the week ---------------------------------------------------------------------------------


def test_the_day_shows_each_appointment_in_clinic_time_with_its_confirmation_and_reminders(
    coordinator_client, coordinator, reachable,
):
    appointment = book(reachable, coordinator, at(9, day=5))  # 15:00 UTC
    services.appointment_confirm(appointment=appointment)
    reminders = Reminder.objects.filter(appointment=appointment).order_by("scheduled_for")
    assert reminders.count() == 2  # 72 h and 24 h before
    Reminder.objects.filter(pk=reminders[0].pk).update(status=ReminderStatus.FAILED, reason="carrier refused")
    page = day_page(coordinator_client)
    assert "Thursday 5 March 2026" in page
    assert "09:00–09:30" in page and "Testpatient, Maren" in page and "Consultation" in page
    assert "Booked" in page and "confirmed Wed" in page
    assert "1 failed, 1 pending" in page and 'class="appt-failed"' in page
    assert "times in America/Chicago" in page


def test_an_unconfirmed_appointment_says_so(coordinator_client, coordinator, reachable):
    book(reachable, coordinator, at(11, day=5))
    assert "not confirmed" in day_page(coordinator_client)


def test_a_physician_sees_their_own_appointments_until_choosing_all(
    physician_client, coordinator, reachable, clinic,
):
    colleague = staff(clinic, Role.PHYSICIAN, username="drother", first_name="Otto", last_name="Colleague")
    theirs = EpisodeFactory(patient__clinic=clinic, patient__family_name="Elsewhereson", physician=colleague)
    book(reachable, coordinator, at(9, day=5))
    book(theirs, coordinator, at(10, day=5))
    own = day_page(physician_client)
    assert "Testpatient" in own and "Elsewhereson" not in own
    everyone = day_page(physician_client, "date=2026-03-05&physician=")
    assert "Testpatient" in everyone and "Elsewhereson" in everyone
    assert "Elsewhereson" in day_page(physician_client, "date=2026-03-05&physician=drother")


def test_an_appointment_without_an_episode_belongs_to_the_patients_primary_physician(
    coordinator_client, clinic, physician,
):
    AppointmentFactory(patient=PatientFactory(clinic=clinic, family_name="Loosely", primary_physician=physician),
                       starts_at=at(9, day=5))
    assert "Loosely" in day_page(coordinator_client, "date=2026-03-05&physician=drphys")


def test_the_kind_filter_lists_one_kind_but_other_kinds_still_fill_their_slots(
    coordinator_client, coordinator, reachable,
):
    book(reachable, coordinator, at(9, day=5), kind="imaging")
    book(reachable, coordinator, at(11, day=5), kind="consultation")
    page = day_page(coordinator_client, "date=2026-03-05&kind=consultation&physician=drphys")
    assert "11:00–11:30" in page and "09:00–09:30" not in page
    assert "starts=2026-03-05T09%3A00" not in page  # the physician is busy with the imaging then
    assert "starts=2026-03-05T09%3A30" in page


def test_empty_slots_within_opening_hours_link_to_booking(coordinator_client, coordinator, reachable):
    book(reachable, coordinator, at(9, day=4), minutes=60)
    page = day_page(coordinator_client, "date=2026-03-04")
    assert "starts=2026-03-04T08%3A00&amp;minutes=30" in page  # 08:00 has not begun at 07:30
    assert "starts=2026-03-04T09%3A00" not in page and "starts=2026-03-04T09%3A30" not in page
    assert "starts=2026-03-04T10%3A00" in page and "starts=2026-03-04T16%3A30" in page
    assert "starts=2026-03-04T17%3A00" not in page  # closed from 17:00


def test_slots_that_have_begun_are_not_offered(coordinator):
    with time_machine.travel(at(12, 10), tick=False):
        page = day_page(signed_in(coordinator), "date=2026-03-04")
    assert "starts=2026-03-04T12%3A00" not in page and "starts=2026-03-04T12%3A30" in page


def test_opening_hours_and_slot_length_are_settings(coordinator_client, settings):
    settings.WEB_SCHEDULE_OPENS, settings.WEB_SCHEDULE_CLOSES, settings.WEB_SCHEDULE_SLOT_MINUTES = "10:00", "12:00", 20
    page = day_page(coordinator_client)
    assert "starts=2026-03-05T10%3A00&amp;minutes=20" in page and "starts=2026-03-05T11%3A40" in page
    assert "starts=2026-03-05T09%3A40" not in page and "starts=2026-03-05T12%3A00" not in page


def test_an_appointment_outside_opening_hours_is_shown_but_its_slot_is_not_bookable(
    coordinator_client, coordinator, reachable,
):
    book(reachable, coordinator, at(18, 15, day=5))
    page = day_page(coordinator_client)
    assert "18:15–18:45" in page
    assert "<th scope=\"row\">18:00</th>" in page and "starts=2026-03-05T18%3A30" not in page


def test_without_a_date_the_schedule_shows_today_in_the_clinics_zone(coordinator_client):
    page = day_page(coordinator_client, "")
    assert "Schedule: Wednesday 4 March 2026" in page and 'name="date" value="2026-03-04"' in page


def test_a_closed_day_offers_no_slot(coordinator_client):
    assert "The clinic is closed on Saturday 7 March" in day_page(coordinator_client, "date=2026-03-07")


def test_a_cancelled_appointment_is_shown_and_frees_its_slot(coordinator_client, coordinator, reachable):
    appointment = book(reachable, coordinator, at(9, day=5))
    services.appointment_cancel(appointment=appointment, actor=Actor.for_user(coordinator), reason="patient ill")
    page = day_page(coordinator_client)
    assert "Cancelled" in page and "starts=2026-03-05T09%3A00" in page
    assert "pending" not in page  # its reminders went with it


def test_the_week_has_the_open_days_and_any_other_day_with_an_appointment(
    coordinator_client, coordinator, reachable,
):
    book(reachable, coordinator, at(9, day=5))
    book(reachable, coordinator, at(10, day=8))  # a Sunday, the day the clocks go forward: still at 10:00
    response = coordinator_client.get("/schedule/week/?date=2026-03-05")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Week of 2 March – 8 March 2026" in page
    for label in ("Mon 2 Mar", "Tue 3 Mar", "Wed 4 Mar", "Thu 5 Mar", "Fri 6 Mar", "Sun 8 Mar"):
        assert label in page
    assert "Sat 7 Mar" not in page
    assert page.count("Testpatient, Maren</a>") == 2
    assert "starts=2026-03-08T" not in page  # Sunday is not an opening day


def test_previous_next_and_today_keep_the_filters(physician_client):
    page = day_page(physician_client, "date=2026-03-05&kind=imaging")
    assert "/schedule/?date=2026-03-04&amp;physician=drphys&amp;kind=imaging&amp;clinic=north" in page
    assert "/schedule/?date=2026-03-06&amp;physician=drphys&amp;kind=imaging&amp;clinic=north" in page
    week = physician_client.get("/schedule/week/?date=2026-03-05&physician=").content.decode()
    assert "/schedule/week/?date=2026-02-26&amp;physician=&amp;kind=&amp;clinic=north" in week
    assert "/schedule/week/?date=2026-03-12&amp;physician=&amp;kind=&amp;clinic=north" in week
    assert "/schedule/week/?date=2026-03-04&amp;physician=&amp;kind=&amp;clinic=north" in week  # today


@pytest.mark.parametrize("query", ["date=2026-02-30", "date=tomorrow", "kind=massage", "physician=nobody",
                                   "clinic=south"])
def test_a_filter_it_cannot_read_is_400_with_the_reason(coordinator_client, other_clinic, query):
    response = coordinator_client.get(f"/schedule/?{query}")
    assert response.status_code == 400
    assert "Error:" in response.content.decode()


def test_another_clinics_appointments_stay_off_the_schedule(coordinator_client, other_clinic):
    AppointmentFactory(patient=PatientFactory(clinic=other_clinic, family_name="Faraway"), starts_at=at(9, day=5))
    assert "Faraway" not in day_page(coordinator_client)


def test_a_clinician_of_two_clinics_chooses_the_clinic_and_sees_its_time(db, other_clinic, clinic):
    other_clinic.time_zone = "America/Denver"
    other_clinic.save()
    user = staff(clinic, Role.COORDINATOR, username="both")
    staff(other_clinic, Role.COORDINATOR, username="both")
    AppointmentFactory(patient=PatientFactory(clinic=other_clinic, family_name="Mountainview"),
                       starts_at=datetime(2026, 3, 5, 9, 0, tzinfo=ZoneInfo("America/Denver")))
    client = signed_in(user)
    assert "Mountainview" not in day_page(client)
    south = day_page(client, "date=2026-03-05&clinic=south")
    assert "Mountainview" in south and "09:00–09:30" in south and "America/Denver" in south


def test_reading_the_schedule_is_audited_with_its_patients(coordinator_client, coordinator, reachable):
    book(reachable, coordinator, at(9, day=5))
    AuditEvent.objects.all().delete()
    day_page(coordinator_client)
    row = AuditEvent.objects.get()
    assert row.action == "web.schedule_day" and row.patient_ids == [str(reachable.patient.external_id)]
    assert row.path == "/schedule/"


# --- Check-in from the list -------------------------------------------------------------------------------


def test_check_in_from_the_list_swaps_the_entry_in_place(coordinator_client, coordinator, reachable):
    appointment = book(reachable, coordinator, at(8, day=4))
    url = f"/schedule/appointments/{appointment.external_id}/check-in/"
    response = coordinator_client.post(url, {"next": "/schedule/?date=2026-03-04"}, **HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith(f'<div class="appt appt-arrived" id="appt-{appointment.external_id.hex}"')
    assert "Checked in" in page and "Check in<" not in page
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED
    assert AuditEvent.objects.filter(action="web.schedule_appointment_status").exists()


def test_a_second_check_in_says_why_and_changes_nothing(coordinator_client, coordinator, reachable):
    appointment = book(reachable, coordinator, at(8, day=4))
    services.appointment_check_in(appointment=appointment, actor=Actor.for_user(coordinator))
    response = coordinator_client.post(f"/schedule/appointments/{appointment.external_id}/check-in/", **HTMX)
    assert response.status_code == 422
    assert "Error:" in response.content.decode() and "Checked in" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED


def test_check_in_without_htmx_returns_to_the_schedule(coordinator_client, coordinator, reachable):
    appointment = book(reachable, coordinator, at(8, day=4))
    response = coordinator_client.post(f"/schedule/appointments/{appointment.external_id}/check-in/",
                                       {"next": "https://elsewhere.example/"})
    assert response.status_code == 302 and response["Location"] == "/schedule/?date=2026-03-04&clinic=north"
    assert "Maren Testpatient: Checked in." in day_page(coordinator_client, "date=2026-03-04")


def test_another_clinics_appointment_cannot_be_checked_in(coordinator_client, other_clinic):
    appointment = AppointmentFactory(patient=PatientFactory(clinic=other_clinic), starts_at=at(9))
    response = coordinator_client.post(f"/schedule/appointments/{appointment.external_id}/check-in/", **HTMX)
    assert response.status_code == 404
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_an_unknown_status_change_is_404(coordinator_client, coordinator, reachable):
    appointment = book(reachable, coordinator, at(8, day=4))
    assert coordinator_client.post(f"/schedule/appointments/{appointment.external_id}/explode/").status_code == 404


# --- Booking from an empty slot ---------------------------------------------------------------------------


def test_an_empty_slot_leads_to_finding_the_patient_then_to_their_prefilled_booking_form(
    coordinator_client, reachable,
):
    found = coordinator_client.get("/schedule/book/?starts=2026-03-05T10:00&minutes=30&kind=imaging"
                                   "&clinic=north&q=Testpatient")
    page = found.content.decode()
    assert found.status_code == 200 and "Book Thursday 5 March 2026, 10:00" in page
    link = f"/schedule/book/{reachable.patient.external_id}/?starts=2026-03-05T10%3A00&amp;minutes=30&amp;kind=imaging"
    assert link in page
    form = coordinator_client.get(link.replace("&amp;", "&")).content.decode()
    assert 'value="2026-03-05T10:00"' in form and 'value="30"' in form
    assert '<option value="imaging" selected>' in form
    assert f'<option value="{reachable.external_id}" selected>' in form
    assert 'name="next" value="/schedule/?date=2026-03-05&amp;clinic=north"' in form
    response = coordinator_client.post(f"/patients/{reachable.patient.external_id}/appointments/", {
        "book-kind": "imaging", "book-episode": str(reachable.external_id), "book-starts_at": "2026-03-05T10:00",
        "book-minutes": "30", "next": "/schedule/?date=2026-03-05&clinic=north"})
    assert response.status_code == 302 and response["Location"] == "/schedule/?date=2026-03-05&clinic=north"
    appointment = Appointment.objects.get(patient=reachable.patient)
    assert appointment.starts_at == at(10, day=5) and appointment.episode == reachable
    assert "starts=2026-03-05T10%3A00" not in day_page(coordinator_client, "date=2026-03-05&physician=drphys")


def test_a_failed_booking_from_the_slot_keeps_the_way_back(coordinator_client, reachable):
    response = coordinator_client.post(f"/patients/{reachable.patient.external_id}/appointments/", {
        "book-kind": "imaging", "book-starts_at": "2026-03-05T10:00", "book-minutes": "2",
        "next": "/schedule/?date=2026-03-05"}, **HTMX)
    assert response.status_code == 422
    assert 'name="next" value="/schedule/?date=2026-03-05"' in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("query", ["", "starts=soon&minutes=30", "starts=2026-03-05T10:00&minutes=0",
                                   "starts=2026-03-05T10:00&minutes=30&kind=massage"])
def test_a_booking_link_that_names_no_slot_is_400(coordinator_client, query):
    response = coordinator_client.get(f"/schedule/book/?{query}")
    assert response.status_code == 400 and "does not name a slot" in response.content.decode()


def test_the_booking_search_finds_only_this_clinics_patients(coordinator_client, other_clinic, reachable):
    PatientFactory(clinic=other_clinic, family_name="Testpatient", given_name="Faraway")
    page = coordinator_client.get("/schedule/book/?starts=2026-03-05T10:00&minutes=30&q=Testpatient").content
    assert b"Maren" in page and b"Faraway" not in page
    assert AuditEvent.objects.filter(action="web.schedule_book",
                                     patient_ids=[str(reachable.patient.external_id)]).exists()


def test_another_clinics_patient_has_no_booking_page(coordinator_client, other_clinic):
    patient = PatientFactory(clinic=other_clinic)
    assert coordinator_client.get(f"/schedule/book/{patient.external_id}/?starts=2026-03-05T10:00&minutes=30"
                                  ).status_code == 404


def test_the_schedule_is_for_clinical_roles(front_desk):
    assert signed_in(front_desk).get("/schedule/book/?starts=2026-03-05T10:00&minutes=30").status_code == 403


# --- Patient search: a GET form ---------------------------------------------------------------------------


@pytest.fixture
def findable(clinic):
    return PatientFactory(clinic=clinic, given_name="Ada", family_name="Lovelace", mrn="MRN-1815",
                          birth_date=datetime(1815, 12, 10).date(), phone="+15550101815")


@pytest.mark.parametrize("typed", ["Lovelace", "ada love", "mrn-1815", "1815-12-10", "12/10/1815", "Ada 1815-12-10",
                                   "+15550101815", "(555) 010-1815", "555 010 1815", "5550101815"])
def test_search_finds_a_patient_by_name_mrn_birth_date_or_phone(coordinator_client, findable, clinic, typed):
    PatientFactory(clinic=clinic, given_name="Charles", family_name="Babbage", birth_date=datetime(1791, 12, 26))
    page = coordinator_client.get("/patients/", {"q": typed}).content.decode()
    assert "Lovelace, Ada" in page and "Babbage" not in page


@pytest.mark.parametrize("typed", ["Lovelace 1791-12-26", "010-18", "1815-12-11", "12/10/1816"])
def test_search_needs_every_word_to_match(coordinator_client, findable, typed):
    assert "No patient matches" in coordinator_client.get("/patients/", {"q": typed}).content.decode()


def test_a_search_can_be_bookmarked_and_the_form_keeps_what_was_typed(coordinator_client, findable):
    page = coordinator_client.get("/patients/?q=Lovelace").content.decode()
    assert '<form method="get" action="/patients/"' in page and 'value="Lovelace"' in page
    assert "Lovelace, Ada" in page


def test_search_is_no_longer_a_post(coordinator_client, findable):
    assert coordinator_client.post("/patients/", {"q": "Lovelace"}).status_code == 405


def test_a_search_never_leaves_the_site_in_a_referer(coordinator_client, findable):
    assert coordinator_client.get("/patients/?q=Lovelace")["Referrer-Policy"] == "same-origin"


def test_the_access_log_line_for_a_search_holds_no_identifier(tmp_path, findable):
    searches = [f"/patients/?q={typed}" for typed in ("Lovelace", "MRN-1815", "1815-12-10", "%2B15550101815")]
    # Each request as the browser sends it: the next page's Referer is the search.
    requests = [("GET", url, previous) for url, previous in zip(
        [*searches, f"/patients/{findable.external_id}/"], ["", *searches], strict=True)]
    log = gunicorn_access_log(requests, tmp_path / "access.log")
    lines = log.splitlines()
    assert len(lines) == 5 and lines[0].count('"GET /patients/?q=[redacted] HTTP/1.1"') == 1
    assert '"/patients/?q=[redacted]"' in lines[-1]
    for identifier in ("Lovelace", "MRN-1815", "1815-12-10", "15550101815"):
        assert identifier not in log


def test_the_bare_query_string_atom_is_masked_too(tmp_path):
    from gunicorn.config import Config

    from config.log_redaction import GunicornLogger

    cfg = Config()
    cfg.set("access_log_format", "%(q)s")
    cfg.set("accesslog", str(tmp_path / "q.log"))
    logger = GunicornLogger(cfg)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/patients/?q=Lovelace", "PATH_INFO": "/patients/",
               "QUERY_STRING": "q=Lovelace", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7"}
    from types import SimpleNamespace
    logger.access(SimpleNamespace(status="200 OK", sent=1, headers=[]), SimpleNamespace(headers=[]), environ,
                  timedelta(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.flush()
    assert (tmp_path / "q.log").read_text().strip() == "q=[redacted]"


def test_a_clinic_elsewhere_is_not_searched(coordinator_client, findable):
    PatientFactory(clinic=ClinicFactory(slug="west"), family_name="Lovelace", given_name="Other")
    page = coordinator_client.get("/patients/?q=Lovelace").content.decode()
    assert "Lovelace, Ada" in page and "Other" not in page
