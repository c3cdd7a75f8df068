"""Reads: the stalled flag at each stage's limit, the board counts, and scoping to the caller's clinics."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pathway import selectors, services
from pathway.actors import Actor
from pathway.models import Episode
from pathway.stages import ENDED_STAGES, Stage
from tests.factories import AppointmentFactory, EpisodeFactory, advance_to

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]

CHICAGO = ZoneInfo("America/Chicago")
ENTERED = datetime(2026, 9, 1, 10, 0, tzinfo=CHICAGO)


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=CHICAGO)


def entered_at(clinic, stage, moment, time_machine) -> Episode:
    """An episode that reached `stage` at `moment` (the earlier stages a day apart before it)."""
    time_machine.move_to(moment if stage == Stage.EVALUATION else moment - timedelta(days=1), tick=False)
    episode = EpisodeFactory(patient__clinic=clinic)
    advance_to(episode, Stage.TRIAL if stage in (Stage.TRIAL_REVIEW, Stage.IMPLANT) else Stage.EVALUATION)
    time_machine.move_to(moment, tick=False)
    return advance_to(episode, stage)


def stalled_both_ways(episode: Episode, now: datetime) -> bool:
    """The flag as one episode reads it, after checking the board's filter says the same."""
    by_row = selectors.episode_is_stalled(Episode.objects.select_related("clinic").get(pk=episode.pk), now)
    by_query = Episode.objects.filter(selectors.stalled_q(clinics=[episode.clinic], now=now), pk=episode.pk).exists()
    assert by_row == by_query, "episode_is_stalled and stalled_q disagree"
    return by_row


@pytest.mark.parametrize(("stage", "limit_days"), [
    (Stage.EVALUATION, 60),
    (Stage.TRIAL_REVIEW, 14),
    (Stage.IMPLANT, 60),
])
def test_stalled_after_the_last_day_of_the_stage_limit(clinic, time_machine, stage, limit_days):
    episode = entered_at(clinic, stage, ENTERED, time_machine)
    last_day = ENTERED.date() + timedelta(days=limit_days)

    assert not stalled_both_ways(episode, local(last_day, time(0, 0)))
    assert not stalled_both_ways(episode, local(last_day, time(23, 59)))
    assert selectors.days_in_stage(episode, local(last_day, time(23, 59))) == limit_days
    assert stalled_both_ways(episode, local(last_day + timedelta(days=1), time(0, 0)))
    assert selectors.days_in_stage(episode, local(last_day + timedelta(days=1), time(0, 0))) == limit_days + 1


def test_a_trial_is_stalled_the_day_after_its_expected_end(clinic, time_machine):
    episode = entered_at(clinic, Stage.TRIAL, ENTERED, time_machine)
    expected_end = Episode.objects.get(pk=episode.pk).trial_expected_end
    assert expected_end == ENTERED.date() + timedelta(days=7)

    assert not stalled_both_ways(episode, local(expected_end, time(23, 59)))
    assert stalled_both_ways(episode, local(expected_end + timedelta(days=1), time(0, 0)))


def test_the_limit_is_counted_in_the_clinics_days(clinic, time_machine):
    episode = entered_at(clinic, Stage.TRIAL_REVIEW, local(date(2026, 9, 1), time(23, 30)), time_machine)
    # 23:30 in Chicago is already 2 September in UTC; the clinic's 14 days still end on 15 September.
    assert not stalled_both_ways(episode, local(date(2026, 9, 15), time(23, 59)))
    assert stalled_both_ways(episode, local(date(2026, 9, 16), time(0, 1)))


@pytest.mark.parametrize("stage", [Stage.FOLLOW_UP, *ENDED_STAGES])
def test_follow_up_and_ended_episodes_never_stall(clinic, time_machine, stage):
    episode = entered_at(clinic, stage, ENTERED, time_machine)
    assert not stalled_both_ways(episode, ENTERED + timedelta(days=3 * 365))


