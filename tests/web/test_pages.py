"""What each page shows, and the writes from the patient page going through the services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import InboundAction, InboundMessage, Reminder
from pathway import services
from pathway.actors import Actor
from pathway.clinic_time import clinic_today
from pathway.models import Episode, PainEntry, TransitionLog
from pathway.stages import ChecklistItemKind, Role
from tests.factories import (
    AppointmentFactory,
    EpisodeFactory,
    PainEntryFactory,
    advance_to,
    complete_checklist,
    staff,
)

pytestmark = pytest.mark.django_db


def key(episode: Episode) -> str:
    return episode.external_id.hex[:12]


def patient_url(episode: Episode) -> str:
    return f"/patients/{episode.patient.external_id}/"


def age(episode: Episode, days: int) -> None:
    Episode.objects.filter(pk=episode.pk).update(stage_entered_at=timezone.now() - timedelta(days=days))


# --- Board ----------------------------------------------------------------------------------------


def test_board_has_a_column_per_open_stage_with_counts(coordinator_client, clinic, physician):
    EpisodeFactory.create_batch(3, patient__clinic=clinic, physician=physician)
    advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "trial_review")
    page = coordinator_client.get("/board/").content.decode()
    for label in ("Evaluation", "Trial", "Trial review", "Implant", "Follow-up"):
        assert f">{label} <span class=\"count\">" in page
    assert 'Evaluation <span class="count">3</span>' in page
    assert 'Trial review <span class="count">1</span>' in page


def test_board_card_says_what_blocks_the_episode(coordinator_client, episode, physician):
    actor = Actor.for_user(physician)
    PainEntryFactory(episode=episode, nrs=8)
    for kind in ChecklistItemKind:
        if kind != ChecklistItemKind.TRIAL_AUTHORIZATION:
            details = {"tried": ["medications"]} if kind == ChecklistItemKind.PRIOR_TREATMENTS else {}
            services.checklist_item_record(episode=episode, kind=kind, status="met", actor=actor, details=details)
    page = coordinator_client.get("/board/").content.decode()
    assert "trial authorization pending" in page
    assert episode.patient.mrn in page
    assert "Hysician" in page  # the physician's name


def test_board_marks_hold_and_stalled_in_words(coordinator_client, episode, coordinator):
    services.episode_hold(episode=episode, actor=Actor.for_user(coordinator), reason="insurance appeal")
    age(episode, 65)
    page = coordinator_client.get("/board/").content.decode()
    assert "On hold: insurance appeal" in page
    assert "Stalled: over the stage" in page
    assert "1 stalled · 1 on hold" in page


def test_board_filters_by_physician_and_search(coordinator_client, clinic, episode):
    other_doctor = staff(clinic, Role.PHYSICIAN, username="drother")
    other = EpisodeFactory(patient__clinic=clinic, physician=other_doctor, patient__family_name="Zebulon")
    page = coordinator_client.get("/board/?physician=drother").content.decode()
    assert "Zebulon" in page and episode.patient.family_name not in page
    page = coordinator_client.post("/board/", {"q": "zebul"}).content.decode()
    assert "Zebulon" in page and episode.patient.family_name not in page
    assert other.patient.mrn in coordinator_client.post("/board/", {"q": other.patient.mrn}).content.decode()


def test_board_shows_more_cards_on_request(coordinator_client, clinic, physician, settings):
    settings.WEB_BOARD_CARDS_PER_COLUMN = 2
    episodes = EpisodeFactory.create_batch(5, patient__clinic=clinic, physician=physician)
    for n, episode in enumerate(episodes):
        Episode.objects.filter(pk=episode.pk).update(stage_entered_at=timezone.now() - timedelta(days=10 - n))
    page = coordinator_client.get("/board/").content.decode()
    assert "Show more in Evaluation (2 of 5 shown)" in page
    assert episodes[2].patient.mrn not in page
    more = coordinator_client.post("/board/evaluation/", {"page": "2"}, HTTP_HX_REQUEST="true")
    fragment = more.content.decode()
    assert episodes[2].patient.mrn in fragment and episodes[3].patient.mrn in fragment
    assert episodes[0].patient.mrn not in fragment
    assert "(4 of 5 shown)" in fragment
    assert "<html" not in fragment
    full = coordinator_client.get("/board/evaluation/?page=3").content.decode()
    assert episodes[4].patient.mrn in full and "<html" in full
    assert coordinator_client.get("/board/explanted/").status_code == 404


# --- Worklist and caseload ------------------------------------------------------------------------


def test_worklist_lists_what_needs_doing_today(coordinator_client, clinic, physician):
    stalled = EpisodeFactory(patient__clinic=clinic, physician=physician, patient__family_name="Stalledsson")
    age(stalled, 65)
    advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician, patient__family_name="Reviewer"),
               "trial_review")
    ending = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician,
                                       patient__family_name="Endingham"), "trial")
    Episode.objects.filter(pk=ending.pk).update(trial_expected_end=clinic_today(clinic) + timedelta(days=1))
    overdue = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician,
                                        patient__family_name="Overdew"), "follow_up")
    overdue.milestones.filter(key="wound_check").update(window_end=clinic_today(clinic) - timedelta(days=3))
    tomorrow = AppointmentFactory(patient__clinic=clinic, patient__family_name="Tomorrowby",
                                  starts_at=timezone.now() + timedelta(days=1, hours=1))
    failed_reminder(tomorrow, "carrier rejected the number")
    InboundMessage.objects.create(
        received_at=timezone.now(), provider_message_id="SM1", from_phone=tomorrow.patient.phone, clinic=clinic,
        patient=tomorrow.patient, action=InboundAction.OTHER, body="Can I come later?", needs_attention=True,
    )
    page = coordinator_client.get("/").content.decode()
    for name in ("Stalledsson", "Reviewer", "Endingham", "Overdew", "Tomorrowby", "Can I come later?"):
        assert name in page, name
    assert "Wound check" in page
    assert "carrier rejected the number" in page and "24 h before" in page


def test_caseload_puts_decisions_first_and_approves_from_there(physician_client, clinic, physician):
    waiting = EpisodeFactory(patient__clinic=clinic, physician=physician, patient__family_name="Aaronson")
    review = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician,
                                       patient__family_name="Zyreview"), "trial_review")
    someone_elses = EpisodeFactory(patient__clinic=clinic, patient__family_name="Notmine")
    page = physician_client.get("/caseload/").content.decode()
    assert page.index("Zyreview") < page.index("Aaronson")
    assert "Notmine" not in page
    assert "Approve implant" in page
    response = physician_client.post(
        f"/episodes/{review.external_id}/transitions/approve_implant/", {"next": "/caseload/"}
    )
    assert response.status_code == 302 and response["Location"] == "/caseload/"
    review.refresh_from_db()
    assert review.stage == "implant"
    assert waiting.stage == someone_elses.stage == "evaluation"


# --- Patient page ---------------------------------------------------------------------------------


def test_patient_page_shows_demographics_checklist_and_history(coordinator_client, episode):
    page = coordinator_client.get(patient_url(episode)).content.decode()
    assert episode.patient.mrn in page
    assert "SMS consent" in page
    assert "Psychological evaluation cleared" in page
    assert "Start trial" in page
    assert "Not possible yet:" in page and "candidacy checklist incomplete" in page
    assert "Decline candidacy" not in page  # physicians only


def test_physician_sees_waiver_and_physician_transitions(physician_client, episode):
    page = physician_client.get(patient_url(episode)).content.decode()
    assert '<option value="waived"' in page
    assert "Decline candidacy" in page


def test_coordinator_ticks_a_checklist_item(coordinator_client, episode):
    response = coordinator_client.post(
        f"/episodes/{episode.external_id}/checklist/imaging/",
        {f"checklist-imaging-{key(episode)}-status": "met", f"checklist-imaging-{key(episode)}-note": "MRI 2026-10"},
    )
    assert response.status_code == 302
    item = episode.checklist_items.get(kind="imaging")
    assert item.status == "met" and item.note == "MRI 2026-10"


def test_coordinator_cannot_waive(coordinator_client, episode):
    prefix = f"checklist-consent-{key(episode)}"
    response = coordinator_client.post(f"/episodes/{episode.external_id}/checklist/consent/",
                                       {f"{prefix}-status": "waived", f"{prefix}-note": "because"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert episode.checklist_items.get(kind="consent").status == "pending"


def test_a_waiver_needs_its_reason_next_to_the_field(physician_client, episode):
    prefix = f"checklist-consent-{key(episode)}"
    url = f"/episodes/{episode.external_id}/checklist/consent/"
    response = physician_client.post(url, {f"{prefix}-status": "waived", f"{prefix}-note": ""},
                                     HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    fragment = response.content.decode()
    assert f'id="id_{prefix}-note_error"' in fragment and "Give the reason for the waiver." in fragment
    assert '<option value="waived" selected>' in fragment  # what was chosen is kept
    response = physician_client.post(url, {f"{prefix}-status": "waived", f"{prefix}-note": "consented in 2025"},
                                     HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"].startswith(patient_url(episode))
    assert episode.checklist_items.get(kind="consent").status == "waived"
    # From the patient page itself, the page reloads (a #fragment alone would not).
    response = physician_client.post(url, {f"{prefix}-status": "pending", f"{prefix}-note": ""},
                                     HTTP_HX_REQUEST="true",
                                     HTTP_HX_CURRENT_URL="http://testserver" + patient_url(episode))
    assert response["HX-Refresh"] == "true"
    assert episode.checklist_items.get(kind="consent").status == "pending"


def test_a_service_refusal_shows_next_to_the_field(coordinator_client, episode):
    Episode.objects.filter(pk=episode.pk).update(pain_onset_date=None)
    prefix = f"checklist-pain_duration-{key(episode)}"
    response = coordinator_client.post(f"/episodes/{episode.external_id}/checklist/pain_duration/",
                                       {f"{prefix}-status": "met", f"{prefix}-note": "typed note"})
    page = response.content.decode()
    assert response.status_code == 422
    assert "Record the pain onset date first." in page
    assert 'value="typed note"' in page


def test_start_trial_asks_for_its_date_and_explains_a_refusal(coordinator_client, episode, physician):
    url = f"/episodes/{episode.external_id}/transitions/start_trial/"
    response = coordinator_client.post(url, {f"start_trial-{key(episode)}-trial_lead_placement_date": ""})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    today = clinic_today(episode.clinic).isoformat()
    response = coordinator_client.post(url, {f"start_trial-{key(episode)}-trial_lead_placement_date": today})
    page = response.content.decode()
    assert response.status_code == 422
    assert "Not possible yet: candidacy checklist incomplete" in page
    assert f'value="{today}"' in page
    complete_checklist(episode, Actor.for_user(physician))
    response = coordinator_client.post(url, {f"start_trial-{key(episode)}-trial_lead_placement_date": today})
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.stage == "trial"
    assert TransitionLog.objects.get(episode=episode).actor_label == "cora"


def test_a_coordinator_cannot_run_a_physician_transition(coordinator_client, episode):
    response = coordinator_client.post(f"/episodes/{episode.external_id}/transitions/decline_candidacy/",
                                       {f"decline_candidacy-{key(episode)}-end_reason": "not suitable"})
    assert response.status_code == 403
    episode.refresh_from_db()
    assert episode.stage == "evaluation"


def test_a_stale_page_gets_a_conflict_message(coordinator_client, episode, physician):
    advance_to(episode, "trial")
    # A page loaded before the trial started still offers "Start trial".
    stale_url = f"/episodes/{episode.external_id}/transitions/start_trial/"
    response = coordinator_client.post(
        stale_url, {f"start_trial-{key(episode)}-trial_lead_placement_date": clinic_today(episode.clinic).isoformat()}
    )
    assert response.status_code == 422
    assert "start_trial is not possible from Trial" in response.content.decode()


def test_hold_and_release(coordinator_client, episode):
    url = f"/episodes/{episode.external_id}/hold/"
    response = coordinator_client.post(url, {"intent": "hold", f"hold-{key(episode)}-reason": ""})
    assert response.status_code == 422 and "This field is required." in response.content.decode()
    assert coordinator_client.post(url, {"intent": "hold", f"hold-{key(episode)}-reason": "infection being treated"}
                                   ).status_code == 302
    episode.refresh_from_db()
    assert episode.on_hold
    page = coordinator_client.get(patient_url(episode)).content.decode()
    assert "On hold since" in page and "Release from hold" in page
    assert "the episode is on hold: infection being treated" in page
    assert 'name="intent" value="release"' in page
    assert coordinator_client.post(url, {"intent": "release", f"release-{key(episode)}-reason": ""}).status_code == 302
    episode.refresh_from_db()
    assert not episode.on_hold


def test_a_second_press_of_hold_is_a_conflict_not_a_release(coordinator_client, episode):
    url = f"/episodes/{episode.external_id}/hold/"
    press = {"intent": "hold", f"hold-{key(episode)}-reason": "insurance appeal"}
    assert coordinator_client.post(url, press).status_code == 302
    second = coordinator_client.post(url, press, HTTP_HX_REQUEST="true")
    assert second.status_code == 409
    assert "The episode is already on hold. Nothing was changed." in second.content.decode()
    assert 'name="intent" value="release"' in second.content.decode()  # the button for the state it is in
    episode.refresh_from_db()
    assert episode.on_hold and episode.transition_logs.filter(transition="hold").count() == 1


def test_a_second_press_of_release_is_a_conflict_not_a_hold(coordinator_client, episode):
    url = f"/episodes/{episode.external_id}/hold/"
    press = {"intent": "release", f"release-{key(episode)}-reason": ""}
    assert coordinator_client.post(url, press).status_code == 409
    episode.refresh_from_db()
    assert not episode.on_hold and not episode.transition_logs.exists()


def test_a_hold_press_without_an_intent_is_400(coordinator_client, episode):
    response = coordinator_client.post(f"/episodes/{episode.external_id}/hold/", {f"hold-{key(episode)}-reason": "x"})
    assert response.status_code == 400
    episode.refresh_from_db()
    assert not episode.on_hold


def test_staff_record_pain_and_the_chart_is_drawn(coordinator_client, episode):
    url = f"/episodes/{episode.external_id}/pain/"
    response = coordinator_client.post(url, {f"pain-{key(episode)}-phase": "baseline",
                                             f"pain-{key(episode)}-nrs": "11"})
    assert response.status_code == 422
    assert "Ensure this value is less than or equal to 10." in response.content.decode()
    response = coordinator_client.post(url, {
        f"pain-{key(episode)}-phase": "baseline", f"pain-{key(episode)}-nrs": "8",
        f"pain-{key(episode)}-sleep_quality": "3", f"pain-{key(episode)}-medication_use": "same",
    })
    assert response.status_code == 302
    entry = PainEntry.objects.get(episode=episode)
    assert (entry.nrs, entry.sleep_quality, entry.source, entry.entered_by.username) == (8, 3, "staff", "cora")
    page = coordinator_client.get(patient_url(episode)).content.decode()
    assert "<svg" in page and "Baseline mean 8.0" in page
    assert "kozea" not in page  # pygal's default script CDN is switched off


def test_relief_against_the_threshold_is_stated(physician_client, episode):
    advance_to(episode, "trial_review")
    page = physician_client.get(patient_url(episode)).content.decode()
    assert "<strong>End trial</strong>: Trial → Trial review" in page  # the history, in words
    assert "Relief so far: <strong>62.5 %</strong>" in page
    assert "meets the threshold" in page
    assert "Approve implant" in page


def test_episode_details_are_edited_with_errors_in_place(coordinator_client, episode):
    prefix = f"details-{key(episode)}"
    url = f"/episodes/{episode.external_id}/details/"
    data = {f"{prefix}-diagnosis": "crps_2", f"{prefix}-icd10_code": "U12", f"{prefix}-area_knee": "right",
            f"{prefix}-auth_payer": "Plan", f"{prefix}-auth_number": "A-1"}
    response = coordinator_client.post(url, data)
    assert response.status_code == 422
    assert "Enter a valid ICD-10 code" in response.content.decode()
    data[f"{prefix}-icd10_code"] = "G90.522"
    assert coordinator_client.post(url, data).status_code == 302
    episode.refresh_from_db()
    assert episode.diagnosis == "crps_2" and episode.pain_areas == [{"area": "knee", "side": "right"}]


# --- Appointments ---------------------------------------------------------------------------------


def test_book_reschedule_check_in_and_cancel(coordinator_client, episode):
    url = f"/patients/{episode.patient.external_id}/appointments/"
    response = coordinator_client.post(url, {"book-kind": "imaging", "book-minutes": "30"})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="id_book-starts_at_error"' in page
    assert '<option value="imaging" selected>' in page
    response = coordinator_client.post(url, {"book-kind": "imaging", "book-minutes": "45",
                                             "book-starts_at": "2026-12-02T09:30",
                                             "book-episode": str(episode.external_id)})
    assert response.status_code == 302
    appointment = episode.patient.appointments.get()
    # Typed in the clinic's zone (America/Chicago, UTC−6 in December), stored in UTC.
    assert appointment.starts_at.isoformat() == "2026-12-02T15:30:00+00:00"
    assert (appointment.ends_at - appointment.starts_at) == timedelta(minutes=45)
    assert appointment.episode == episode
    ap_key = appointment.external_id.hex[:12]
    response = coordinator_client.post(f"/appointments/{appointment.external_id}/reschedule/",
                                       {f"reschedule-{ap_key}-starts_at": "2026-12-03T10:00",
                                        f"reschedule-{ap_key}-minutes": "30"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.starts_at.isoformat() == "2026-12-03T16:00:00+00:00"
    page = coordinator_client.get(patient_url(episode)).content.decode()
    assert "Thu 03 Dec 2026 10:00" in page
    assert coordinator_client.post(f"/appointments/{appointment.external_id}/check-in/").status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "arrived"
    response = coordinator_client.post(f"/appointments/{appointment.external_id}/cancel/",
                                       {f"cancel-{ap_key}-reason": ""})
    assert response.status_code == 422 and "This field is required." in response.content.decode()
    response = coordinator_client.post(f"/appointments/{appointment.external_id}/cancel/",
                                       {f"cancel-{ap_key}-reason": "patient unwell"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "cancelled" and appointment.cancellation_reason == "patient unwell"


def test_appointment_reminder_outcomes_are_shown(coordinator_client, episode):
    appointment = AppointmentFactory(patient=episode.patient)
    page = coordinator_client.get(patient_url(episode)).content.decode()
    assert "No reminders planned." in page
    failed_reminder(appointment, "number unreachable")
    page = coordinator_client.get(patient_url(episode)).content.decode()
    assert "24 h before" in page and "Failed: number unreachable" in page


def failed_reminder(appointment, reason: str) -> Reminder:
    return Reminder.objects.create(
        clinic=appointment.clinic, patient=appointment.patient, appointment=appointment, purpose="appointment_24h",
        channel="sms", appointment_starts_at=appointment.starts_at, scheduled_for=appointment.starts_at
        - timedelta(hours=24), due_at=appointment.starts_at - timedelta(hours=24), status="failed", reason=reason,
    )


def test_two_people_pressing_the_same_button_one_gets_a_conflict(coordinator_client, physician_client, episode,
                                                                  physician):
    complete_checklist(episode, Actor.for_user(physician))
    data = {f"start_trial-{key(episode)}-trial_lead_placement_date": clinic_today(episode.clinic).isoformat(),
            f"start_trial-{key(episode)}-seen_stage": "evaluation"}
    url = f"/episodes/{episode.external_id}/transitions/start_trial/"
    assert physician_client.post(url, data).status_code == 302
    response = coordinator_client.post(url, data)
    assert response.status_code == 422
    assert "Someone else moved this episode to Trial while you were looking at it" in response.content.decode()
    assert TransitionLog.objects.filter(episode=episode).count() == 1


def test_an_expired_session_sends_htmx_to_the_sign_in_page(client, episode):
    response = client.post(f"/episodes/{episode.external_id}/hold/", {}, HTTP_HX_REQUEST="true",
                           HTTP_HX_CURRENT_URL=f"http://testserver{patient_url(episode)}")
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/login/?next=%2Fpatients%2F{episode.patient.external_id}%2F"


def test_staff_enter_the_questionnaire_figures_at_a_follow_up_visit(coordinator_client, episode):
    advance_to(episode, "follow_up")
    url, p = f"/episodes/{episode.external_id}/pain/", f"pain-{key(episode)}-"
    page = coordinator_client.get(patient_url(episode)).content.decode()
    assert "Overall change since the implant (PGIC)" in page and "Very much improved" in page
    response = coordinator_client.post(url, {p + "phase": "follow_up", p + "nrs": "3", p + "pgic": "9"})
    assert response.status_code == 422 and not PainEntry.objects.filter(phase="follow_up").exists()
    response = coordinator_client.post(url, {p + "phase": "follow_up", p + "nrs": "3", p + "sleep_quality": "7",
                                             p + "activity_limitation": "2", p + "medication_use": "less",
                                             p + "pgic": "2"})
    assert response.status_code == 302
    entry = PainEntry.objects.get(episode=episode, phase="follow_up")
    assert (entry.nrs, entry.sleep_quality, entry.activity_limitation, entry.medication_use, entry.pgic) == (
        3, 7, 2, "less", 2)


def test_the_outcome_chart_shows_each_milestone_against_the_baseline(physician_client, episode, settings):
    from datetime import datetime, time

    from pathway.clinic_time import clinic_zone

    advance_to(episode, "follow_up")  # baseline 8, trial 3 (the factories' happy path)
    milestones = {m.key: m for m in episode.milestones.all()}

    def at(key, **fields):
        when = datetime.combine(milestones[key].window_start, time(12), tzinfo=clinic_zone(episode.clinic))
        PainEntryFactory(episode=episode, phase="follow_up", recorded_at=when, **fields)

    at("month_3", nrs=4, pgic=2, medication_use="less", sleep_quality=7)
    at("month_3", nrs=3, pgic=1)  # means 3.5; the worse PGIC (2) counts, as in the clinic report
    at("month_6", nrs=5, pgic=4, medication_use="same")
    page = physician_client.get(patient_url(episode)).content.decode()
    section = page[page.index(f'id="outcomes-{episode.external_id}"'):]
    section = section[:section.index("</section>")]
    assert "<svg" in section and "PGIC (1 very much improved – 7 very much worse)" in section
    rows = [r.split("</th>")[0].split(">")[-1] for r in section.split('<th scope="row">')[1:]]
    assert rows == ["Baseline", "Trial", "3-month follow-up", "6-month follow-up"]
    month_3 = section.split('<th scope="row">3-month follow-up</th>')[1].split("</tr>")[0]
    assert "<td>3.5</td><td>56.3 %</td><td>✓ yes</td>" in month_3 and "2 much improved" in month_3
    assert "Less" in month_3
    month_6 = section.split('<th scope="row">6-month follow-up</th>')[1].split("</tr>")[0]
    assert "<td>5.0</td><td>37.5 %</td><td>✗ no</td>" in month_6 and "4 no change" in month_6
    assert "relief 62.5 %" in section
    settings.OUTCOMES = {**settings.OUTCOMES, "RESPONDER_REDUCTION_PERCENT": 30}
    page = physician_client.get(patient_url(episode)).content.decode()
    assert page.count("✓ yes") == 2


def test_no_outcome_section_before_the_implant(physician_client, episode):
    advance_to(episode, "trial_review")
    assert "Outcomes over time" not in physician_client.get(patient_url(episode)).content.decode()
