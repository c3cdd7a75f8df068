"""The follow-up questionnaire: planned when a milestone's window opens, sent once by the patient's consented
channel outside quiet hours, reminded once, answered once behind a signed, expiring link; STOP ends it."""

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.urls import reverse

from notifications import services
from notifications.channels import sms as sms_channel
from notifications.messages import QUESTIONNAIRE_SALT, questionnaire_token
from notifications.models import Reminder
from outcomes.models import OutcomeQuestionnaire
from pathway.models import PainEntry, Patient
from tests.factories import EpisodeFactory, PatientFactory, advance_to

from .helpers import chicago, send_due

pytestmark = pytest.mark.django_db
IMPLANTED = chicago(2026, 1, 5, 12, 0)
ANSWER = {"nrs": "3", "sleep_quality": "7", "activity_limitation": "4", "medication_use": "less", "pgic": "2"}


def implanted(patient):
    with time_machine.travel(IMPLANTED, tick=False):
        return advance_to(EpisodeFactory(patient=patient), "follow_up")


@pytest.fixture
def episode(patient):
    return implanted(patient)


def month_3(episode):
    return episode.milestones.get(key="month_3")


def window_opens(episode, hour=12):
    start = month_3(episode).window_start
    return chicago(start.year, start.month, start.day, hour, 0)


def messages(episode):
    return list(Reminder.objects.filter(episode=episode, purpose__startswith="questionnaire").order_by("id"))


def url(questionnaire):
    return reverse("notifications:questionnaire",
                   kwargs={"token": questionnaire_token(questionnaire_external_id=questionnaire.external_id)})


def test_nothing_before_the_window_opens_then_one_link_by_sms(episode):
    with time_machine.travel(window_opens(episode) - timedelta(days=1), tick=False):
        assert services.questionnaires_plan() == 0
    opened = window_opens(episode)
    with time_machine.travel(opened, tick=False):
        assert services.questionnaires_plan() == 1
        assert services.questionnaires_plan() == 0  # once per milestone, however often beat runs
        assert send_due() == ["sent"]
    [row] = messages(episode)
    assert (row.purpose, row.channel, row.for_date) == ("questionnaire", "sms", month_3(episode).due_on)
    assert row.due_at == opened  # 10:00 had passed: now
    [sent] = sms_channel.outbox
    assert "/questionnaire/" in sent.text and "STOP" in sent.text
    assert OutcomeQuestionnaire.objects.get(milestone=month_3(episode)).sent_at == opened


def test_email_when_only_email_is_consented(clinic):
    patient = PatientFactory(clinic=clinic, phone="+15557654321", email="pat@example.org", sms_consent=False,
                             email_consent=True, diary_consent=True, preferred_channel="sms")
    episode = implanted(patient)
    with time_machine.travel(window_opens(episode, hour=7), tick=False):
        services.questionnaires_plan()
    [row] = messages(episode)
    assert row.channel == "email"
    assert row.due_at == window_opens(episode, hour=10)  # the clinic's send time that day


@pytest.mark.parametrize("consents", [{"diary_consent": False, "sms_consent": True},
                                      {"diary_consent": True, "sms_consent": False, "email_consent": False}])
def test_no_link_without_diary_consent_and_a_channel(clinic, consents):
    patient = PatientFactory(clinic=clinic, phone="+15557654321", email="pat@example.org", **consents)
    episode = implanted(patient)
    with time_machine.travel(window_opens(episode), tick=False):
        assert services.questionnaires_plan() == 0
    assert messages(episode) == []


def test_planned_in_quiet_hours_it_waits_for_the_morning(episode):
    night = window_opens(episode, hour=22)
    with time_machine.travel(night, tick=False):
        services.questionnaires_plan()
        assert send_due() == []
    [row] = messages(episode)
    start = month_3(episode).window_start + timedelta(days=1)
    assert row.due_at == chicago(start.year, start.month, start.day, 8, 0)


