"""The clinic report (issue 11): how many patients moved through the pathway, how fast, and how they fared.

One clinic, a date range of the clinic's days and optionally one physician. The cohort is the episodes *started*
(opened) in the range, and every pathway figure follows that cohort through the TransitionLog to today, so a
range always means the same patients; appointments (no-shows) are those *booked for* a day in the range.

The report is read in a fixed number of queries whatever the range (pinned in tests/outcomes/test_reports.py),
counted in the database: stays come back counted per tenth of a day, so only the diary (one row per ended trial)
and the outcomes (one row per milestone whose window has closed) grow with the range. It reads counts and
means, never patients: nothing a caller receives names one.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Avg, BooleanField, Count, ExpressionWrapper, F, FloatField, Func, Max, Q
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from pathway.actors import Actor
from pathway.clinic_time import clinic_today, clinic_zone, start_of_day
from pathway.models import Appointment, Clinic, Episode, FollowUpMilestone, PainEntry, TransitionLog
from pathway.selectors import stalled_q
from pathway.services import TRANSITION_NAMES
from pathway.stages import OPEN_STAGES, PGIC, AppointmentStatus, MedicationUse, PainPhase, Role, Stage

# The reports show counts, never a patient: a clinic's administrator reads them too.
REPORT_ROLES = (Role.COORDINATOR, Role.PHYSICIAN, Role.ADMIN)
FUNNEL = (Stage.EVALUATION, Stage.TRIAL, Stage.IMPLANT, Stage.FOLLOW_UP)
TIMED_STAGES = (Stage.EVALUATION, Stage.TRIAL, Stage.TRIAL_REVIEW, Stage.IMPLANT)
# The stage each funnel step's transition enters.
ENTERED_BY = {"start_trial": Stage.TRIAL, "approve_implant": Stage.IMPLANT, "record_implant": Stage.FOLLOW_UP}
# Published figures to read a clinic's own beside (DOMAIN.md, "Outside standards worth following").
REFERENCES = {
    "trial_to_implant": ("about 69 % of trialled patients implanted (large post-approval study)", Decimal("69")),
    "month_3_responders": ("ACCURATE: 81.2 % of DRG patients with ≥ 50 % relief at 3 months", Decimal("81.2")),
    "diary_half_days": ("mySCS: about 64 % of users entered on at least half their trial days", Decimal("64")),
}
Z95 = 1.959964


def report_clinics_for(*, actor: Actor):
    """The clinics whose reports the caller may read: coordinators, physicians and clinic administrators."""
    return Clinic.objects.filter(pk__in=actor.clinic_ids_for(*REPORT_ROLES)).order_by("name")


def report_physicians_for(*, clinic: Clinic):
    return (get_user_model().objects.filter(clinic_memberships__clinic=clinic, clinic_memberships__role=Role.PHYSICIAN)
            .order_by("last_name", "first_name", "username"))


# --- Figures ---------------------------------------------------------------------------------------


def _one_decimal(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Rate:
    """`count` of `of`, as a percentage with its Wilson 95 % interval, so 3 of 4 is not read as 75 % for sure."""

    count: int
    of: int

    @property
    def percent(self) -> Decimal | None:
        return _one_decimal(Decimal(self.count) * 100 / self.of) if self.of else None

    @property
    def interval(self) -> tuple[Decimal, Decimal] | None:
        if not self.of:
            return None
        n, p = self.of, self.count / self.of
        centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2)) / (1 + Z95**2 / n)
        return _one_decimal(max(0.0, centre - half) * 100), _one_decimal(min(1.0, centre + half) * 100)

    def as_dict(self) -> dict:
        ci = self.interval
        return {"count": self.count, "of": self.of, "percent": _s(self.percent),
                "ci95": None if ci is None else [str(ci[0]), str(ci[1])]}


def _s(value) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class StageTime:
    stage: str
    label: str
    stays: int
    median_days: Decimal | None
    p90_days: Decimal | None


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    label: str
    reached: int
    conversion: Rate | None  # from the step before


@dataclass(frozen=True)
class MilestoneOutcome:
    key: str
    label: str
    due: int  # implanted episodes whose milestone window has closed
    assessed: int  # of those, with a follow-up pain score in the window and a baseline above 0
    responders: Rate
    mean_nrs_change: Decimal | None
    baseline_sleep: Decimal | None
    sleep: Decimal | None
    baseline_activity: Decimal | None
    activity: Decimal | None
    medication: dict[str, int]
    # Patient Global Impression of Change: episodes by their window's PGIC (1 very much improved … 7 very much
    # worse); the worst one when the window holds several (a questionnaire answer and a visit).
    pgic: dict[int, int] = field(default_factory=lambda: dict.fromkeys(PGIC.values, 0))
    questionnaires: Rate = Rate(0, 0)  # answered / sent, of milestones whose window has closed

    @property
    def pgic_rows(self) -> list[tuple[int, str, int]]:
        return [(value, PGIC(value).label, self.pgic[value]) for value in PGIC.values]


@dataclass(frozen=True)
class PhysicianRow:
    username: str
    name: str
    started: int
    trialled: int
    reviewed: int
    approved: int
    implanted: int

    @property
    def trial_success(self) -> Rate:
        return Rate(self.approved, self.reviewed)


@dataclass
class ClinicReport:
    clinic: Clinic
    start: date
    end: date
    physician: object | None
    generated_at: datetime
    responder_percent: int
    small_cell: int
    started: int = 0
    funnel: list[FunnelStep] = field(default_factory=list)
    endings: list[tuple[str, str, int]] = field(default_factory=list)
    withdrawn_reasons: list[tuple[str, int]] = field(default_factory=list)
    trial_success: Rate = Rate(0, 0)
    trial_to_implant: Rate = Rate(0, 0)
    stage_times: list[StageTime] = field(default_factory=list)
    stalled: int = 0
    no_show_confirmed: Rate = Rate(0, 0)
    no_show_unconfirmed: Rate = Rate(0, 0)
    diary_days: Rate = Rate(0, 0)
    diary_half_days: Rate = Rate(0, 0)
    explants: int = 0
    explant_reasons: list[tuple[str, int]] = field(default_factory=list)
    outcomes: list[MilestoneOutcome] = field(default_factory=list)
    physicians: list[PhysicianRow] = field(default_factory=list)

    @property
    def references(self) -> dict[str, str]:
        return {key: words for key, (words, _) in REFERENCES.items()}

    def as_dict(self) -> dict:
        return {
            "clinic": self.clinic.slug, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "physician": self.physician.get_username() if self.physician else None,
            "generated_at": self.generated_at.isoformat(), "cohort": "episodes started in the range",
            "episodes_started": self.started,
            "funnel": [{"stage": s.stage, "reached": s.reached,
                        "conversion": s.conversion.as_dict() if s.conversion else None} for s in self.funnel],
            "endings": [{"stage": stage, "label": label, "count": n} for stage, label, n in self.endings],
            "withdrawn_reasons": [{"reason": r, "count": n} for r, n in self.withdrawn_reasons],
            "trial_success": {**self.trial_success.as_dict(), "definition": "implant approved / trials reviewed"},
            "trial_to_implant": {**self.trial_to_implant.as_dict(), "reference": REFERENCES["trial_to_implant"][0]},
            "stage_times": [{"stage": t.stage, "stays": t.stays, "median_days": _s(t.median_days),
                             "p90_days": _s(t.p90_days)} for t in self.stage_times],
            "stalled": self.stalled,
            "no_show": {"confirmed": self.no_show_confirmed.as_dict(),
                        "not_confirmed": self.no_show_unconfirmed.as_dict()},
            "diary": {"days_with_entry": self.diary_days.as_dict(),
                      "patients_on_half_their_days": {**self.diary_half_days.as_dict(),
                                                      "reference": REFERENCES["diary_half_days"][0]}},
            "explants": {"count": self.explants,
                         "reasons": [{"reason": r, "count": n} for r, n in self.explant_reasons]},
            "outcomes": [{
                "milestone": o.key, "label": o.label, "due": o.due, "assessed": o.assessed,
                "responders": o.responders.as_dict(), "responder_reduction_percent": self.responder_percent,
                "mean_nrs_change": _s(o.mean_nrs_change),
                "sleep_quality": {"baseline": _s(o.baseline_sleep), "at_milestone": _s(o.sleep)},
                "activity_limitation": {"baseline": _s(o.baseline_activity), "at_milestone": _s(o.activity)},
                "medication": o.medication,
                "pgic": {str(value): count for value, count in o.pgic.items()},
                "questionnaire_response": o.questionnaires.as_dict(),
                **({"reference": REFERENCES["month_3_responders"][0]} if o.key == "month_3" else {}),
            } for o in self.outcomes],
            "physicians": [{"physician": p.username, "name": p.name, "started": p.started, "trialled": p.trialled,
                            "trial_success": p.trial_success.as_dict(), "implanted": p.implanted}
                           for p in self.physicians],
        }


# --- Reading ---------------------------------------------------------------------------------------


def _mean(values) -> Decimal | None:
    values = [float(v) for v in values if v is not None]
    return _one_decimal(round(sum(values) / len(values), 6)) if values else None


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def _reasons(counts) -> list[tuple[str, int]]:
    counted = Counter()
    for text, count in counts:
        counted[(text or "").strip() or "No reason given"] += count
    return sorted(counted.items(), key=lambda item: (-item[1], item[0]))


class TenthsOfDayBetween(Func):
    """Whole tenths of a day from `start` to `end`, rounded: a stay as the report shows it (one decimal)."""

    output_field = FloatField()

    def __init__(self, start, end):
        super().__init__(start, end)

    def as_sql(self, compiler, connection, **extra):
        start, start_params = compiler.compile(self.source_expressions[0])
        end, end_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "postgresql":
            return f"ROUND(EXTRACT(EPOCH FROM ({end} - {start})) / 8640.0)", (*end_params, *start_params)
        return f"ROUND((julianday({end}) - julianday({start})) * 10)", (*end_params, *start_params)


def _percentiles(histogram: dict[int, int]) -> tuple[Decimal | None, Decimal | None]:
    """Median (the mean of the two middle stays when their number is even) and nearest-rank 90th percentile
    of stays counted per tenth of a day."""
    total = sum(histogram.values())
    if not total:
        return None, None

    def at_rank(rank: int) -> int:  # the rank-th smallest stay, 1-based
        seen = 0
        for tenths in sorted(histogram):
            seen += histogram[tenths]
            if seen >= rank:
                return tenths
        raise AssertionError("rank beyond the stays")

    middle = (at_rank((total + 1) // 2) + at_rank(total // 2 + 1)) / 2
    p90 = at_rank(max(1, math.ceil(0.9 * total)))
    return _one_decimal(Decimal(str(middle)) / 10), _one_decimal(Decimal(p90) / 10)


def clinic_report(*, clinic: Clinic, start: date, end: date, physician=None, now: datetime | None = None
                  ) -> ClinicReport:
    """The report for `clinic`'s episodes started from `start` to `end` (the clinic's days, both included)."""
    now = now or timezone.now()
    today = clinic_today(clinic, now)
    zone = clinic_zone(clinic)
    policy = settings.OUTCOMES
    report = ClinicReport(clinic=clinic, start=start, end=end, physician=physician,
                          generated_at=now.astimezone(zone), responder_percent=policy["RESPONDER_REDUCTION_PERCENT"],
                          small_cell=policy["SMALL_CELL_THRESHOLD"])
    cohort = Episode.objects.filter(clinic=clinic, created_at__gte=start_of_day(clinic, start),
                                    created_at__lt=start_of_day(clinic, end + timedelta(days=1)))
    if physician is not None:
        cohort = cohort.filter(physician=physician)
    ids = cohort.values("pk")

    # Counted in the database: episodes per physician and stage, and episodes per physician and transition.
    finals, started_by = Counter(), Counter()
    for physician_id, stage, count in cohort.order_by().values("physician_id", "stage").annotate(
            n=Count("pk")).values_list("physician_id", "stage", "n"):
        finals[stage] += count
        started_by[physician_id] += count
    report.started = sum(finals.values())
    ran, ran_by = Counter(), defaultdict(Counter)
    for physician_id, transition, count in (
        TransitionLog.objects.filter(episode__in=ids, transition__in=TRANSITION_NAMES).order_by()
        .values("episode__physician_id", "transition").annotate(n=Count("episode_id", distinct=True))
        .values_list("episode__physician_id", "transition", "n")
    ):
        ran[transition] += count
        ran_by[physician_id][transition] += count
    reached = {Stage.EVALUATION: report.started, **{stage: ran[name] for name, stage in ENTERED_BY.items()}}

    previous = None
    for stage in FUNNEL:
        report.funnel.append(FunnelStep(stage=stage, label=Stage(stage).label, reached=reached[stage],
                                        conversion=None if previous is None else Rate(reached[stage], previous)))
        previous = reached[stage]
    aborted = ran["abort_trial"]
    report.endings = [
        (Stage.NOT_CANDIDATE, Stage.NOT_CANDIDATE.label, finals[Stage.NOT_CANDIDATE]),
        ("trial_aborted", "Trial aborted", aborted),
        ("trial_failed_at_review", "Trial failed at review", finals[Stage.TRIAL_FAILED] - aborted),
        (Stage.WITHDRAWN, Stage.WITHDRAWN.label, finals[Stage.WITHDRAWN]),
        (Stage.EXPLANTED, Stage.EXPLANTED.label, finals[Stage.EXPLANTED]),
        (Stage.DISCHARGED, Stage.DISCHARGED.label, finals[Stage.DISCHARGED]),
        *((stage, f"Still in {Stage(stage).label.lower()}", finals[stage]) for stage in OPEN_STAGES),
    ]
    reasons = defaultdict(list)
    for stage, reason, count in cohort.filter(stage__in=[Stage.WITHDRAWN, Stage.EXPLANTED]).order_by().values(
            "stage", "end_reason").annotate(n=Count("pk")).values_list("stage", "end_reason", "n"):
        reasons[stage].append((reason, count))
    report.withdrawn_reasons = _reasons(reasons[Stage.WITHDRAWN])
    report.explants = finals[Stage.EXPLANTED]
    report.explant_reasons = _reasons(reasons[Stage.EXPLANTED])
    report.trial_success = Rate(ran["approve_implant"], ran["approve_implant"] + ran["fail_trial"])
    report.trial_to_implant = Rate(reached[Stage.FOLLOW_UP], reached[Stage.TRIAL])
    report.stalled = cohort.filter(stage__in=OPEN_STAGES).filter(stalled_q(clinics=[clinic], now=now)).count()

    _stage_times(report, ids)
    _diary(report, cohort, zone)
    _outcomes(report, ids, today, zone)
    _no_shows(report, clinic, start, end, physician)
    _physicians(report, started_by, ran_by)
    return report


def _stage_times(report: ClinicReport, ids) -> None:
    """Completed stays per stage, counted per tenth of a day in the database: each stage change closes the stay
    that began when the episode was opened (evaluation) or at the change into that stage (the pathway never
    enters a stage twice)."""
    histograms: dict[str, dict[int, int]] = defaultdict(dict)
    changes = TransitionLog.objects.filter(episode__in=ids, transition__in=TRANSITION_NAMES).order_by()
    evaluation = changes.filter(from_stage=Stage.EVALUATION).annotate(
        tenths=TenthsOfDayBetween(F("episode__created_at"), F("at")))
    later = changes.exclude(from_stage=Stage.EVALUATION).filter(
        episode__transition_logs__to_stage=F("from_stage"), episode__transition_logs__transition__in=TRANSITION_NAMES,
    ).annotate(tenths=TenthsOfDayBetween(F("episode__transition_logs__at"), F("at")))
    for rows in (evaluation, later):
        for stage, tenths, count in rows.values("from_stage", "tenths").annotate(n=Count("pk")).values_list(
                "from_stage", "tenths", "n"):
            histograms[stage][int(tenths)] = histograms[stage].get(int(tenths), 0) + count
    for stage in TIMED_STAGES:
        median, p90 = _percentiles(histograms[stage])
        report.stage_times.append(StageTime(stage=stage, label=Stage(stage).label,
                                            stays=sum(histograms[stage].values()), median_days=median, p90_days=p90))


def _diary(report: ClinicReport, cohort, zone) -> None:
    """Share of trial days with an entry, over trials that have ended (a running trial's days are not all in):
    from the lead placement to its removal, or to the day the trial was aborted or the patient withdrew."""
    with timezone.override(zone):  # __date reads the clinic's calendar
        ended = cohort.filter(trial_lead_placement_date__isnull=False).annotate(
            trial_end=Coalesce("trial_lead_removal_date", "ended_on")).filter(trial_end__isnull=False).annotate(
            days=Count(TruncDate("pain_entries__recorded_at", tzinfo=zone), distinct=True, filter=Q(
                pain_entries__phase=PainPhase.TRIAL,
                pain_entries__recorded_at__date__gte=F("trial_lead_placement_date"),
                pain_entries__recorded_at__date__lte=F("trial_end"))),
        ).order_by().values_list("trial_lead_placement_date", "trial_end", "days")
        rows = list(ended)
    total = entered = half = trials = 0
    for placed, last, with_entry in rows:
        if last < placed:
            continue
        days = (last - placed).days + 1
        total, entered, trials = total + days, entered + with_entry, trials + 1
        half += with_entry * 2 >= days
    report.diary_days = Rate(entered, total)
    report.diary_half_days = Rate(half, trials)


def _milestone_label(key: str) -> str:
    """As services._create_follow_up_milestones names them: "3-month follow-up", "2-year follow-up"."""
    months = int(key.removeprefix("month_")) if key.removeprefix("month_").isdigit() else None
    if months is None:
        return key.replace("_", " ")
    return f"{months}-month follow-up" if months < 24 else f"{months // 12}-year follow-up"


def _outcomes(report: ClinicReport, ids, today: date, zone) -> None:
    """Milestones whose window has closed; the follow-up scores inside each window averaged by the database
    (one row per assessed milestone), set against each episode's baseline mean (one row per episode)."""
    keys = settings.OUTCOMES["REPORT_MILESTONES"]
    closed = Q(episode__milestones__key__in=keys, episode__milestones__window_end__lt=today)
    due = dict(FollowUpMilestone.objects.filter(episode__in=ids, key__in=keys, window_end__lt=today).order_by()
               .values("key").annotate(n=Count("pk")).values_list("key", "n"))
    baselines = {row[0]: row[1:] for row in (
        PainEntry.objects.filter(episode__in=ids, phase=PainPhase.BASELINE).order_by().values("episode_id")
        .annotate(nrs=Avg("nrs"), sleep=Avg("sleep_quality"), activity=Avg("activity_limitation"))
        .values_list("episode_id", "nrs", "sleep", "activity"))}
    with timezone.override(zone):  # __date reads the clinic's calendar
        windows = list(
            PainEntry.objects.filter(
                closed, episode__in=ids, phase=PainPhase.FOLLOW_UP,
                recorded_at__date__gte=F("episode__milestones__window_start"),
                recorded_at__date__lte=F("episode__milestones__window_end"),
            ).order_by().values("episode_id", "episode__milestones__key")
            .annotate(nrs=Avg("nrs"), sleep=Avg("sleep_quality"), activity=Avg("activity_limitation"),
                      worst_pgic=Max("pgic"),
                      **{use: Count("pk", filter=Q(medication_use=use)) for use in MedicationUse.values})
            .values_list("episode__milestones__key", "episode_id", "nrs", "sleep", "activity", "worst_pgic",
                         *MedicationUse.values)
        )
    from outcomes.models import OutcomeQuestionnaire

    asked = {key: Rate(answered, sent) for key, sent, answered in (
        OutcomeQuestionnaire.objects.filter(milestone__episode__in=ids, milestone__key__in=keys,
                                            milestone__window_end__lt=today, sent_at__isnull=False)
        .order_by().values("milestone__key")
        .annotate(sent=Count("pk"), answered=Count("pk", filter=Q(answered_at__isnull=False)))
        .values_list("milestone__key", "sent", "answered"))}
    by_key: dict[str, list[tuple]] = defaultdict(list)
    pgic: dict[str, Counter] = defaultdict(Counter)
    for key, episode_id, nrs, sleep, activity, worst_pgic, *answers in windows:
        if worst_pgic:  # PGIC needs no baseline: it is the patient's own comparison
            pgic[key][worst_pgic] += 1
        base = baselines.get(episode_id)
        if base is not None and base[0]:
            by_key[key].append((nrs, sleep, activity, base, answers))
    kept = 100 - report.responder_percent
    for key in keys:
        assessed = by_key[key]
        medication = {use: sum(row[4][i] for row in assessed) for i, use in enumerate(MedicationUse.values)}
        report.outcomes.append(MilestoneOutcome(
            key=key, label=_milestone_label(key),
            due=due.get(key, 0), assessed=len(assessed),
            # (baseline − mean) / baseline ≥ the reduction, without a division: mean × 100 ≤ baseline × kept
            # (a hair of tolerance, so exactly 50 % counts whatever the floating point does with thirds)
            responders=Rate(sum(1 for row in assessed if row[0] * 100 <= row[3][0] * kept + 1e-9), len(assessed)),
            mean_nrs_change=_mean(row[0] - row[3][0] for row in assessed),
            baseline_sleep=_mean(row[3][1] for row in assessed), sleep=_mean(row[1] for row in assessed),
            baseline_activity=_mean(row[3][2] for row in assessed), activity=_mean(row[2] for row in assessed),
            medication=medication,
            pgic={value: pgic[key][value] for value in PGIC.values},
            questionnaires=asked.get(key, Rate(0, 0)),
        ))


def _no_shows(report: ClinicReport, clinic: Clinic, start: date, end: date, physician) -> None:
    """No-shows among appointments that were due (attended or missed), with and without the patient's confirmation."""
    appointments = Appointment.objects.filter(
        clinic=clinic, starts_at__gte=start_of_day(clinic, start),
        starts_at__lt=start_of_day(clinic, end + timedelta(days=1)),
        status__in=[AppointmentStatus.FULFILLED, AppointmentStatus.ARRIVED, AppointmentStatus.NOSHOW],
    )
    if physician is not None:
        appointments = appointments.filter(episode__physician=physician)
    counts = Counter()
    confirmed = ExpressionWrapper(Q(confirmed_at__isnull=False), output_field=BooleanField())
    missed = Count("pk", filter=Q(status=AppointmentStatus.NOSHOW))
    for row in appointments.annotate(confirmed=confirmed).order_by().values("confirmed").annotate(
            due=Count("pk"), missed=missed):
        counts[(bool(row["confirmed"]), "due")] += row["due"]
        counts[(bool(row["confirmed"]), "missed")] += row["missed"]
    report.no_show_confirmed = Rate(counts[(True, "missed")], counts[(True, "due")])
    report.no_show_unconfirmed = Rate(counts[(False, "missed")], counts[(False, "due")])


def _physicians(report: ClinicReport, started_by: Counter, ran_by: dict) -> None:
    users = get_user_model().objects.in_bulk(list(started_by))
    rows = []
    for user_id, started in started_by.items():
        user, ran = users[user_id], ran_by.get(user_id, Counter())
        rows.append(PhysicianRow(
            username=user.get_username(), name=user.get_full_name() or user.get_username(), started=started,
            trialled=ran["start_trial"], reviewed=ran["approve_implant"] + ran["fail_trial"],
            approved=ran["approve_implant"], implanted=ran["record_implant"],
        ))
    report.physicians = sorted(rows, key=lambda row: row.name)
