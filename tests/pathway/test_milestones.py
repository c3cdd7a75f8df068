"""Follow-up milestones: created by record_implant, met by a completed appointment inside the window, overdue after."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pathway import selectors, services
from pathway.actors import Actor
from pathway.models import FollowUpMilestone
from tests.factories import EpisodeFactory, advance_to

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]

CHICAGO = ZoneInfo("America/Chicago")
IMPLANT = date(2026, 11, 20)
DEVICE = {"device_maker": "Synthetic Devices", "device_model": "DRG-1", "device_serial": "SN-9",
          "lead_levels": ["L5 right"]}


def implanted(clinic, implant_date=IMPLANT):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic), "implant")
    services.episode_transition(episode=episode, name="record_implant", actor=Actor.for_user(episode.physician),
                                data={"implant_date": implant_date, **DEVICE})
    return episode


def windows(episode) -> list[tuple]:
    return list(episode.milestones.values_list("key", "label", "kind", "window_start", "due_on", "window_end"))


def test_record_implant_creates_the_milestones_with_their_windows(clinic):
    d = IMPLANT
    assert windows(implanted(clinic)) == [
        ("wound_check", "Wound check", "wound_check", d + timedelta(7), d + timedelta(10), d + timedelta(14)),
        ("programming", "Programming", "programming", d + timedelta(10), d + timedelta(14), d + timedelta(21)),
        ("month_1", "1-month follow-up", "follow_up", date(2026, 12, 6), date(2026, 12, 20), date(2027, 1, 3)),
        ("month_3", "3-month follow-up", "follow_up", date(2027, 2, 6), date(2027, 2, 20), date(2027, 3, 6)),
        ("month_6", "6-month follow-up", "follow_up", date(2027, 5, 6), date(2027, 5, 20), date(2027, 6, 3)),
        ("month_12", "12-month follow-up", "follow_up", date(2027, 11, 6), date(2027, 11, 20), date(2027, 12, 4)),
        ("month_24", "2-year follow-up", "follow_up", date(2028, 11, 6), date(2028, 11, 20), date(2028, 12, 4)),
        ("month_36", "3-year follow-up", "follow_up", date(2029, 11, 6), date(2029, 11, 20), date(2029, 12, 4)),
        ("month_48", "4-year follow-up", "follow_up", date(2030, 11, 6), date(2030, 11, 20), date(2030, 12, 4)),
        ("month_60", "5-year follow-up", "follow_up", date(2031, 11, 6), date(2031, 11, 20), date(2031, 12, 4)),
    ]


def test_a_month_from_the_31st_is_the_last_day_of_a_short_month(clinic):
    month_1 = implanted(clinic, implant_date=date(2026, 1, 31)).milestones.get(key="month_1")
    assert month_1.due_on == date(2026, 2, 28)


def visit(episode, kind, day, at=time(10, 0), *, link_episode=True, finish=services.appointment_complete):
    """An appointment of `kind` at `at` local time on `day`, run to completion (or another end) that day."""
    starts = datetime.combine(day, at, tzinfo=CHICAGO)
    desk = Actor.for_user(episode.physician)
    appointment = services.appointment_book(
        patient=episode.patient, actor=desk, kind=kind, starts_at=starts, ends_at=starts + timedelta(minutes=20),
        episode=episode if link_episode else None,
    )
    finish(appointment=appointment, actor=desk)
    return appointment


def milestone(episode, key) -> FollowUpMilestone:
    return episode.milestones.get(key=key)


@pytest.mark.parametrize(("offset", "met"), [
    pytest.param(6, False, id="a-day-before-the-window"),
    pytest.param(7, True, id="first-day-of-the-window"),
    pytest.param(14, True, id="last-day-of-the-window"),
    pytest.param(15, False, id="a-day-after-the-window"),
])
def test_wound_check_is_met_only_inside_its_window(clinic, offset, met):
    episode = implanted(clinic)
    day = IMPLANT + timedelta(days=offset)
    appointment = visit(episode, "wound_check", day)
    wound_check = milestone(episode, "wound_check")
    assert (wound_check.met_by, wound_check.met_on) == ((appointment, day) if met else (None, None))


@pytest.mark.parametrize(("day", "met"), [
    pytest.param(date(2026, 12, 5), False, id="a-day-before"),
    pytest.param(date(2026, 12, 6), True, id="first-day"),
    pytest.param(date(2027, 1, 3), True, id="last-day"),
    pytest.param(date(2027, 1, 4), False, id="a-day-after"),
])
def test_month_follow_up_is_met_inside_its_window(clinic, day, met):
    episode = implanted(clinic)
    visit(episode, "follow_up", day, link_episode=False)
    assert (milestone(episode, "month_1").met_on is not None) == met


def test_the_window_is_read_in_the_clinics_day_not_utc(clinic):
    episode = implanted(clinic)
    last_day = IMPLANT + timedelta(days=14)
    late_evening = visit(episode, "wound_check", last_day, at=time(23, 30))  # already the next day in UTC
    assert late_evening.starts_at.astimezone(CHICAGO).date() == last_day
    assert milestone(episode, "wound_check").met_on == last_day


def test_only_a_completed_visit_of_the_matching_kind_meets_a_milestone(clinic):
    episode = implanted(clinic)
    day = IMPLANT + timedelta(days=10)
    visit(episode, "programming", day - timedelta(days=1))
    visit(episode, "wound_check", day, finish=services.appointment_no_show)
    visit(episode, "wound_check", day, finish=services.appointment_check_in)
    assert milestone(episode, "wound_check").met_by is None
    second = visit(episode, "wound_check", day)
    assert milestone(episode, "wound_check").met_by == second
    third = visit(episode, "wound_check", day + timedelta(days=1))
    assert milestone(episode, "wound_check").met_by == second
    assert not FollowUpMilestone.objects.filter(met_by=third).exists()


# --- Overdue --------------------------------------------------------------------------------------


def test_a_milestone_is_overdue_the_day_after_its_window(clinic):
    wound_check = milestone(implanted(clinic), "wound_check")
    last_day = IMPLANT + timedelta(days=14)
    assert not selectors.milestone_is_overdue(wound_check, last_day)
    assert selectors.milestone_is_overdue(wound_check, last_day + timedelta(days=1))


def test_a_met_milestone_is_never_overdue(clinic):
    episode = implanted(clinic)
    visit(episode, "wound_check", IMPLANT + timedelta(days=8))
    assert not selectors.milestone_is_overdue(milestone(episode, "wound_check"), date(2030, 1, 1))


def overdue_keys(actor, now) -> list[str]:
    return list(selectors.overdue_milestones_for(actor=actor, now=now).values_list("key", flat=True))


def test_the_worklist_lists_a_milestone_from_the_first_minute_after_its_window(clinic, people):
    implanted(clinic)
    last_day = IMPLANT + timedelta(days=14)
    last_minute = datetime.combine(last_day, time(23, 59), tzinfo=CHICAGO)
    next_morning = datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=CHICAGO)
    assert overdue_keys(people["coordinator"], last_minute) == []
    assert overdue_keys(people["coordinator"], next_morning) == ["wound_check"]
    assert overdue_keys(people["physician"], datetime.combine(date(2026, 12, 12), time(9), tzinfo=CHICAGO)) == [
        "wound_check", "programming",
    ]


def test_the_worklist_leaves_out_met_milestones_ended_episodes_and_other_clinics(clinic, people):
    met = implanted(clinic)
    visit(met, "wound_check", IMPLANT + timedelta(days=9))
    discharged = implanted(clinic)
    services.episode_transition(episode=discharged, name="discharge", actor=people["physician"],
                                data={"reason": "Moved abroad"})
    late = datetime.combine(IMPLANT + timedelta(days=16), time(9), tzinfo=CHICAGO)
    assert overdue_keys(people["coordinator"], late) == []
    assert overdue_keys(people["other_clinic"], late) == []

    open_one = implanted(clinic)
    assert list(selectors.overdue_milestones_for(actor=people["coordinator"], now=late)) == [
        milestone(open_one, "wound_check")
    ]
    assert overdue_keys(people["other_clinic"], late) == []
    assert overdue_keys(people["front_desk"], late) == []
