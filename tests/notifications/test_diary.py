"""The daily diary prompt during the trial and the signed, expiring link to the patient's pain form."""

from datetime import date, timedelta

import pytest
import time_machine
from django.core import signing
from django.urls import reverse

from notifications import services
from notifications.channels import sms as sms_channel
from notifications.messages import DIARY_SALT, diary_token
from notifications.models import Reminder
from pathway import rules
from pathway import services as pathway_services
from pathway.actors import Actor
from pathway.models import PainEntry
from tests.factories import EpisodeFactory, PatientFactory, advance_to

from .helpers import chicago, send_due

pytestmark = pytest.mark.django_db
NOON = chicago(2026, 3, 5, 12, 0)


@pytest.fixture
def trial(patient):
    with time_machine.travel(NOON, tick=False):
        return advance_to(EpisodeFactory(patient=patient), "trial")


def prompts(episode):
    return Reminder.objects.filter(episode=episode, purpose="diary_prompt").order_by("for_date")


def form_url(episode, day):
    token = diary_token(episode_external_id=episode.external_id, day=day)
    return reverse("notifications:diary", kwargs={"token": token})


def test_start_trial_plans_a_prompt_each_evening_until_the_expected_end(trial):
    planned = list(prompts(trial))
    assert trial.trial_expected_end == date(2026, 3, 12)
    assert [p.for_date for p in planned] == [date(2026, 3, 5) + timedelta(days=n) for n in range(8)]
    # 18:00 clinic time every day, across the spring-forward change on 8 March.
    assert [p.due_at for p in planned] == [chicago(2026, 3, d, 18, 0) for d in range(5, 13)]
    assert {p.status for p in planned} == {"pending"}


def test_no_prompts_without_diary_consent(clinic):
    patient = PatientFactory(clinic=clinic, sms_consent=True, diary_consent=False)
    with time_machine.travel(NOON, tick=False):
        episode = advance_to(EpisodeFactory(patient=patient), "trial")
    assert not prompts(episode).exists()


def test_a_trial_running_past_its_expected_end_keeps_getting_prompts(trial):
    with time_machine.travel(chicago(2026, 3, 13, 9, 0), tick=False):
        assert services.diary_prompts_plan() == 1
        services.diary_prompts_plan()
    assert prompts(trial).filter(for_date=date(2026, 3, 13)).get().due_at == chicago(2026, 3, 13, 18, 0)
    with time_machine.travel(chicago(2026, 3, 13, 18, 30), tick=False):
        services.diary_prompts_plan()  # today's time has passed: nothing more today
    assert prompts(trial).count() == 9


def test_diary_consent_given_during_the_trial_starts_prompts(clinic):
    from pathway.models import Patient

    patient = PatientFactory(clinic=clinic, sms_consent=True, diary_consent=False)
    with time_machine.travel(NOON, tick=False):
        episode = advance_to(EpisodeFactory(patient=patient), "trial")
        services.diary_prompts_plan()
        assert not prompts(episode).exists()
        Patient.objects.filter(pk=patient.pk).update(diary_consent=True)
        services.diary_prompts_plan()
    assert [p.for_date for p in prompts(episode)] == [date(2026, 3, 5)]


def test_leaving_the_trial_cancels_the_pending_prompts(trial):
    with time_machine.travel(NOON + timedelta(days=2), tick=False):
        pathway_services.pain_entry_record(episode=trial, actor=Actor.for_user(trial.physician), nrs=3, phase="trial")
        pathway_services.episode_transition(episode=trial, name="end_trial", actor=Actor.for_user(trial.physician),
                                            data={"trial_lead_removal_date": "2026-03-07"})
    assert {(p.for_date, p.status) for p in prompts(trial) if p.status != "cancelled"} == set()
    assert prompts(trial).filter(status="cancelled").first().reason == "the trial ended"


def test_the_prompt_carries_a_link_to_the_form(trial, client):
    with time_machine.travel(chicago(2026, 3, 5, 18, 0), tick=False):
        assert send_due() == ["sent"]
    (message,) = sms_channel.outbox
    assert message.text.startswith(
        "North Pain Clinic: please fill in today's diary: https://clinic.example.org/diary/"
    )
    assert "+15550100100" in message.text and "STOP" in message.text
    assert "trial" not in message.text.lower()  # DOMAIN.md: no procedure or therapy named in an SMS
    path = message.text.split("https://clinic.example.org")[1].split(" ")[0]
    # The token carries the episode's UUID and the day, nothing else.
    payload = signing.loads(path.split("/")[2], salt=DIARY_SALT)
    assert payload == {"e": str(trial.external_id), "d": "2026-03-05"}
    with time_machine.travel(chicago(2026, 3, 5, 19, 0), tick=False):
        page = client.get(path)
    assert page.status_code == 200
    assert b"Thursday 5 March" in page.content and b'name="viewport"' in page.content


