"""In Chromium: a physician opens an implanted patient's page and reads the outcome chart and its table
(baseline, trial, each milestone with its change, responder flag and PGIC); axe-core finds nothing serious
and the chart's inline style breaks no Content-Security-Policy."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from pathway.clinic_time import clinic_zone
from pathway.stages import PainPhase, Role
from tests.factories import ClinicFactory, EpisodeFactory, PainEntryFactory, advance_to, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import _second_factor, browser, page, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_physician_reads_a_patients_outcome_chart(page, live_server):  # noqa: F811 (the fixture)
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="riverside", name="Riverside Pain Clinic", time_zone="America/Chicago")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    authenticator(physician)
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "follow_up")
    for key, nrs, pgic in (("month_3", 3, 2), ("month_6", 5, 4)):
        milestone = episode.milestones.get(key=key)
        PainEntryFactory(episode=episode, phase=PainPhase.FOLLOW_UP, nrs=nrs, pgic=pgic, sleep_quality=6,
                         recorded_at=datetime.combine(milestone.window_start, time(12), tzinfo=clinic_zone(clinic)))
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    sign_in(page, live_server.url, "drphys")
    page.goto(f"{live_server.url}/patients/{episode.patient.external_id}/#outcomes-{episode.external_id}")
    section = page.locator(f"#outcomes-{episode.external_id}")
    expect(section.get_by_role("heading", name="Outcomes over time")).to_be_visible()
    expect(section.locator("figure.chart svg")).to_be_visible()
    table = section.get_by_role("table")
    expect(table.get_by_role("row")).to_have_count(5)  # header, baseline, trial, 3 and 6 months
    expect(table.get_by_role("row", name="3-month follow-up")).to_contain_text("62.5 %")
    expect(table.get_by_role("row", name="3-month follow-up")).to_contain_text("✓ yes")
    expect(table.get_by_role("row", name="6-month follow-up")).to_contain_text("✗ no")
    expect(table.get_by_role("row", name="6-month follow-up")).to_contain_text("4 no change")
    assert_accessible(page, "patient outcomes")
    assert violations == []
