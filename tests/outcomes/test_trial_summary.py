"""The trial summary a payer reads before authorizing the implant: its figures, its PDF's text, who may have it."""

import io
from datetime import timedelta

import pytest
from django.test import Client
from pypdf import PdfReader
from rest_framework.test import APIClient

from api.models import AuditEvent
from pathway import services
from pathway.actors import Actor
from pathway.clinic_time import clinic_today, start_of_day
from pathway.models import PainEntry
from pathway.stages import PainPhase
from tests.factories import EpisodeFactory, PainEntryFactory, advance_to, complete_checklist

pytestmark = pytest.mark.django_db


def signed_in(user, client_class=Client):
    client = client_class()
    client.force_login(user)
    return client


@pytest.fixture
def reviewed(clinic, physician):
    """Baseline 8 and 7 (mean 7.5); trial days 1–3 score 3, 4 and 2 (mean 3.0): relief 60.0 %. Approved."""
    episode = EpisodeFactory(patient__clinic=clinic, physician=physician, patient__given_name="Łucja",
                             patient__family_name="Ñandú-Testbury", patient__mrn="SUM-0001",
                             pain_areas=[{"area": "foot", "side": "left"}, {"area": "knee", "side": "left"}])
    today = clinic_today(clinic)
    placed = today - timedelta(days=4)
    for nrs, sleep in ((8, 3), (7, 4)):
        PainEntryFactory(episode=episode, nrs=nrs, phase=PainPhase.BASELINE, sleep_quality=sleep,
                         activity_limitation=8, recorded_at=start_of_day(clinic, placed - timedelta(days=20)))
    doctor = Actor.for_user(physician)
    complete_checklist(episode, doctor)
    services.episode_transition(episode=episode, name="start_trial", actor=doctor,
                                data={"trial_lead_placement_date": placed})
    for day, (nrs, relief, medication) in enumerate(((3, 60, "less"), (4, 50, "same"), (2, 70, "less"))):
        PainEntry.objects.create(episode=episode, phase=PainPhase.TRIAL, nrs=nrs, percent_relief=relief,
                                 sleep_quality=7, activity_limitation=3, medication_use=medication,
                                 recorded_at=start_of_day(clinic, placed + timedelta(days=day)) + timedelta(hours=19))
    services.episode_transition(episode=episode, name="end_trial", actor=doctor,
                                data={"trial_lead_removal_date": placed + timedelta(days=3)})
    services.episode_transition(episode=episode, name="approve_implant", actor=doctor,
                                data={"reason": "Walking the dog again"})
    return episode


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    # Words as read, with the PDF's line breaks as spaces.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split()), len(reader.pages)


def test_the_summary_shows_the_relief_the_physician_decided_on(reviewed, physician):
    response = signed_in(physician).get(f"/episodes/{reviewed.external_id}/trial-summary/")
    assert response.status_code == 200
    summary = response.context["s"]
    assert (summary.relief.baseline, summary.relief.trial_mean, summary.relief.percent) == (7.5, 3.0, 60.0)
    assert summary.relief.patient_reported == 60  # (60 + 50 + 70) / 3
    assert summary.meets_threshold is True and summary.baseline_sleep == 3.5
    assert [row.day_number for row in summary.diary] == [1, 2, 3]
    assert [row.nrs for row in summary.diary] == [3, 4, 2]
    assert summary.trial_days == 4
    assert summary.decision.label == "Implant approved" and summary.decision.relief_percent == "60.0"
    assert summary.decision.reason == "Walking the dog again" and not summary.decision.override
    html = response.content.decode()
    for text in ("Łucja Ñandú-Testbury", "SUM-0001", "ICD-10 G90.521", "Foot (left), Knee (left)",
                 "Relief 60.0 % = (baseline 7.5 − trial mean 3.0)", "meets the 50.0 % threshold",
                 "Implant approved", "Less than before the trial"):
        assert text in html
    assert "<script" not in html and "style=" not in html


def test_the_pdf_says_the_same_in_its_text(reviewed, coordinator):
    response = signed_in(coordinator).get(f"/episodes/{reviewed.external_id}/trial-summary/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="trial-summary-{reviewed.external_id}.pdf"'
    text, pages = pdf_text(response.content)
    assert pages == 1
    for words in ("DRG stimulation trial summary", "Łucja Ñandú-Testbury", "SUM-0001", "G90.521",
                  "Foot (left), Knee (left)", "7.5 from 2 scores", "Relief 60.0 %", "trial mean 3.0",
                  "Patient-reported relief (mean): 60.0 %", "meets the 50.0 % threshold", "Implant approved",
                  "Decided on relief 60.0 % against a 50.0 % threshold (relief computed from NRS scores)",
                  "Walking the dog again",
                  "Less than before the trial", "Synthetic Health Plan"):
        assert words in text, words


def test_a_trial_below_the_threshold_approved_by_override_says_so(clinic, physician):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "trial")
    PainEntryFactory(episode=episode, nrs=6, phase=PainPhase.TRIAL)  # baseline 8 (complete_checklist's): 25 %
    doctor = Actor.for_user(physician)
    services.episode_transition(episode=episode, name="end_trial", actor=doctor,
                                data={"trial_lead_removal_date": clinic_today(clinic)})
    services.episode_transition(episode=episode, name="approve_implant", actor=doctor,
                                data={"reason": "Sleeps through the night now"})
    response = signed_in(physician).get(f"/episodes/{episode.external_id}/trial-summary/pdf/")
    text, _ = pdf_text(response.content)
    assert "Relief 25.0 %" in text and "is below the 50.0 % threshold" in text
    assert "Physician override of the threshold" in text