def test_an_entry_lands_as_a_trial_pain_entry_and_counts_in_relief(trial, client):
    with time_machine.travel(chicago(2026, 3, 5, 19, 0), tick=False):
        response = client.post(form_url(trial, date(2026, 3, 5)), {
            "nrs": "4", "percent_relief": "60", "sleep_quality": "7", "activity_limitation": "3",
            "medication_use": "less",
        })
    assert response.status_code == 200 and b"is saved" in response.content
    entry = PainEntry.objects.get(episode=trial, source="patient_link")
    assert (entry.phase, entry.nrs, entry.percent_relief, entry.sleep_quality, entry.activity_limitation,
            entry.medication_use, entry.entered_by) == ("trial", 4, 60, 7, 3, "less", None)
    relief = rules.episode_relief(trial)
    assert relief.trial_entries == 1 and relief.percent == 50  # baseline 8 → 4


def test_a_second_entry_the_same_day_replaces_the_first(trial, client):
    url = form_url(trial, date(2026, 3, 5))
    with time_machine.travel(chicago(2026, 3, 5, 19, 0), tick=False):
        client.post(url, {"nrs": "6", "percent_relief": "20"})
    with time_machine.travel(chicago(2026, 3, 5, 21, 30), tick=False):
        response = client.post(url, {"nrs": "5"})
    assert b"is updated" in response.content
    entry = PainEntry.objects.get(episode=trial, source="patient_link")
    assert (entry.nrs, entry.percent_relief) == (5, None)
    # The next day's link makes the next day's entry.
    with time_machine.travel(chicago(2026, 3, 6, 18, 30), tick=False):
        client.post(form_url(trial, date(2026, 3, 6)), {"nrs": "3"})
    assert PainEntry.objects.filter(episode=trial, source="patient_link").count() == 2


def test_yesterdays_link_used_this_morning_still_records_yesterday(trial, client):
    url = form_url(trial, date(2026, 3, 5))
    with time_machine.travel(chicago(2026, 3, 6, 8, 0), tick=False):
        client.post(url, {"nrs": "5"})
    entry = PainEntry.objects.get(episode=trial, source="patient_link")
    assert entry.recorded_at == chicago(2026, 3, 5, 23, 59)


def test_an_invalid_entry_is_shown_again_and_not_saved(trial, client):
    with time_machine.travel(chicago(2026, 3, 5, 19, 0), tick=False):
        response = client.post(form_url(trial, date(2026, 3, 5)), {"nrs": "11", "percent_relief": "150"})
    assert response.status_code == 200 and b"errors" in response.content
    assert not PainEntry.objects.filter(source="patient_link").exists()


def test_an_expired_link_gets_a_clear_page(trial, client, notification_settings):
    with time_machine.travel(chicago(2026, 3, 5, 18, 0), tick=False):
        url = form_url(trial, date(2026, 3, 5))
    hours = notification_settings["DIARY_LINK_MAX_AGE_HOURS"]
    with time_machine.travel(chicago(2026, 3, 5, 18, 0) + timedelta(hours=hours, minutes=1), tick=False):
        response = client.get(url)
        posted = client.post(url, {"nrs": "3"})
    assert response.status_code == 410 and b"This link has expired" in response.content
    assert posted.status_code == 410
    assert not PainEntry.objects.filter(source="patient_link").exists()


@pytest.mark.parametrize("alter", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    lambda token: token.replace(token.split(":")[0], token.split(":")[0][::-1]),
    lambda token: "garbage",
])
def test_an_altered_link_gets_a_clear_page(trial, client, alter):
    with time_machine.travel(chicago(2026, 3, 5, 18, 0), tick=False):
        token = diary_token(episode_external_id=trial.external_id, day=date(2026, 3, 5))
        response = client.get(reverse("notifications:diary", kwargs={"token": alter(token)}))
    assert response.status_code == 400 and b"This link is not valid" in response.content


def test_the_diary_closes_when_the_trial_ends(trial, client):
    url = form_url(trial, date(2026, 3, 5))
    with time_machine.travel(chicago(2026, 3, 5, 20, 0), tick=False):
        pathway_services.episode_transition(episode=trial, name="withdraw", actor=Actor.for_user(trial.physician),
                                            data={"reason": "moved away"})
        response = client.post(url, {"nrs": "3"})
    assert response.status_code == 410 and b"The trial diary is closed" in response.content