def test_one_reminder_after_the_days_set_then_no_more(episode, settings):
    with time_machine.travel(window_opens(episode), tick=False):
        services.questionnaires_plan()
        send_due()
    days = settings.OUTCOMES["QUESTIONNAIRE_REMINDER_DAYS"]
    with time_machine.travel(window_opens(episode) + timedelta(days=days) - timedelta(minutes=1), tick=False):
        assert services.questionnaires_plan() == 0
    with time_machine.travel(window_opens(episode) + timedelta(days=days), tick=False):
        assert services.questionnaires_plan() == 1
        assert send_due() == ["sent"]
    with time_machine.travel(window_opens(episode) + timedelta(days=days + 3), tick=False):
        assert services.questionnaires_plan() == 0
    assert [r.purpose for r in messages(episode)] == ["questionnaire", "questionnaire_reminder"]
    assert "reminder" in sms_channel.outbox[-1].text


def test_stop_cancels_the_waiting_message_and_the_reminder(clinic, settings):
    # SMS only: STOP withdraws the one channel (with email consent too the reminder would go by email).
    episode = implanted(PatientFactory(clinic=clinic, phone="+15557654321", sms_consent=True, email_consent=False,
                                       diary_consent=True, preferred_channel="sms"))
    with time_machine.travel(window_opens(episode, hour=7), tick=False):
        services.questionnaires_plan()  # due at 10:00
        services.inbound_sms_receive(provider_message_id="SM1", from_phone="+15557654321",
                                     to_phone="+15550100100", body="STOP")
    with time_machine.travel(window_opens(episode, hour=10), tick=False):
        assert send_due() == []
    [row] = messages(episode)
    assert row.status == "cancelled"
    days = settings.OUTCOMES["QUESTIONNAIRE_REMINDER_DAYS"]
    with time_machine.travel(window_opens(episode) + timedelta(days=days + 1), tick=False):
        assert services.questionnaires_plan() == 0
    assert sms_channel.outbox == []


def test_the_patient_answers_once_and_the_reminder_is_cancelled(client, episode):
    with time_machine.travel(window_opens(episode), tick=False):
        services.questionnaires_plan()
        questionnaire = OutcomeQuestionnaire.objects.get()
        assert client.get(url(questionnaire)).status_code == 200
        response = client.post(url(questionnaire), ANSWER)
        assert response.status_code == 200
        assert send_due() == []  # the invitation still waiting is cancelled: answered
        second = client.post(url(questionnaire), {**ANSWER, "nrs": "9"})
    assert second.status_code == 409
    entry = PainEntry.objects.get(episode=episode, phase="follow_up")
    assert (entry.nrs, entry.sleep_quality, entry.activity_limitation, entry.medication_use, entry.pgic,
            entry.source) == (3, 7, 4, "less", 2, "patient_link")
    questionnaire.refresh_from_db()
    assert questionnaire.answer == entry and questionnaire.answered_at is not None
    with time_machine.travel(window_opens(episode) + timedelta(days=30), tick=False):
        assert services.questionnaires_plan() == 0  # no reminder for an answered one


def test_the_service_refuses_a_second_answer(episode):
    from pathway.errors import Conflict

    with time_machine.travel(window_opens(episode), tick=False):
        services.questionnaires_plan()
        questionnaire = OutcomeQuestionnaire.objects.get()
        values = {"nrs": 3, "sleep_quality": None, "activity_limitation": None, "medication_use": None, "pgic": 3}
        services.questionnaire_answer_save(questionnaire_external_id=questionnaire.external_id, **values)
        with pytest.raises(Conflict):
            services.questionnaire_answer_save(questionnaire_external_id=questionnaire.external_id, **values)
    assert PainEntry.objects.filter(episode=episode, phase="follow_up").count() == 1