def test_an_aborted_trial_has_a_summary_with_its_category(clinic, physician):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "trial_failed")
    response = signed_in(physician).get(f"/episodes/{episode.external_id}/trial-summary/")
    assert response.status_code == 200
    assert "Trial aborted" in response.content.decode() and "Category: Infection" in response.content.decode()


def test_no_summary_before_the_trial_has_ended(clinic, physician):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "trial")
    assert signed_in(physician).get(f"/episodes/{episode.external_id}/trial-summary/").status_code == 404
    page = signed_in(physician).get(f"/patients/{episode.patient.external_id}/").content.decode()
    assert "trial-summary" not in page


def test_the_patient_page_links_each_summary(reviewed, physician):
    page = signed_in(physician).get(f"/patients/{reviewed.patient.external_id}/").content.decode()
    assert f"/episodes/{reviewed.external_id}/trial-summary/" in page
    assert f"/episodes/{reviewed.external_id}/trial-summary/pdf/" in page


def test_every_download_is_audited(reviewed, physician):
    signed_in(physician).get(f"/episodes/{reviewed.external_id}/trial-summary/pdf/")
    signed_in(physician, APIClient).get(f"/api/v1/episodes/{reviewed.external_id}/trial-summary/",
                                        HTTP_ACCEPT="application/pdf")
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "patient_ids", "status_code"))
    patient = [str(reviewed.patient.external_id)]
    assert rows == [("web.trial_summary_pdf", patient, 200), ("trial_summary.get", patient, 200)]


def test_the_api_answers_json_or_pdf(reviewed, coordinator):
    api = signed_in(coordinator, APIClient)
    url = f"/api/v1/episodes/{reviewed.external_id}/trial-summary/"
    body = api.get(url).json()
    assert body["relief"]["relief_percent"] == "60.0" and body["relief"]["meets_threshold"] is True
    assert body["patient"]["mrn"] == "SUM-0001" and [d["nrs"] for d in body["diary"]] == [3, 4, 2]
    assert body["decision"]["label"] == "Implant approved"
    for pdf in (api.get(url, HTTP_ACCEPT="application/pdf"), api.get(url + "?format=pdf")):
        assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
        assert "Relief 60.0 %" in pdf_text(pdf.content)[0]


def test_front_desk_and_other_clinics_get_nothing(reviewed, front_desk, outsider, clinic_admin):
    url = f"/episodes/{reviewed.external_id}/trial-summary/"
    assert signed_in(front_desk).get(url).status_code == 403
    assert signed_in(front_desk).get(url + "pdf/").status_code == 403
    assert signed_in(clinic_admin).get(url).status_code == 403
    assert signed_in(outsider).get(url).status_code == 404
    api = f"/api/v1/episodes/{reviewed.external_id}/trial-summary/"
    refused = signed_in(front_desk, APIClient).get(api, HTTP_ACCEPT="application/pdf")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "forbidden"
    assert signed_in(outsider, APIClient).get(api).status_code == 404
    assert signed_in(outsider, APIClient).get("/api/v1/episodes/not-a-uuid/trial-summary/").status_code == 404
    assert not AuditEvent.objects.filter(status_code=200).exists()


def test_the_generated_time_is_the_clinics(reviewed, physician):
    response = signed_in(physician).get(f"/episodes/{reviewed.external_id}/trial-summary/")
    assert str(response.context["s"].generated_at.tzinfo) == "America/Chicago"


def test_a_long_trial_with_two_entries_a_day_still_fits_one_page(clinic, physician):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "trial")
    placed = episode.trial_lead_placement_date
    for day in range(8):
        for hour in (9, 19):
            PainEntry.objects.create(episode=episode, phase=PainPhase.TRIAL, nrs=4, percent_relief=55,
                                     sleep_quality=6, activity_limitation=4, medication_use="less",
                                     recorded_at=start_of_day(clinic, placed) + timedelta(days=day, hours=hour))
    services.episode_transition(episode=episode, name="end_trial", actor=Actor.for_user(physician),
                                data={"trial_lead_removal_date": clinic_today(clinic)})
    text, pages = pdf_text(signed_in(physician).get(f"/episodes/{episode.external_id}/trial-summary/pdf/").content)
    assert pages == 1 and "Awaiting the physician's decision on the trial." in text
