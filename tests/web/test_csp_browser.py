"""The Content-Security-Policy breaks nothing: a real Chromium reports no violation on any kind of page.

Pages with htmx swaps, the pygal chart, the Django admin, Swagger UI at /api/docs/ and the diary form; any
console error or warning fails the test (a violation is reported there as "Refused to …").
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.messages import diary_token
from pathway.clinic_time import clinic_today
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PainEntryFactory, advance_to, staff
from tests.web.test_browser import _second_factor, browser, page, sign_in_first_time  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch(page, problems: list[str] | None = None) -> list[str]:  # noqa: F811
    problems = [] if problems is None else problems
    page.on("console", lambda message: message.type in ("error", "warning")
            and problems.append(f"{page.url}: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    return problems


def test_no_page_breaks_the_policy(page, live_server):  # noqa: F811
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="csp", name="Riverside Pain Clinic", time_zone="America/Chicago")
    staff(clinic, Role.COORDINATOR, username="cora")
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, patient__family_name="Testpatient",
                                        patient__given_name="Maren"), "trial")
    PainEntryFactory(episode=episode, phase="baseline", nrs=8, recorded_at=timezone.now() - timedelta(days=9))
    PainEntryFactory(episode=episode, phase="trial", nrs=3)
    problems = watch(page)
    base = live_server.url

    sign_in_first_time(page, base, "cora")  # the authenticator set-up pages (inline SVG QR code) too
    page.get_by_role("link", name="Board").click()
    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Name, MRN, birth date or phone").fill("Testpatient")
    page.get_by_label("Name, MRN, birth date or phone").press("Enter")
    page.get_by_role("link", name="Testpatient, Maren").click()
    chart = page.locator("figure.chart svg")
    expect(chart).to_be_visible()
    # pygal's <style> applied (through the nonce): its background rectangle is filled white, not black.
    assert page.evaluate("getComputedStyle(document.querySelector('figure.chart svg .background')).fill") \
        == "rgb(255, 255, 255)"

    token = diary_token(episode_external_id=episode.external_id, day=clinic_today(clinic))
    page.goto(f"{base}/diary/{token}/")
    expect(page.get_by_role("button", name="Save today's entry")).to_be_visible()

    # The superuser in a browser of their own: nothing of the coordinator's pages (cookies, a page still
    # loading) can stand in the way of the sign-in.
    get_user_model().objects.create_superuser("root", password="pass-word-123")
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        admin = context.new_page()
        watch(admin, problems)
        sign_in_first_time(admin, base, "root")
        admin.goto(base + "/admin/pathway/patient/?q=Testpatient")
        expect(admin.locator("#result_list")).to_be_visible()
        admin.goto(base + "/api/docs/")
        expect(admin.locator(".opblock").first).to_be_visible()
    finally:
        context.close()

    # The admin and Swagger ask for a favicon this app does not have; that 404 is not a policy matter. Nor is
    # the 403 of the start page, where a superuser without a clinic lands after sign-in.
    assert [p for p in problems if "favicon" not in p and "404 (Not Found)" not in p
            and not (p.startswith(f"{base}/: ") and "403 (Forbidden)" in p)] == []
