"""The calendar feed page in Debian's chromium, on a tablet-sized window, by keyboard: a physician makes their
link (shown once), the feed it names opens, the link is revoked; a coordinator makes the clinic's; axe-core on
each state of the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from pathway.stages import Role
from tests.factories import AppointmentFactory, ClinicFactory, EpisodeFactory, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import _second_factor, browser, page, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_physician_makes_reads_and_revokes_their_calendar_link(page, live_server):  # noqa: F811 (the fixture)
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="river", name="Riverside Pain Clinic", time_zone="America/Chicago")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    authenticator(physician)
    authenticator(coordinator)
    episode = EpisodeFactory(patient__clinic=clinic, patient__given_name="Maren", patient__family_name="Testpatient",
                             physician=physician)
    AppointmentFactory(patient=episode.patient, episode=episode, starts_at=timezone.now() + timedelta(days=2))
    base = live_server.url
    page.set_viewport_size({"width": 800, "height": 1100})

    sign_in(page, base, "drphys")
    page.get_by_role("link", name="Calendar feeds").click()
    expect(page.get_by_role("heading", name="Calendar feeds", level=1)).to_be_visible()
    assert_accessible(page, "calendar feeds (none yet)")

    make = page.get_by_role("button", name="Make a link").first
    make.focus()
    page.keyboard.press("Enter")
    link = page.get_by_label("Subscription link")
    expect(link).to_be_visible()
    assert_accessible(page, "calendar feeds (new link shown)")
    url = link.input_value()
    feed = requests.get(url, timeout=10)
    assert feed.status_code == 200 and "BEGIN:VEVENT" in feed.text and "Consultation · M.T." in feed.text

    page.goto(base + "/calendar-feeds/")
    expect(page.get_by_label("Subscription link")).to_have_count(0)
    revoke = page.get_by_role("button", name="Revoke the link made")
    revoke.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("no longer opens")).to_be_visible()
    assert_accessible(page, "calendar feeds (revoked)")
    assert requests.get(url, timeout=10).status_code == 404

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, "cora")
    page.goto(base + "/calendar-feeds/")
    expect(page.get_by_role("heading", name="Riverside Pain Clinic: all appointments")).to_be_visible()
    page.get_by_role("button", name="Make a link").click()
    expect(page.get_by_role("heading", name="New link for Riverside Pain Clinic")).to_be_visible()
    assert_accessible(page, "calendar feeds (clinic link)")
