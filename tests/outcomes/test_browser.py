"""In Chromium: a physician opens the reports, downloads the CSV, and downloads a patient's trial summary;
axe-core finds nothing serious on the reports page or the printable summary, and the CSP is never violated."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from pathway.stages import PainPhase, Role
from tests.factories import ClinicFactory, EpisodeFactory, PainEntryFactory, advance_to, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import _second_factor, browser, page, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reports_csv_and_trial_summary_in_the_browser(page, live_server, tmp_path):  # noqa: F811 (the fixture)
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="riverside", name="Riverside Pain Clinic", time_zone="America/Chicago")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    authenticator(physician)
    episodes = [advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), stage)
                for stage in ("follow_up", "trial_review", "trial_failed", "evaluation", "not_candidate")]
    PainEntryFactory(episode=episodes[0], nrs=4, phase=PainPhase.FOLLOW_UP)
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    base = live_server.url

    sign_in(page, base, "drphys")
    page.get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Clinic reports")).to_be_visible()
    expect(page.get_by_role("table", name="Episodes started: 5")).to_be_visible()
    expect(page.locator("figure.chart svg").first).to_be_visible()
    assert_accessible(page, "reports")
    page.set_viewport_size({"width": 800, "height": 1000})  # a tablet: the page itself does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    csv = (tmp_path / "report.csv")
    download.value.save_as(csv)
    text = csv.read_text()
    assert text.startswith("section,measure,count") and "cohort,episodes started,5," in text
    assert "funnel,reached trial,< 5,5,,,,,," in text

    page.goto(f"{base}/patients/{episodes[0].patient.external_id}/")
    with page.expect_download() as download:
        page.get_by_role("link", name="download PDF").click()
    assert download.value.suggested_filename == f"trial-summary-{episodes[0].external_id}.pdf"
    pdf = tmp_path / "summary.pdf"
    download.value.save_as(pdf)
    words = " ".join(PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].extract_text().split())
    assert episodes[0].patient.mrn in words and "Implant approved" in words

    page.get_by_role("link", name="view and print").click()
    expect(page.get_by_role("heading", name="DRG stimulation trial summary")).to_be_visible()
    expect(page.get_by_text(episodes[0].patient.mrn)).to_be_visible()
    assert_accessible(page, "trial summary")
    page.emulate_media(media="print")
    expect(page.get_by_role("link", name="Download PDF")).to_be_hidden()
    assert violations == []