def test_a_clinic_reads_stalled_in_its_own_zone(clinic, other_clinic, time_machine):
    other_clinic.time_zone = "Asia/Tokyo"
    other_clinic.save()
    chicago = entered_at(clinic, Stage.TRIAL, ENTERED, time_machine)
    tokyo = entered_at(other_clinic, Stage.TRIAL, ENTERED, time_machine)
    expected_end = ENTERED.date() + timedelta(days=7)
    # Both trials end on the same date (10:00 in Chicago is already the next day in Tokyo).
    Episode.objects.filter(pk__in=[chicago.pk, tokyo.pk]).update(trial_expected_end=expected_end)
    # Early morning in Tokyo of the day after the expected end is still that day in Chicago.
    moment = datetime.combine(expected_end + timedelta(days=1), time(2, 0), tzinfo=ZoneInfo("Asia/Tokyo"))
    stalled = Episode.objects.filter(selectors.stalled_q(clinics=[clinic, other_clinic], now=moment))
    assert list(stalled) == [tokyo]
    assert not stalled_both_ways(chicago, moment)


# --- Board ----------------------------------------------------------------------------------------


def test_board_counts_open_episodes_per_stage_with_holds_and_stalls(clinic, other_clinic, people, time_machine):
    entered_at(clinic, Stage.EVALUATION, ENTERED, time_machine)  # stalled by now
    held = entered_at(clinic, Stage.EVALUATION, ENTERED + timedelta(days=70), time_machine)
    services.episode_hold(episode=held, actor=people["coordinator"], reason="insurance appeal")
    entered_at(clinic, Stage.TRIAL, ENTERED, time_machine)  # stalled
    entered_at(clinic, Stage.FOLLOW_UP, ENTERED, time_machine)
    entered_at(clinic, Stage.DISCHARGED, ENTERED, time_machine)
    entered_at(other_clinic, Stage.EVALUATION, ENTERED, time_machine)
    now = ENTERED + timedelta(days=80)
    empty = {"total": 0, "on_hold": 0, "stalled": 0}

    assert selectors.board_counts(actor=people["coordinator"], now=now) == {
        "evaluation": {"total": 2, "on_hold": 1, "stalled": 1},
        "trial": {"total": 1, "on_hold": 0, "stalled": 1},
        "trial_review": empty,
        "implant": empty,
        "follow_up": {"total": 1, "on_hold": 0, "stalled": 0},
    }
    assert selectors.board_counts(actor=people["other_clinic"], now=now)["evaluation"] == {
        "total": 1, "on_hold": 0, "stalled": 1,
    }
    assert selectors.board_counts(actor=people["admin"], now=now)["evaluation"] == empty


# --- Scoping --------------------------------------------------------------------------------------


def test_selectors_return_nothing_of_another_clinic(clinic, other_clinic, people):
    ours = advance_to(EpisodeFactory(patient__clinic=clinic), Stage.TRIAL)
    theirs = advance_to(EpisodeFactory(patient__clinic=other_clinic), Stage.TRIAL)
    our_visit = AppointmentFactory(patient=ours.patient)
    AppointmentFactory(patient=theirs.patient)

    for role in ("coordinator", "physician", "front_desk"):
        actor = people[role]
        assert list(selectors.patients_for(actor=actor)) == [ours.patient], role
        assert list(selectors.episodes_for(actor=actor)) == [ours], role
        assert list(selectors.appointments_for(actor=actor)) == [our_visit], role
    for role in ("coordinator", "physician"):
        assert list(selectors.clinical_episodes_for(actor=people[role])) == [ours], role
    assert not selectors.clinical_episodes_for(actor=people["front_desk"]).exists()

    their_physician = people["other_clinic"]
    assert list(selectors.episodes_for(actor=their_physician)) == [theirs]
    assert list(selectors.patients_for(actor=their_physician)) == [theirs.patient]


def test_an_admin_or_a_stranger_sees_no_patients(clinic, people):
    advance_to(EpisodeFactory(patient__clinic=clinic), Stage.EVALUATION)
    for actor in (people["admin"], Actor()):
        assert not selectors.patients_for(actor=actor).exists()
        assert not selectors.episodes_for(actor=actor).exists()
        assert not selectors.appointments_for(actor=actor).exists()
