"""The schedule in Debian's chromium, on a tablet-sized window: the week, a check-in from it, the day, an empty
slot leading to a booking; the search as a GET form with a working back button; axe-core on each page."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from pathway import services
from pathway.actors import Actor
from pathway.clinic_time import clinic_today, clinic_zone
from pathway.models import Appointment
from pathway.stages import AppointmentStatus, Role
from tests.factories import ClinicFactory, EpisodeFactory, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import _second_factor, browser, page, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_week_check_in_day_and_booking_an_empty_slot(page, live_server, settings):  # noqa: F811 (the fixture)
    from playwright.sync_api import expect

    # Every day open, so "tomorrow" has bookable slots whatever day the test runs on.
    settings.WEB_SCHEDULE_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    clinic = ClinicFactory(slug="river", name="Riverside Pain Clinic", time_zone="America/Chicago")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    authenticator(coordinator)
    episode = EpisodeFactory(patient__clinic=clinic, patient__family_name="Testpatient",
                             patient__given_name="Maren", patient__sms_consent=True, physician=physician,
                             coordinator=coordinator)
    tomorrow = clinic_today(clinic) + timedelta(days=1)
    starts = datetime.combine(tomorrow, time(10, 0), tzinfo=clinic_zone(clinic))
    booked = services.appointment_book(patient=episode.patient, actor=Actor.for_user(coordinator),
                                       kind="trial_check", starts_at=starts, ends_at=starts + timedelta(minutes=30),
                                       episode=episode)
    base = live_server.url
    page.set_viewport_size({"width": 800, "height": 1000})

    sign_in(page, base, "cora")
    page.get_by_role("link", name="Schedule").click()
    expect(page.get_by_role("heading", name=f"Schedule: {clinic_today(clinic):%A %-d %B %Y}")).to_be_visible()
    assert_accessible(page, "schedule day")

    # The week holding tomorrow: the appointment with its state, then checked in from the list, in place.
    page.get_by_label("Date", exact=True).fill(tomorrow.isoformat())
    page.get_by_role("button", name="Show").click()
    page.get_by_role("navigation", name="Schedule dates").get_by_role("link", name="Week").click()
    expect(page.get_by_role("heading", name="Schedule: Week of")).to_be_visible()
    entry = page.locator(f"#appt-{booked.external_id.hex}")
    expect(entry).to_contain_text("10:00–10:30")
    expect(entry).to_contain_text("Trial check")
    expect(entry).to_contain_text("not confirmed")
    expect(entry).to_contain_text("reminders:")
    assert_accessible(page, "schedule week")
    page.get_by_role("button", name="Check in Testpatient, Maren at 10:00").click()
    expect(entry.get_by_role("status")).to_have_text("Checked in.")
    expect(entry.locator(".appt-status")).to_have_text("Checked in")
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.ARRIVED

    # The day view of tomorrow, from the week's column heading.
    page.get_by_role("link", name=f"{tomorrow:%a %-d %b}").click()
    expect(page.get_by_role("heading", name=f"Schedule: {tomorrow:%A %-d %B %Y}")).to_be_visible()
    expect(page.locator(f"#appt-{booked.external_id.hex} .appt-status")).to_have_text("Checked in")
    assert_accessible(page, "schedule day with appointments")

    # An empty slot: find the patient, then the booking form with the slot's time, and back to the day.
    page.get_by_role("link", name=f"Book {tomorrow:%A %-d %B}, 11:00").click()
    expect(page.get_by_role("heading", name=f"Book {tomorrow:%A %-d %B %Y}, 11:00")).to_be_visible()
    assert_accessible(page, "booking: find the patient")
    page.get_by_label("Name, MRN, birth date or phone").fill("Testpatient")
    page.get_by_label("Name, MRN, birth date or phone").press("Enter")
    assert_accessible(page, "booking: patients found")
    page.get_by_role("link", name="Book for Testpatient, Maren").click()
    expect(page.get_by_role("heading", name="Book for Testpatient, Maren")).to_be_visible()
    expect(page.get_by_label("Starts (clinic time)")).to_have_value(f"{tomorrow.isoformat()}T11:00")
    assert_accessible(page, "booking: the patient's form")
    page.get_by_label("Kind").select_option(label="Consultation")
    page.get_by_role("button", name="Book", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Appointment booked.")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Schedule: {tomorrow:%A %-d %B %Y}")).to_be_visible()
    new = Appointment.objects.exclude(pk=booked.pk).get(patient=episode.patient)
    assert new.starts_at == starts + timedelta(hours=1) and new.kind == "consultation"
    expect(page.locator(f"#appt-{new.external_id.hex}")).to_contain_text("11:00–11:30")


def test_search_results_can_be_bookmarked_and_the_back_button_returns_to_them(page, live_server):  # noqa: F811
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="river", name="Riverside Pain Clinic", time_zone="America/Chicago")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    authenticator(coordinator)
    episode = EpisodeFactory(patient__clinic=clinic, patient__family_name="Testpatient",
                             patient__given_name="Maren", patient__phone="+15550104242")
    base = live_server.url
    page.set_viewport_size({"width": 800, "height": 1000})
    sign_in(page, base, "cora")
    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Name, MRN, birth date or phone").fill("(555) 010-4242")
    page.get_by_label("Name, MRN, birth date or phone").press("Enter")
    expect(page.get_by_role("link", name="Testpatient, Maren")).to_be_visible()
    assert page.url.startswith(base + "/patients/?q=")
    assert_accessible(page, "patient search results")
    page.get_by_role("link", name="Testpatient, Maren").click()
    expect(page.get_by_role("heading", name="Testpatient, Maren")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("link", name="Testpatient, Maren")).to_be_visible()
    expect(page.get_by_label("Name, MRN, birth date or phone")).to_have_value("(555) 010-4242")
    assert episode.patient.family_name in page.content()
