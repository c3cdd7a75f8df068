"""The whole pathway in a real headless Chromium (Debian's `chromium` package driven by Playwright).

Without chromium and without CI these skip and say so; with CI set, a missing chromium fails the run
(.ci/run installs it). Screenshots land in test-artifacts/; with WEB_DOCS_SCREENSHOTS=1 the README's two
screenshots in docs/screenshots/ are refreshed too.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from notifications.messages import diary_token
from pathway import services
from pathway.actors import Actor
from pathway.clinic_time import clinic_today
from pathway.models import Episode
from pathway.stages import ChecklistItemKind, Role
from tests.factories import ClinicFactory, EpisodeFactory, PainEntryFactory, advance_to, staff
from tests.mfa import authenticator, key_from_secret, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
DOCS = Path(settings.BASE_DIR) / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI is set, so the browser tests must run")
        pytest.skip(message + ": browser tests skipped")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the tests' own ORM calls are still synchronous.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str, *, full_page: bool = True, locator=None) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    (locator or page).screenshot(path=str(target), **({"full_page": full_page} if locator is None else {}))
    if os.environ.get("WEB_DOCS_SCREENSHOTS") and name in ("board.png", "patient.png"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(target, DOCS / name)


UNLABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map(el => el.name || el.id)"""


def assert_every_control_labelled(page) -> None:
    assert page.evaluate(UNLABELLED) == [], page.url


@pytest.fixture(autouse=True)
def _second_factor(settings):
    """The browser signs in as production does: password, then an authenticator code."""
    settings.AUTH_MFA_REQUIRED = True


