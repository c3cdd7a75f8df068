"""axe-core on every page, in Debian's chromium: 0 serious or critical violations (tests/web/accessibility.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.messages import diary_token
from pathway.clinic_time import clinic_today
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PainEntryFactory, advance_to, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import _second_factor, a_busy_clinic, browser, page, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page_passes_axe_core(page, live_server):  # noqa: F811 (the fixture)
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="a11y", name="Riverside Pain Clinic", time_zone="America/Chicago")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    authenticator(coordinator)
    authenticator(physician)
    a_busy_clinic(clinic, physician, coordinator)
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, patient__family_name="Testpatient",
                                        patient__diary_consent=True, physician=physician, coordinator=coordinator),
                         "trial")
    PainEntryFactory(episode=episode, nrs=7, phase="baseline", recorded_at=timezone.now() - timedelta(days=9))
    base = live_server.url

    page.goto(base + "/login/")
    assert_accessible(page, "sign-in")
    sign_in(page, base, "cora")
    expect(page.get_by_role("heading", name="Today's worklist")).to_be_visible()
    assert_accessible(page, "worklist")
    for path, name in [("/board/", "board"), ("/board/trial/", "board column"),
                       ("/patients/", "patient search"), ("/inbox/", "inbox"),
                       (f"/patients/{episode.patient.external_id}/", "patient page")]:
        page.goto(base + path)
        assert_accessible(page, name)

    diary = reverse("notifications:diary", kwargs={"token": diary_token(
        episode_external_id=episode.external_id, day=clinic_today(clinic))})
    page.context.clear_cookies()
    page.goto(base + diary)
    assert_accessible(page, "diary form")

    sign_in(page, base, "drphys")
    page.goto(base + "/caseload/")
    assert_accessible(page, "caseload")