def test_a_bad_answer_is_refused_with_nothing_saved(client, episode):
    with time_machine.travel(window_opens(episode), tick=False):
        services.questionnaires_plan()
        questionnaire = OutcomeQuestionnaire.objects.get()
        response = client.post(url(questionnaire), {**ANSWER, "pgic": "8", "nrs": "11"})
    assert response.status_code == 200 and b"errors" in response.content
    assert not PainEntry.objects.filter(episode=episode, phase="follow_up").exists()
    questionnaire.refresh_from_db()
    assert questionnaire.answered_at is None


def test_an_expired_or_altered_link_is_refused(client, episode, settings):
    with time_machine.travel(window_opens(episode), tick=False):
        services.questionnaires_plan()
        questionnaire = OutcomeQuestionnaire.objects.get()
        link = url(questionnaire)
        forged = reverse("notifications:questionnaire", kwargs={"token": signing.dumps(
            {"q": str(questionnaire.external_id)}, salt="another-salt")})
        assert client.get(forged).status_code == 400
        assert client.get(link[:-3] + "xx/").status_code == 400
        unknown = reverse("notifications:questionnaire", kwargs={"token": signing.dumps(
            {"q": "00000000-0000-0000-0000-000000000000"}, salt=QUESTIONNAIRE_SALT)})
        assert client.get(unknown).status_code == 400
    days = settings.OUTCOMES["QUESTIONNAIRE_LINK_MAX_AGE_DAYS"]
    with time_machine.travel(window_opens(episode) + timedelta(days=days, minutes=1), tick=False):
        expired = client.post(link, ANSWER)
    assert expired.status_code == 410
    assert not PainEntry.objects.filter(episode=episode, phase="follow_up").exists()


def test_a_staff_entry_with_pgic_in_the_window_counts_as_answered(episode):
    from pathway import services as pathway_services
    from pathway.actors import Actor

    doctor = Actor.for_user(episode.physician)
    with time_machine.travel(window_opens(episode, hour=7), tick=False):
        pathway_services.pain_entry_record(episode=episode, actor=doctor, nrs=4, phase="follow_up", pgic=3)
        assert services.questionnaires_plan() == 0
    assert messages(episode) == []


def test_consent_withdrawn_before_the_send_cancels_it(episode):
    with time_machine.travel(window_opens(episode, hour=7), tick=False):
        services.questionnaires_plan()
        Patient.objects.filter(pk=episode.patient_id).update(diary_consent=False)
    with time_machine.travel(window_opens(episode, hour=10), tick=False):
        assert send_due() == ["cancelled"]
    assert sms_channel.outbox == []


def test_unanswered_after_the_reminder_it_shows_on_the_coordinators_worklist(episode, settings):
    from pathway.stages import Role
    from tests.factories import actor as make_actor
    from web.selectors import worklist

    coordinator = make_actor(episode.clinic, Role.COORDINATOR)
    remind = settings.OUTCOMES["QUESTIONNAIRE_REMINDER_DAYS"]
    wait = settings.OUTCOMES["QUESTIONNAIRE_WORKLIST_DAYS"]
    with time_machine.travel(window_opens(episode), tick=False):
        services.questionnaires_plan()
    with time_machine.travel(window_opens(episode) + timedelta(days=remind), tick=False):
        services.questionnaires_plan()
    section = {s.key: s for s in worklist(actor=coordinator, now=window_opens(episode) + timedelta(
        days=remind + wait) - timedelta(minutes=1))}["questionnaires"]
    assert section.rows == []
    later = window_opens(episode) + timedelta(days=remind + wait)
    section = {s.key: s for s in worklist(actor=coordinator, now=later)}["questionnaires"]
    assert [q.milestone.key for q in section.rows] == ["month_3"] and section.total == 1
    with time_machine.travel(later, tick=False):
        services.questionnaire_answer_save(questionnaire_external_id=section.rows[0].external_id, nrs=2,
                                           sleep_quality=None, activity_limitation=None, medication_use=None, pgic=1)
    assert {s.key: s for s in worklist(actor=coordinator, now=later)}["questionnaires"].rows == []
