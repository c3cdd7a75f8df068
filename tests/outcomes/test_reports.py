"""The clinic report, figure by figure, against episodes whose every date is written down here.

The clock is frozen on 15 January 2026 (Chicago); the cohort is January 2025. By hand:

  E1 (Dr A) opened 2 Jan, trial 12–16 Jan (diary on 3 of its 5 days), approved 20 Jan, implanted 30 Jan;
     NRS 3 at 3 months (62.5 % below its baseline 8: a responder) and 5 at 6 months (37.5 %: not).
  E2 (Dr A) opened 5 Jan, trial 10–14 Jan (diary every day), failed at review 18 Jan.
  E3 (Dr A) opened 8 Jan, not a candidate 20 Jan.        E4 (Dr A) opened 10 Jan, withdrew 25 Jan.
  E5 (Dr A) opened 3 Feb: outside the range.
  E6 (Dr B) opened 15 Jan, trial 25–29 Jan (diary on 1 of 5 days), approved 5 Feb, implanted 10 Feb;
     NRS 4 at 3 months: exactly 50 % below 8, which counts as a responder; nothing at 6 months.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.models import AuditEvent
from outcomes.export import report_csv, report_rows
from outcomes.reports import Rate, _percentiles, clinic_report
from pathway import services
from pathway.actors import Actor
from pathway.clinic_time import start_of_day
from pathway.models import Appointment, Episode, PainEntry
from pathway.stages import PainPhase, Role
from tests.factories import AppointmentFactory, EpisodeFactory, complete_checklist, staff

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
JAN = (date(2025, 1, 1), date(2025, 1, 31))


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def at(clinic, day: date, hour: int = 12) -> datetime:
    return start_of_day(clinic, day) + timedelta(hours=hour)


class Walk:
    def __init__(self, clinic, physician, opened: date):
        self.clinic = clinic
        self.doctor = Actor.for_user(physician)
        self.episode = EpisodeFactory(patient__clinic=clinic, physician=physician,
                                      auth_valid_from=date(2024, 12, 1), auth_valid_to=date(2025, 12, 31))
        Episode.objects.filter(pk=self.episode.pk).update(created_at=at(clinic, opened))
        complete_checklist(self.episode, self.doctor)  # baseline NRS 8

    def run(self, name: str, day: date, **data):
        services.episode_transition(episode=self.episode, name=name, actor=self.doctor, data=data,
                                    now=at(self.clinic, day))
        return self

    def pain(self, phase: str, nrs: int, *days: date):
        for day in days:
            PainEntry.objects.create(episode=self.episode, phase=phase, nrs=nrs, recorded_at=at(self.clinic, day, 19))
        return self

    def trial(self, first: date, last: date, diary: list[date]):
        self.run("start_trial", first, trial_lead_placement_date=first)
        self.pain(PainPhase.TRIAL, 3, *diary)
        return self.run("end_trial", last, trial_lead_removal_date=last)

    def implant(self, approved: date, implanted: date):
        self.run("approve_implant", approved)
        return self.run("record_implant", implanted, implant_date=implanted, device_maker="Synthetic",
                        device_model="DRG-1", device_serial="SN-1", lead_levels=["L4 left"])


def d(month: int, day: int, year: int = 2025) -> date:
    return date(year, month, day)


@pytest.fixture
def doctors(clinic):
    return (staff(clinic, Role.PHYSICIAN, username="dr-a", first_name="Alma", last_name="Alpha"),
            staff(clinic, Role.PHYSICIAN, username="dr-b", first_name="Bert", last_name="Beta"))


@pytest.fixture
def cohort(clinic, doctors):
    a, b = doctors
    e1 = Walk(clinic, a, d(1, 2)).trial(d(1, 12), d(1, 16), [d(1, 12), d(1, 13), d(1, 15)]).implant(d(1, 20), d(1, 30))
    e1.pain(PainPhase.FOLLOW_UP, 3, d(4, 30)).pain(PainPhase.FOLLOW_UP, 5, d(7, 30))
    e2 = Walk(clinic, a, d(1, 5)).trial(d(1, 10), d(1, 14), [d(1, 10), d(1, 11), d(1, 12), d(1, 13), d(1, 14)])
    e2.run("fail_trial", d(1, 18), reason="Relief below the threshold")
    Walk(clinic, a, d(1, 8)).run("decline_candidacy", d(1, 20), reason="Pain pattern not dermatomal")
    Walk(clinic, a, d(1, 10)).run("withdraw", d(1, 25), reason="Patient moved away")
    Walk(clinic, a, d(2, 3))
    e6 = Walk(clinic, b, d(1, 15)).trial(d(1, 25), d(1, 29), [d(1, 25)]).implant(d(2, 5), d(2, 10))
    e6.pain(PainPhase.FOLLOW_UP, 4, d(5, 12))
    # Due appointments in January: confirmed 1 missed of 2, unconfirmed 1 of 3; booked and cancelled ones do not count.
    for confirmed, status in ((True, "fulfilled"), (True, "noshow"), (False, "noshow"), (False, "fulfilled"),
                              (False, "fulfilled"), (False, "booked"), (True, "cancelled")):
        appointment = AppointmentFactory(patient=e1.episode.patient, episode=e1.episode,
                                         starts_at=at(clinic, d(1, 20)))
        Appointment.objects.filter(pk=appointment.pk).update(
            status=status, confirmed_at=at(clinic, d(1, 19)) if confirmed else None)
    AppointmentFactory(patient=e1.episode.patient, episode=e1.episode, starts_at=at(clinic, d(2, 20)))
    return {"e1": e1.episode, "e6": e6.episode}


def test_the_funnel_counts_each_step_from_the_transition_log(clinic, cohort):
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    assert report.started == 5
    assert [(s.stage, s.reached) for s in report.funnel] == [
        ("evaluation", 5), ("trial", 3), ("implant", 2), ("follow_up", 2)]
    assert [s.conversion and s.conversion.percent for s in report.funnel] == [None, 60, Decimal("66.7"), 100]
    endings = {key: count for key, _, count in report.endings}
    assert endings["not_candidate"] == endings["trial_failed_at_review"] == endings["withdrawn"] == 1
    assert endings["trial_aborted"] == 0 and endings["follow_up"] == 2
    assert report.withdrawn_reasons == [("Patient moved away", 1)]


def test_trial_success_and_trial_to_implant(clinic, cohort):
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    success = report.trial_success
    assert (success.count, success.of, success.percent) == (2, 3, Decimal("66.7"))
    assert (report.trial_to_implant.count, report.trial_to_implant.of) == (2, 3)
    # Wilson's interval for 2 of 3: wide, so a small clinic does not over-read it.
    assert report.trial_success.interval == (Decimal("20.8"), Decimal("93.9"))


def test_time_in_stage_median_and_90th_percentile_with_ties(clinic, cohort):
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    times = {t.stage: (t.stays, t.median_days, t.p90_days) for t in report.stage_times}
    assert times == {"evaluation": (5, 10, 15), "trial": (3, 4, 4), "trial_review": (3, 4, 7),
                     "implant": (2, 7.5, 10)}
    assert report.stalled == 0


def test_diary_adherence_counts_trial_days_with_an_entry(clinic, cohort):
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    assert (report.diary_days.count, report.diary_days.of, report.diary_days.percent) == (9, 15, 60)
    assert (report.diary_half_days.count, report.diary_half_days.of) == (2, 3)


def test_outcomes_at_the_milestones(clinic, cohort):
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    by_key = {o.key: o for o in report.outcomes}
    three, six, twelve = by_key["month_3"], by_key["month_6"], by_key["month_12"]
    assert (three.due, three.assessed, three.responders.count, three.mean_nrs_change) == (2, 2, 2, -4.5)
    assert (six.due, six.assessed, six.responders.count, six.responders.of) == (2, 1, 0, 1)
    assert (twelve.due, twelve.assessed) == (0, 0) and twelve.responders.percent is None
    assert report.explants == 0


def test_no_shows_with_and_without_a_confirmed_reminder(clinic, cohort):
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    assert (report.no_show_confirmed.count, report.no_show_confirmed.of) == (1, 2)
    assert (report.no_show_unconfirmed.count, report.no_show_unconfirmed.of, report.no_show_unconfirmed.percent) == (
        1, 3, Decimal("33.3"))


def test_per_physician_and_one_physician(clinic, cohort, doctors):
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    rows = {(p.username, p.started, p.trialled, p.reviewed, p.approved, p.implanted) for p in report.physicians}
    assert rows == {("dr-a", 4, 2, 2, 1, 1), ("dr-b", 1, 1, 1, 1, 1)}
    only_b = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1], physician=doctors[1])
    assert only_b.started == 1 and only_b.trial_success.percent == 100
    assert only_b.no_show_confirmed.of == 0  # the appointments belong to Dr A's episode


def test_one_patient_in_the_range(clinic, cohort):
    report = clinic_report(clinic=clinic, start=d(1, 15), end=d(1, 15))
    assert report.started == 1 and [s.reached for s in report.funnel] == [1, 1, 1, 1]
    assert (report.diary_days.count, report.diary_days.of) == (1, 5)


def test_an_empty_range_has_no_figures_only_zeros(clinic, cohort):
    report = clinic_report(clinic=clinic, start=d(3, 1), end=d(3, 31))
    assert report.started == 0 and all(s.reached == 0 for s in report.funnel)
    assert report.trial_success.percent is None and report.trial_success.interval is None
    assert all(t.median_days is None for t in report.stage_times)
    assert all(o.due == 0 for o in report.outcomes)
    assert report.physicians == []


def test_the_report_costs_the_same_queries_for_one_episode_or_many(clinic, cohort):
    def queries(start, end) -> int:
        with CaptureQueriesContext(connection) as captured:
            clinic_report(clinic=clinic, start=start, end=end)
        return len(captured.captured_queries)

    # episodes per stage, transitions, reasons, stalled, stays (2), diary, milestones due, baselines,
    # follow-up windows, appointments, physicians
    assert queries(d(1, 15), d(1, 15)) == queries(*JAN) == queries(d(1, 1), d(12, 31)) == 13


def test_median_and_nearest_rank_90th_percentile_from_counted_stays():
    assert _percentiles({50: 1, 100: 2, 120: 1, 150: 1}) == (10, 15)  # 5, 10, 10, 12, 15 days
    assert _percentiles({tenths * 10: 1 for tenths in range(1, 11)}) == (Decimal("5.5"), 9)  # 1..10 days
    assert _percentiles({}) == (None, None)
    assert Rate(0, 0).percent is None and Rate(3, 4).percent == 75


# --- The CSV ---------------------------------------------------------------------------------------


def test_the_csv_hides_small_counts(clinic, cohort):
    rows = {(row[0], row[1]): row for row in report_rows(clinic_report(clinic=clinic, start=JAN[0], end=JAN[1]))}
    assert rows[("cohort", "episodes started")][2] == "5"
    assert rows[("funnel", "reached trial")][2:5] == ["< 5", "5", ""]  # 3 of 5: hidden, so no rate either
    assert rows[("endings", "Withdrawn")][2] == "< 5"
    assert rows[("endings", "Trial aborted")][2] == "0"  # zero points at no one
    # A free-text reason given fewer than five times is pooled, never printed.
    assert ("withdrawn reasons", "Patient moved away") not in rows
    assert rows[("withdrawn reasons", "Other reasons (each given fewer than 5 times)")][2] == "< 5"
    assert rows[("time in stage", "Evaluation")][2:] == ["5", "", "", "", "", "10.0", "15.0", ""]
    assert rows[("time in stage", "Trial")][7:] == ["", "", ""]  # 3 stays: no median of so few
    csv = report_csv(clinic_report(clinic=clinic, start=JAN[0], end=JAN[1]))
    assert rows[("3-month follow-up", "NRS change from baseline")][3:] == ["< 5", "", "", "", "", "", ""]
    assert csv.startswith("section,measure,count,of,percent,ci95_low,ci95_high,median_days,p90_days,mean\r\n")
    assert "Patient moved away" not in csv and "dr-a" not in csv


def test_the_threshold_is_a_setting(clinic, cohort, settings):
    settings.OUTCOMES = {**settings.OUTCOMES, "SMALL_CELL_THRESHOLD": 3}
    rows = {(row[0], row[1]): row for row in report_rows(clinic_report(clinic=clinic, start=JAN[0], end=JAN[1]))}
    assert rows[("funnel", "reached trial")][2:5] == ["3", "5", "60.0"]
    assert rows[("endings", "Withdrawn")][2] == "< 3"
    assert rows[("3-month follow-up", "NRS change from baseline")][3:] == ["< 3", "", "", "", "", "", ""]
    settings.OUTCOMES = {**settings.OUTCOMES, "SMALL_CELL_THRESHOLD": 2}
    rows = {(row[0], row[1]): row for row in report_rows(clinic_report(clinic=clinic, start=JAN[0], end=JAN[1]))}
    assert rows[("3-month follow-up", "NRS change from baseline")][3:] == ["2", "", "", "", "", "", "-4.5"]


def test_the_responder_reduction_is_a_setting(clinic, cohort, settings):
    settings.OUTCOMES = {**settings.OUTCOMES, "RESPONDER_REDUCTION_PERCENT": 60}
    three = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1]).outcomes[0]
    assert (three.responders.count, three.responders.of) == (1, 2)  # E6's 50 % no longer counts


# --- Who may read it, through which door ------------------------------------------------------------


def signed_in(user, client_class=Client):
    client = client_class()
    client.force_login(user)
    return client


QUERY = {"start": "2025-01-01", "end": "2025-01-31"}


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.PHYSICIAN, Role.ADMIN])
def test_coordinators_physicians_and_clinic_administrators_read_the_reports(clinic, cohort, role):
    user = staff(clinic, role, username=f"reader-{role}")
    page = signed_in(user).get("/reports/", QUERY)
    assert page.status_code == 200 and page.context["report"].started == 5
    assert 'href="/reports/"' in page.content.decode()
    csv = signed_in(user).get("/reports/csv/", QUERY)
    assert csv.status_code == 200 and csv["Content-Type"] == "text/csv; charset=utf-8"
    assert csv["Content-Disposition"] == 'attachment; filename="clinic-report-north-2025-01-01-2025-01-31.csv"'
    api = signed_in(user, APIClient).get("/api/v1/reports/clinic/", QUERY)
    assert api.status_code == 200 and api.json()["funnel"][1] == {
        "stage": "trial", "reached": 3, "conversion": {"count": 3, "of": 5, "percent": "60.0",
                                                       "ci95": ["23.1", "88.2"]}}
    as_csv = signed_in(user, APIClient).get("/api/v1/reports/clinic/", {**QUERY, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.content.decode() == csv.content.decode()


def test_front_desk_and_strangers_are_refused(clinic, cohort, front_desk, outsider):
    assert signed_in(front_desk).get("/reports/").status_code == 403
    assert signed_in(front_desk).get("/reports/csv/").status_code == 403
    problem = signed_in(front_desk, APIClient).get("/api/v1/reports/clinic/", HTTP_ACCEPT="text/csv")
    assert problem.status_code == 403 and problem["Content-Type"] == "application/problem+json"
    assert APIClient().get("/api/v1/reports/clinic/").status_code in (401, 403)
    # Another clinic's coordinator sees their own clinic's (empty) report and cannot name this one.
    assert signed_in(outsider).get("/reports/", QUERY).context["report"].started == 0
    refused = signed_in(outsider, APIClient).get("/api/v1/reports/clinic/", {**QUERY, "clinic": "north"})
    assert refused.status_code == 400 and "clinic" in refused.json()["errors"]


def test_bad_filters_are_a_clear_error(clinic, coordinator):
    page = signed_in(coordinator).get("/reports/", {"start": "2025-02-01", "end": "2025-01-01"})
    assert page.status_code == 400 and "The end of the range is before its start." in page.content.decode()
    assert signed_in(coordinator, APIClient).get("/api/v1/reports/clinic/?start=").status_code == 400
    api = signed_in(coordinator, APIClient).get("/api/v1/reports/clinic/", {"start": "tomorrow"})
    assert api.status_code == 400 and "start" in api.json()["errors"]
    assert signed_in(coordinator, APIClient).get("/api/v1/reports/clinic/", {"end": "0001-01-01"}).status_code == 400
    assert signed_in(coordinator).get("/reports/csv/", {"physician": "nobody"}).status_code == 400


def test_every_report_read_is_audited_without_figures(clinic, cohort, coordinator):
    signed_in(coordinator).get("/reports/csv/", QUERY)
    signed_in(coordinator, APIClient).get("/api/v1/reports/clinic/", QUERY)
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "detail", "patient_ids"))
    assert rows == [("web.reports_csv", "clinic north 2025-01-01..2025-01-31", []),
                    ("reports.json", "clinic north 2025-01-01..2025-01-31", [])]


def _with_pgic_and_questionnaires(cohort):
    from outcomes.models import OutcomeQuestionnaire

    e1, e6 = cohort["e1"], cohort["e6"]
    PainEntry.objects.filter(episode=e1, phase="follow_up", nrs=3).update(pgic=2)  # 3 months
    PainEntry.objects.create(episode=e1, phase="follow_up", nrs=3, pgic=1,  # same window: the worse (2) counts
                             recorded_at=at(e1.clinic, d(5, 2), 19))
    PainEntry.objects.filter(episode=e1, phase="follow_up", nrs=5).update(pgic=3)  # 6 months
    PainEntry.objects.filter(episode=e6, phase="follow_up").update(pgic=5)  # 3 months
    sent = at(e1.clinic, d(4, 30), 10)
    OutcomeQuestionnaire.objects.create(milestone=e1.milestones.get(key="month_3"), sent_at=sent, answered_at=sent)
    OutcomeQuestionnaire.objects.create(milestone=e6.milestones.get(key="month_3"), sent_at=sent)
    OutcomeQuestionnaire.objects.create(milestone=e6.milestones.get(key="month_6"))  # planned, never sent
    OutcomeQuestionnaire.objects.create(milestone=e1.milestones.get(key="month_12"), sent_at=sent)  # window open


def test_pgic_distribution_and_questionnaire_response_at_each_milestone(clinic, cohort):
    _with_pgic_and_questionnaires(cohort)
    report = clinic_report(clinic=clinic, start=JAN[0], end=JAN[1])
    by_key = {o.key: o for o in report.outcomes}
    assert by_key["month_3"].pgic == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1, 6: 0, 7: 0}
    assert by_key["month_6"].pgic == {1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0}
    assert sum(by_key["month_12"].pgic.values()) == 0
    assert (by_key["month_3"].questionnaires.count, by_key["month_3"].questionnaires.of) == (1, 2)
    assert by_key["month_3"].questionnaires.percent == 50
    assert by_key["month_6"].questionnaires.of == 0 and by_key["month_12"].questionnaires.of == 0
    rows = {(r[0], r[1]): r for r in report_rows(report)}
    assert rows[("3-month follow-up", "PGIC 2 much improved")][2] == "< 5"
    assert rows[("3-month follow-up", "PGIC 4 no change")][2] == "0"
    assert rows[("3-month follow-up", "questionnaires answered / sent")][2:5] == ["< 5", "< 5", ""]
    data = report.as_dict()["outcomes"][0]
    assert data["pgic"]["2"] == 1 and data["questionnaire_response"]["count"] == 1


def test_pgic_and_response_for_one_patient_and_for_an_empty_range(clinic, cohort):
    _with_pgic_and_questionnaires(cohort)
    one = {o.key: o for o in clinic_report(clinic=clinic, start=d(1, 15), end=d(1, 15)).outcomes}  # E6 only
    assert one["month_3"].pgic[5] == 1 and sum(one["month_3"].pgic.values()) == 1
    assert (one["month_3"].questionnaires.count, one["month_3"].questionnaires.of) == (0, 1)
    none = clinic_report(clinic=clinic, start=d(6, 1), end=d(6, 30)).outcomes
    assert all(sum(o.pgic.values()) == 0 and o.questionnaires.of == 0 for o in none)
