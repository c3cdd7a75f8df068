"""In Debian's chromium: a coordinator takes the implant authorization from draft to approved on the patient
page, and only then can record the implant (refused before, with the reason shown); axe-core on the page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pathway.clinic_time import clinic_today
from pathway.models import AuthorizationStatusChange, PriorAuthorization
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, advance_to, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    _second_factor,
    assert_every_control_labelled,
    browser,
    page,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_implant_authorization_from_draft_to_approved_lets_the_implant_be_recorded(page, live_server):  # noqa: F811
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="auth", name="Riverside Pain Clinic", time_zone="America/Chicago")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    authenticator(coordinator)
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, patient__family_name="Testpatient",
                                        physician=physician, coordinator=coordinator, implant_authorization=False),
                         "implant")
    today = clinic_today(clinic)
    key = episode.external_id.hex[:12]
    base = live_server.url
    sign_in(page, base, "cora")
    expect(page.get_by_role("heading", name="Today's worklist")).to_be_visible()
    page.goto(base + f"/patients/{episode.patient.external_id}/")
    section = page.locator(f"#authorizations-{episode.external_id}")
    expect(section.get_by_role("heading", name="Authorizations")).to_be_visible()

    # Before: the implant cannot be recorded, and the page says why, before and after pressing the button.
    record = page.locator(f"#record_implant-{key}")
    record.locator("summary").click()
    expect(record.locator(".blockers")).to_contain_text("no implant authorization on file")
    record.get_by_label("Implant date").fill(today.isoformat())
    record.get_by_label("Device maker").fill("Synthetic Neuro")
    record.get_by_label("Device model").fill("DRG-Demo 4")
    record.get_by_label("Serial number").fill("SYN-1")
    record.get_by_label("Lead levels").fill("L4 left, L5 left")
    record.get_by_role("button", name="Record implant").click()
    expect(page.locator(f"#record_implant-{key} .form-errors")).to_contain_text(
        "Not possible yet: no implant authorization on file.")
    expect(page.locator(f"#ep-{episode.external_id} .stage")).to_have_text("Implant")

    # A draft, with a payer: the section lists it.
    add = section.locator(f"#authorization-add-{key}")
    add.locator("summary").click()
    add.get_by_label("For").select_option("implant")
    add.get_by_label("Payer").fill("Example Mutual")
    add.get_by_role("button", name="Add authorization").click()
    row = page.locator(f"#authorizations-{episode.external_id} li.authorization", has_text="Permanent implant")
    expect(row).to_contain_text("Draft")
    authorization = PriorAuthorization.objects.get(episode=episode, step="implant")
    prefix = f"#authorization-{authorization.external_id.hex[:12]}"

    # Submitted (today, as nothing else is given), then approved with its number and dates.
    edit = page.locator(prefix)
    edit.locator("summary").click()
    edit.get_by_label("Status").select_option("submitted")
    edit.get_by_role("button", name="Save authorization").click()
    expect(page.locator(f"{prefix} .auth-status")).to_have_text("Submitted")
    edit = page.locator(prefix)
    edit.locator("summary").click()
    edit.get_by_label("Status").select_option("approved")
    edit.get_by_role("button", name="Save authorization").click()  # no number yet: refused in place
    expect(page.locator(f"{prefix} .error").first).to_contain_text("An approved authorization needs")
    edit = page.locator(prefix)
    edit.get_by_label("Authorization number").fill("IMP-2026-1")
    edit.get_by_label("Valid from").fill((today - timedelta(days=1)).isoformat())
    edit.get_by_label("Valid to").fill((today + timedelta(days=90)).isoformat())
    edit.get_by_label("Units authorized").fill("1")
    edit.get_by_role("button", name="Save authorization").click()
    expect(page.locator(f"{prefix} .auth-status")).to_have_text("Approved")
    expect(page.locator(f"{prefix} .auth-history")).to_contain_text("Submitted → Approved · cora")
    assert list(AuthorizationStatusChange.objects.filter(authorization=authorization)
                .values_list("to_status", flat=True)) == ["draft", "submitted", "approved"]
    assert_every_control_labelled(page)
    page.locator(prefix).locator("summary").click()  # the section with a form open, for axe-core too
    assert_accessible(page, "patient page with authorizations")

    # After: the implant is recorded.
    record = page.locator(f"#record_implant-{key}")
    record.locator("summary").click()
    expect(record.locator(".blockers")).to_have_count(0)
    record.get_by_label("Implant date").fill(today.isoformat())
    record.get_by_label("Device maker").fill("Synthetic Neuro")
    record.get_by_label("Device model").fill("DRG-Demo 4")
    record.get_by_label("Serial number").fill("SYN-1")
    record.get_by_label("Lead levels").fill("L4 left, L5 left")
    record.get_by_role("button", name="Record implant").click()
    expect(page.locator(f"#ep-{episode.external_id} .stage")).to_have_text("Follow-up")
    episode.refresh_from_db()
    assert episode.stage == "follow_up"

    # A tablet held upright: the section fits.
    page.set_viewport_size({"width": 800, "height": 1180})
    page.goto(base + f"/patients/{episode.patient.external_id}/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