def sign_in(page, base: str, username: str) -> None:
    """Password, then the current code, computed here from the key of the user's authenticator."""
    from playwright.sync_api import expect

    key = TOTPDevice.objects.get(user__username=username, confirmed=True).bin_key
    page.goto(base + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Confirm sign-in")).to_be_visible()
    assert_every_control_labelled(page)
    page.get_by_label("Code").fill(totp_code(key))
    page.get_by_role("button", name="Confirm").click()


def sign_in_first_time(page, base: str, username: str) -> list[str]:
    """No authenticator yet: the key is read off the enrolment page, as a person would type it into the app."""
    from playwright.sync_api import expect

    page.goto(base + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up your authenticator")).to_be_visible()
    expect(page.locator("figure.qr svg")).to_be_visible()
    shot(page, "signin-enrol.png")
    assert_every_control_labelled(page)
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code").fill(totp_code(key_from_secret(secret)))
    page.get_by_role("button", name="Confirm authenticator").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    page.get_by_role("link", name="I have kept them: continue").click()
    return codes


def a_busy_clinic(clinic, physician, coordinator) -> None:
    """Other patients in every stage, so the board looks like a working day."""
    names = [("Okafor", "evaluation"), ("Lindqvist", "evaluation"), ("Moreau", "trial"), ("Haddad", "trial"),
             ("Novak", "trial_review"), ("Brennan", "implant"), ("Sato", "follow_up"), ("Ferreira", "follow_up")]
    for family, stage in names:
        episode = advance_to(
            EpisodeFactory(patient__clinic=clinic, patient__family_name=family, physician=physician), stage
        )
        if family == "Lindqvist":
            Episode.objects.filter(pk=episode.pk).update(stage_entered_at=timezone.now() - timedelta(days=75))
        if family == "Brennan":
            services.episode_hold(episode=episode, actor=Actor.for_user(coordinator), reason="insurance appeal")


def test_coordinator_runs_the_trial_and_physician_approves_the_implant(page, live_server):
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="browser", name="Riverside Pain Clinic", time_zone="America/Chicago")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    authenticator(coordinator)
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    today = clinic_today(clinic)
    episode = EpisodeFactory(
        patient__clinic=clinic, patient__given_name="Maren", patient__family_name="Testpatient",
        patient__diary_consent=True, physician=physician, coordinator=coordinator,
        auth_valid_from=today - timedelta(days=10), auth_valid_to=today + timedelta(days=60),
    )
    PainEntryFactory(episode=episode, nrs=8, phase="baseline", sleep_quality=3, activity_limitation=8,
                     recorded_at=timezone.now() - timedelta(days=6))
    a_busy_clinic(clinic, physician, coordinator)
    key = episode.external_id.hex[:12]
    base = live_server.url

    # A coordinator signs in and lands on the worklist, then finds the patient.
    sign_in(page, base, "cora")
    expect(page.get_by_role("heading", name="Today's worklist")).to_be_visible()
    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Name, MRN, birth date or phone").fill("Testpatient")
    page.get_by_label("Name, MRN, birth date or phone").press("Enter")
    page.get_by_role("link", name="Testpatient, Maren").click()
    expect(page.get_by_role("heading", name="Testpatient, Maren")).to_be_visible()
    assert_every_control_labelled(page)

    # Start trial says why it cannot run yet; pressing it anyway gives the errors back in place (htmx, 422).
    start = page.locator(f"#start_trial-{key}")
    start.locator("summary").click()
    expect(start.locator(".blockers")).to_contain_text("candidacy checklist incomplete")
    start.get_by_role("button", name="Start trial").click()
    expect(page.locator(f"#start_trial-{key} .error")).to_have_text("Error: This field is required.")
    expect(page.locator(f"#start_trial-{key} details")).to_have_attribute("open", "")

    # Ticks every item of the candidacy checklist.
    for kind in ChecklistItemKind:
        item = page.locator(f"#checklist-{kind.value}-{key}")
        item.locator("summary").click()
        item.get_by_label("Status").select_option("met")
        if kind == ChecklistItemKind.PRIOR_TREATMENTS:
            item.get_by_label("Medications").check()
            item.get_by_label("Physical therapy").check()
        item.get_by_role("button", name="Save").click()
        expect(page.locator(f"#checklist-{kind.value}-{key} .check-status")).to_have_text("✓ Met")

    # Starts the trial, three days ago.
    placed = today - timedelta(days=3)
    start = page.locator(f"#start_trial-{key}")
    start.locator("summary").click()
    start.get_by_label("Lead placement date").fill(placed.isoformat())
    start.get_by_role("button", name="Start trial").click()
    expect(page.locator(f"#ep-{episode.external_id} .stage")).to_have_text("Trial")

    # The patient fills the diary through the signed link, one entry per trial day.
    for offset, (nrs, relief, sleep) in enumerate([(5, 40, 5), (4, 50, 6), (3, 60, 7), (3, 65, 7)]):
        day = placed + timedelta(days=offset)
        page.goto(base + reverse("notifications:diary",
                                 kwargs={"token": diary_token(episode_external_id=episode.external_id, day=day)}))
        page.locator(f'input[name="nrs"][value="{nrs}"]').check()
        page.get_by_label("How much relief does the stimulator give you?").fill(str(relief))
        page.locator(f'input[name="sleep_quality"][value="{sleep}"]').check()
        page.locator(f'input[name="activity_limitation"][value="{8 - offset}"]').check()
        page.get_by_role("button", name="Save today's entry").click()
        expect(page.locator("h1")).to_be_visible()
    assert episode.pain_entries.filter(phase="trial", source="patient_link").count() == 4

    # Ends the trial (still signed in: the diary pages did not touch the coordinator's session).
    page.goto(base + f"/patients/{episode.patient.external_id}/")
    end = page.locator(f"#end_trial-{key}")
    end.locator("summary").click()
    end.get_by_label("Lead removal date").fill(today.isoformat())
    end.get_by_role("button", name="End trial").click()
    expect(page.locator(f"#ep-{episode.external_id} .stage")).to_have_text("Trial review")
    expect(page.locator(".relief")).to_contain_text("meets the threshold")
    chart = page.locator("figure.chart")
    expect(chart).to_be_visible()
    shot(page, "pain-chart.png", locator=chart)
    page.goto(base + f"/patients/{episode.patient.external_id}/")
    shot(page, "patient.png", full_page=False)
    assert_every_control_labelled(page)

    page.goto(base + "/board/")
    expect(page.get_by_role("heading", name="Trial review 2")).to_be_visible()
    expect(page.get_by_text("On hold: insurance appeal")).to_be_visible()
    shot(page, "board.png", full_page=False)
    assert_every_control_labelled(page)

    # A tablet held upright still gets every column and a usable patient page.
    page.set_viewport_size({"width": 820, "height": 1180})
    shot(page, "board-tablet.png", full_page=False)
    expect(page.get_by_role("heading", name="Follow-up 2")).to_be_in_viewport()
    page.goto(base + f"/patients/{episode.patient.external_id}/")
    shot(page, "patient-tablet.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The physician signs in for the first time: sets up an authenticator, keeps the recovery codes, then
    # approves the implant from the caseload.
    page.get_by_role("button", name="Sign out").click()
    assert len(sign_in_first_time(page, base, "drphys")) == 10
    expect(page.get_by_role("heading", name="My caseload")).to_be_visible()
    cards = page.locator("ul.cards > li")
    expect(cards.nth(0)).to_contain_text("Trial review")  # decisions first
    expect(cards.nth(1)).to_contain_text("Trial review")
    card = cards.filter(has_text="Testpatient, Maren")
    assert_every_control_labelled(page)
    card.locator("summary", has_text="Approve implant").click()
    card.get_by_role("button", name="Approve implant").click()
    expect(page.get_by_role("status")).to_contain_text("now Implant")
    episode.refresh_from_db()
    assert episode.stage == "implant"
    assert list(episode.transition_logs.values_list("transition", flat=True)) == [
        "start_trial", "end_trial", "approve_implant",
    ]


def test_keyboard_alone_reaches_the_board_filters(page, live_server):
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="keys")
    authenticator(staff(clinic, Role.COORDINATOR, username="cora"))
    sign_in(page, live_server.url, "cora")
    expect(page.get_by_role("heading", name="Today's worklist")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.goto(live_server.url + "/board/")
    page.get_by_label("Physician").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Stage")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Flag")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Filter", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Patient name or MRN")).to_be_focused()
    page.keyboard.type("nobody")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Patient name or MRN")).to_have_value("nobody")
