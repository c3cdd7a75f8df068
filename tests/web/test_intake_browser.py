"""Intake in Debian's chromium: a referral from the form to the board, the duplicate warning, a new phone number
and consent, a spine referral; axe-core on every intake page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from api.models import ConsentChange
from pathway.clinic_time import clinic_today
from pathway.models import Patient, Referral
from pathway.stages import Role
from tests.factories import ClinicFactory, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    _second_factor,
    a_busy_clinic,
    assert_every_control_labelled,
    browser,
    page,
    shot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fill_referral(page, *, mrn: str, today: date) -> None:  # noqa: F811 (a page, not the fixture)
    page.get_by_label("MRN").fill(mrn)
    page.get_by_label("Given name").fill("Ines")
    page.get_by_label("Family name").fill("Quintero")
    page.get_by_label("Birth date").fill("1961-04-09")
    page.get_by_label("Mobile phone").fill("+1 555 010 2030")
    page.get_by_label("Referred by").fill("Dr Lee, orthopaedics")
    page.get_by_label("Physician").select_option(label="Paula Hart")
    page.get_by_label("Diagnosis", exact=True).select_option("crps_1")
    page.get_by_label("ICD-10 code").fill("G90.521")
    page.get_by_label("Pain onset date").fill((today - timedelta(days=300)).isoformat())
    page.get_by_label("Foot").select_option("left")


def test_a_referral_from_intake_to_the_board_then_its_details_consents_and_a_spine_referral(
    page, live_server,  # noqa: F811 (the fixture)
):
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="intake", name="Riverside Pain Clinic", time_zone="America/Chicago")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    authenticator(coordinator)
    a_busy_clinic(clinic, physician, coordinator)
    today = clinic_today(clinic)
    base = live_server.url

    # From the worklist, the nav's New referral: one form for the patient and the episode.
    sign_in(page, base, "cora")
    expect(page.get_by_role("heading", name="Today's worklist")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New referral").click()
    expect(page.get_by_role("heading", name="New referral", level=1)).to_be_visible()
    expect(page.get_by_label("Referral date")).to_have_value(today.isoformat())
    expect(page.get_by_label("Coordinator")).to_have_value("cora")
    assert_every_control_labelled(page)
    assert_accessible(page, "new referral")

    # A bad phone number comes back with its error and what was typed; nothing is saved.
    fill_referral(page, mrn="R-1001", today=today)
    page.get_by_label("Mobile phone").fill("555-0102")
    page.get_by_role("button", name="Save referral").click()
    expect(page.locator(".has-error")).to_contain_text("E.164")
    expect(page.get_by_label("Family name")).to_have_value("Quintero")
    assert_accessible(page, "new referral with errors")
    assert not Patient.objects.filter(mrn="R-1001").exists()

    page.get_by_label("Mobile phone").fill("+1 555 010 2030")
    page.get_by_role("button", name="Save referral").click()
    expect(page.get_by_role("status")).to_contain_text("Quintero is on the board in Evaluation")
    expect(page.get_by_role("heading", name="Quintero, Ines")).to_be_visible()
    patient = Patient.objects.get(mrn="R-1001")
    assert patient.phone == "+15550102030"

    # The board shows the new episode in the evaluation column.
    page.goto(base + "/board/")
    evaluation = page.locator("section.column", has=page.locator("#col-evaluation"))
    expect(evaluation).to_contain_text("Quintero, Ines")
    expect(page.get_by_role("heading", name="Evaluation 3")).to_be_visible()

    # The same person referred again under another MRN: warned before a duplicate is made, and the episode is
    # started for the patient on file instead.
    page.get_by_role("main").get_by_role("link", name="New referral").click()
    fill_referral(page, mrn="R-2002", today=today)
    page.get_by_role("button", name="Save referral").click()
    expect(page.get_by_role("heading", name="This may be a patient already on file")).to_be_visible()
    assert_accessible(page, "duplicate warning")
    shot(page, "intake-duplicate.png", full_page=False)
    page.get_by_role("button", name="Start the episode for Ines Quintero (R-1001)").click()
    expect(page.get_by_role("status")).to_contain_text("on the board in Evaluation")
    assert Patient.objects.filter(given_name="Ines", family_name="Quintero").count() == 1
    assert patient.episodes.count() == 2

    # Edit the phone number and record SMS consent, given on a written form.
    page.get_by_role("link", name="Edit demographics, contact details and consents").click()
    expect(page.get_by_role("heading", name="Demographics, contact and consents: Quintero, Ines")).to_be_visible()
    assert_every_control_labelled(page)
    assert_accessible(page, "patient edit")
    page.get_by_label("Mobile phone").fill("+1 555 777 8888")
    page.get_by_label("SMS reminders: consent given").check()
    page.get_by_label("SMS reminders: how it was given or withdrawn").select_option("written")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Patient details saved")
    expect(page.locator(".facts")).to_contain_text("+15557778888")
    expect(page.locator(".facts")).to_contain_text("Written form")
    change = ConsentChange.objects.get(patient=patient)
    assert (change.consent, change.given, change.method, change.actor_label) == ("sms", True, "written", "cora")

    # A spine finding referred on, shown on the patient page with to whom and its outcome.
    episode = patient.episodes.order_by("created_at").first()
    page.locator(f"#referrals-{episode.external_id}").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Spine referrals: Quintero, Ines")).to_be_visible()
    assert_every_control_labelled(page)
    assert_accessible(page, "spine referrals")
    page.get_by_label("Finding").select_option("stenosis")
    page.get_by_label("Referred to").fill("Dr Ng, spine surgery")
    page.get_by_role("button", name="Add referral").click()
    referrals = page.locator(f"#referrals-{episode.external_id}")
    expect(referrals).to_contain_text("Spinal narrowing (stenosis) → Dr Ng, spine surgery")
    expect(referrals).to_contain_text("outcome: awaiting the outcome")
    referrals.get_by_role("link").click()
    page.get_by_role("combobox", name="Outcome (required)").select_option("treated")
    page.get_by_label("Outcome note").fill("decompression L3-L4")
    page.get_by_role("button", name="Save outcome").click()
    expect(page.locator(f"#referrals-{episode.external_id}")).to_contain_text("outcome: treated (decompression L3-L4)")
    assert Referral.objects.get().outcome == "treated"

    # On a tablet the intake form fits the width.
    page.set_viewport_size({"width": 800, "height": 1100})
    page.goto(base + "/patients/new/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "intake-tablet.png")
