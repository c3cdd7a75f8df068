"""During the trial the board and the patient page show how the diary is kept, and send today's link again."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from notifications import services as notification_services
from notifications.channels import sms
from notifications.models import Reminder
from tests.factories import EpisodeFactory, advance_to

pytestmark = pytest.mark.django_db
CHICAGO = ZoneInfo("America/Chicago")


def chicago(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


@pytest.fixture(autouse=True)
def sms_settings(settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "SMS_BACKEND": "in-memory"}
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def traveller():
    with time_machine.travel(chicago(2026, 3, 2, 9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
def trial(traveller, clinic, physician):
    """Lead placed on Mon 2 March; the patient filled in the diary on Monday and Tuesday; it is now Thursday noon."""
    episode = advance_to(EpisodeFactory(
        patient__clinic=clinic, patient__family_name="Diarist", patient__sms_consent=True,
        patient__diary_consent=True, patient__preferred_channel="sms", physician=physician), "trial")
    for day in (2, 3):
        traveller.move_to(chicago(2026, 3, day, 19, 0))
        notification_services.diary_entry_save(episode=episode, day=date(2026, 3, day), nrs=4)
    traveller.move_to(chicago(2026, 3, 5, 12, 0))
    return episode


def send_due() -> list[str]:
    return [notification_services.reminder_send(reminder_id=c.reminder_id, claim=c.token)
            for c in notification_services.reminders_claim_due()]


def resend(client, episode, key: str, next_url: str = "/board/"):
    return client.post(f"/episodes/{episode.external_id}/diary-link/", {"request_key": key, "next": next_url})


KEY_1 = "0b7f9a52-0d0f-4f42-9a53-1f4f7d2a0c01"
KEY_2 = "0b7f9a52-0d0f-4f42-9a53-1f4f7d2a0c02"
KEY_3 = "0b7f9a52-0d0f-4f42-9a53-1f4f7d2a0c03"


def test_the_board_card_shows_days_with_an_entry_out_of_the_days_so_far_and_the_last_entry(
    trial, coordinator_client
):
    page = coordinator_client.get("/board/").content.decode()
    assert "2 of 3 days (67 %)" in page
    assert 'last entry <time datetime="2026-03-03">Tue 03 Mar</time>' in page
    assert "Send today's link now" in page


def test_todays_entry_counts_today_as_a_day_so_far(trial, coordinator_client):
    notification_services.diary_entry_save(episode=trial, day=date(2026, 3, 5), nrs=3)
    assert "3 of 4 days (75 %)" in coordinator_client.get("/board/").content.decode()


def test_the_patient_page_shows_the_diary_of_the_trial(trial, coordinator_client):
    page = coordinator_client.get(f"/patients/{trial.patient.external_id}/").content.decode()
    assert "Trial diary" in page and "2 of 3 days (67 %)" in page


def test_resend_brings_todays_prompt_forward_and_a_double_click_sends_once(trial, coordinator_client, coordinator):
    prompt = Reminder.objects.get(episode=trial, purpose="diary_prompt", for_date=date(2026, 3, 5))
    assert prompt.scheduled_for == chicago(2026, 3, 5, 18, 0)
    for _ in range(2):
        response = resend(coordinator_client, trial, KEY_1, "/board/?stage=trial")
        assert response.status_code == 302 and response["Location"] == "/board/?stage=trial"
    prompt.refresh_from_db()
    assert (prompt.scheduled_for, prompt.requested_by) == (chicago(2026, 3, 5, 12, 0), coordinator)
    assert Reminder.objects.filter(episode=trial, for_date=date(2026, 3, 5)).count() == 1
    assert send_due() == ["sent"]
    assert len(sms.outbox) == 1 and "/diary/" in sms.outbox[0].text
    assert "link sent today 12:00" in coordinator_client.get("/board/").content.decode()


def test_an_explicit_resend_after_the_link_went_out_sends_it_again_once(trial, coordinator_client):
    resend(coordinator_client, trial, KEY_1)
    send_due()
    page = coordinator_client.get("/board/").content.decode()
    assert "Send today's link again" in page
    resend(coordinator_client, trial, KEY_2)
    resend(coordinator_client, trial, KEY_3)  # pressed again before the second went out: still one on its way
    again = Reminder.objects.get(episode=trial, purpose="diary_resend")
    assert (again.for_date, again.status) == (date(2026, 3, 5), "pending")
    assert send_due() == ["sent"]
    assert len(sms.outbox) == 2 and sms.outbox[0].text == sms.outbox[1].text


def test_no_link_without_diary_consent(trial, coordinator_client):
    trial.patient.diary_consent = False
    trial.patient.save()
    page = coordinator_client.get("/board/").content.decode()
    assert "No diary link can be sent: no diary consent." in page
    response = resend(coordinator_client, trial, KEY_1)
    assert response.status_code == 302
    follow = coordinator_client.get(response["Location"]).content.decode()
    assert "the diary link was not sent. The patient has not consented to diary prompts." in follow
    assert not Reminder.objects.filter(episode=trial, requested_by__isnull=False).exists()


def test_no_link_in_quiet_hours(trial, coordinator_client, coordinator, traveller):
    traveller.move_to(chicago(2026, 3, 5, 21, 30))
    coordinator_client.force_login(coordinator)  # hours later: the idle session had ended
    resend(coordinator_client, trial, KEY_1)
    assert not Reminder.objects.filter(request_key=KEY_1).exists()
    assert "Quiet hours" in coordinator_client.get("/board/").content.decode()


def test_no_resend_for_another_clinics_episode(trial, client):
    from tests.factories import ClinicFactory, staff
    from tests.web.conftest import signed_in

    outsider = signed_in(staff(ClinicFactory(slug="south"), "coordinator", username="stranger"))
    assert resend(outsider, trial, KEY_1).status_code == 404
    assert not Reminder.objects.filter(request_key=KEY_1).exists()


def test_a_key_from_another_episodes_form_is_refused(trial, coordinator_client, clinic, physician):
    resend(coordinator_client, trial, KEY_1)
    other = advance_to(EpisodeFactory(patient__clinic=clinic, patient__sms_consent=True,
                                      patient__diary_consent=True, physician=physician), "trial")
    response = resend(coordinator_client, other, KEY_1)
    assert "already used for something else" in coordinator_client.get(response["Location"]).content.decode()
    assert not Reminder.objects.filter(episode=other, requested_by__isnull=False).exists()
