"""The clinic report (issue 11): how many patients moved through the pathway, how fast, and how they fared.

One clinic, a date range of the clinic's days and optionally one physician. The cohort is the episodes *started*
(opened) in the range, and every pathway figure follows that cohort through the TransitionLog to today, so a
range always means the same patients; appointments (no-shows) are those *booked for* a day in the range.

The report is read in a fixed number of queries whatever the range (pinned in tests/outcomes/test_reports.py):
each query returns one narrow row per episode, per stage change, per diary day or per follow-up score, and
the figures are counted here. It reads rows, never patients: nothing a caller receives names one.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Avg, BooleanField, Count, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from pathway.actors import Actor
from pathway.clinic_time import clinic_today, clinic_zone, local_date, start_of_day
from pathway.models import Appointment, Clinic, Episode, FollowUpMilestone, PainEntry, TransitionLog
from pathway.selectors import stalled_q
from pathway.stages import OPEN_STAGES, AppointmentStatus, MedicationUse, PainPhase, Role, Stage

# The reports show counts, never a patient: a clinic's administrator reads them too.
REPORT_ROLES = (Role.COORDINATOR, Role.PHYSICIAN, Role.ADMIN)
FUNNEL = (Stage.EVALUATION, Stage.TRIAL, Stage.IMPLANT, Stage.FOLLOW_UP)
TIMED_STAGES = (Stage.EVALUATION, Stage.TRIAL, Stage.TRIAL_REVIEW, Stage.IMPLANT)
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


def nearest_rank(values: list[float], share: float) -> float | None:
    """The smallest value with at least `share` of the values at or below it (the 90th percentile at 0.9)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


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
                **({"reference": REFERENCES["month_3_responders"][0]} if o.key == "month_3" else {}),
            } for o in self.outcomes],
            "physicians": [{"physician": p.username, "name": p.name, "started": p.started, "trialled": p.trialled,
                            "trial_success": p.trial_success.as_dict(), "implanted": p.implanted}
                           for p in self.physicians],
        }


# --- Reading ---------------------------------------------------------------------------------------


def _mean(values) -> Decimal | None:
    values = [v for v in values if v is not None]
    return _one_decimal(sum(Decimal(str(v)) for v in values) / len(values)) if values else None


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def _reasons(texts) -> list[tuple[str, int]]:
    counted = Counter((text or "").strip() or "No reason given" for text in texts)
    return sorted(counted.items(), key=lambda item: (-item[1], item[0]))


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

    episodes = {row[0]: row for row in cohort.values_list(
        "pk", "stage", "physician_id", "created_at", "end_reason", "trial_lead_placement_date",
        "trial_lead_removal_date")}
    report.started = len(episodes)
    changes: dict[int, list[tuple]] = defaultdict(list)
    for episode_id, transition, from_stage, to_stage, at in (
        TransitionLog.objects.filter(episode__in=ids).exclude(from_stage=F("to_stage"))
        .order_by("episode_id", "at", "id").values_list("episode_id", "transition", "from_stage", "to_stage", "at")
    ):
        changes[episode_id].append((transition, from_stage, to_stage, at))
    reached = {stage: set() for stage in FUNNEL}
    reached[Stage.EVALUATION] = set(episodes)
    transitions: dict[str, set[int]] = defaultdict(set)
    stays: dict[str, list[float]] = defaultdict(list)
    trial_end: dict[int, date] = {}
    for episode_id, rows in changes.items():
        entered = episodes[episode_id][3]
        for transition, from_stage, to_stage, at in rows:
            transitions[transition].add(episode_id)
            if to_stage in reached:
                reached[to_stage].add(episode_id)
            stays[from_stage].append(_days(entered, at))
            if from_stage == Stage.TRIAL:
                trial_end[episode_id] = local_date(clinic, at)
            entered = at

    previous = None
    for stage in FUNNEL:
        count = len(reached[stage])
        report.funnel.append(FunnelStep(stage=stage, label=Stage(stage).label, reached=count,
                                        conversion=None if previous is None else Rate(count, previous)))
        previous = count
    finals = Counter(row[1] for row in episodes.values())
    aborted = len(transitions["abort_trial"])
    report.endings = [
        (Stage.NOT_CANDIDATE, Stage.NOT_CANDIDATE.label, finals[Stage.NOT_CANDIDATE]),
        ("trial_aborted", "Trial aborted", aborted),
        ("trial_failed_at_review", "Trial failed at review", finals[Stage.TRIAL_FAILED] - aborted),
        (Stage.WITHDRAWN, Stage.WITHDRAWN.label, finals[Stage.WITHDRAWN]),
        (Stage.EXPLANTED, Stage.EXPLANTED.label, finals[Stage.EXPLANTED]),
        (Stage.DISCHARGED, Stage.DISCHARGED.label, finals[Stage.DISCHARGED]),
        *((stage, f"Still in {Stage(stage).label.lower()}", finals[stage]) for stage in OPEN_STAGES),
    ]
    report.withdrawn_reasons = _reasons(row[4] for row in episodes.values() if row[1] == Stage.WITHDRAWN)
    report.explants = finals[Stage.EXPLANTED]
    report.explant_reasons = _reasons(row[4] for row in episodes.values() if row[1] == Stage.EXPLANTED)
    approved, failed = transitions["approve_implant"], transitions["fail_trial"]
    report.trial_success = Rate(len(approved), len(approved | failed))
    report.trial_to_implant = Rate(len(reached[Stage.FOLLOW_UP]), len(reached[Stage.TRIAL]))
    report.stage_times = [
        StageTime(stage=stage, label=Stage(stage).label, stays=len(stays[stage]),
                  median_days=_one_decimal(statistics.median(stays[stage])) if stays[stage] else None,
                  p90_days=_one_decimal(nearest_rank(stays[stage], 0.9)) if stays[stage] else None)
        for stage in TIMED_STAGES
    ]
    report.stalled = cohort.filter(stage__in=OPEN_STAGES).filter(stalled_q(clinics=[clinic], now=now)).count()

    _diary(report, episodes, trial_end, ids, zone)
    _outcomes(report, ids, today, clinic)
    _no_shows(report, clinic, start, end, physician)
    _physicians(report, episodes, reached, approved, failed)
    return report


def _diary(report: ClinicReport, episodes: dict, trial_end: dict[int, date], ids, zone) -> None:
    """Share of trial days with an entry, over trials that have ended (a running trial's days are not all in)."""
    entry_days: dict[int, set[date]] = defaultdict(set)
    for episode_id, day in (
        PainEntry.objects.filter(episode__in=ids, phase=PainPhase.TRIAL)
        .order_by().annotate(day=TruncDate("recorded_at", tzinfo=zone)).values_list("episode_id", "day").distinct()
    ):
        entry_days[episode_id].add(day)
    total = entered = half = trials = 0
    for episode_id, ended in trial_end.items():
        placed = episodes[episode_id][5]
        if placed is None or ended < placed:
            continue
        days = (ended - placed).days + 1
        with_entry = sum(1 for day in entry_days[episode_id] if placed <= day <= ended)
        total, entered, trials = total + days, entered + with_entry, trials + 1
        half += with_entry * 2 >= days
    report.diary_days = Rate(entered, total)
    report.diary_half_days = Rate(half, trials)


def _outcomes(report: ClinicReport, ids, today: date, clinic: Clinic) -> None:
    keys = settings.OUTCOMES["REPORT_MILESTONES"]
    baselines = {row["episode_id"]: row for row in (
        PainEntry.objects.filter(episode__in=ids, phase=PainPhase.BASELINE).order_by().values("episode_id")
        .annotate(nrs=Avg("nrs"), sleep=Avg("sleep_quality"), activity=Avg("activity_limitation")))}
    windows: dict[str, list[tuple]] = defaultdict(list)
    labels: dict[str, str] = {}
    for episode_id, key, label, first, last in (
        FollowUpMilestone.objects.filter(episode__in=ids, key__in=keys, window_end__lt=today).order_by()
        .values_list("episode_id", "key", "label", "window_start", "window_end")
    ):
        windows[key].append((episode_id, first, last))
        labels[key] = label
    scores: dict[int, list[tuple]] = defaultdict(list)
    for episode_id, at, nrs, sleep, activity, medication in (
        PainEntry.objects.filter(episode__in=ids, phase=PainPhase.FOLLOW_UP).order_by("recorded_at", "id")
        .values_list("episode_id", "recorded_at", "nrs", "sleep_quality", "activity_limitation", "medication_use")
    ):
        scores[episode_id].append((local_date(clinic, at), nrs, sleep, activity, medication))
    threshold = Decimal(report.responder_percent)
    for key in keys:
        assessed, responders, changes = 0, 0, []
        base_sleep, sleep, base_activity, activity = [], [], [], []
        medication = dict.fromkeys(MedicationUse.values, 0)
        for episode_id, first, last in windows[key]:
            baseline = baselines.get(episode_id)
            inside = [s for s in scores[episode_id] if first <= s[0] <= last]
            if not inside or baseline is None or not baseline["nrs"]:
                continue
            assessed += 1
            base = Decimal(str(baseline["nrs"]))
            mean = Decimal(sum(s[1] for s in inside)) / len(inside)
            responders += (base - mean) / base * 100 >= threshold
            changes.append(mean - base)
            base_sleep.append(baseline["sleep"])
            sleep.append(_mean(s[2] for s in inside))
            base_activity.append(baseline["activity"])
            activity.append(_mean(s[3] for s in inside))
            answered = [s[4] for s in inside if s[4]]
            if answered:
                medication[answered[-1]] += 1  # the latest answer in the window
        report.outcomes.append(MilestoneOutcome(
            key=key, label=labels.get(key) or key.replace("month_", "") + "-month follow-up",
            due=len(windows[key]), assessed=assessed, responders=Rate(responders, assessed),
            mean_nrs_change=_mean(changes), baseline_sleep=_mean(base_sleep), sleep=_mean(sleep),
            baseline_activity=_mean(base_activity), activity=_mean(activity), medication=medication,
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


def _physicians(report: ClinicReport, episodes: dict, reached: dict, approved: set, failed: set) -> None:
    by_physician: dict[int, set[int]] = defaultdict(set)
    for row in episodes.values():
        by_physician[row[2]].add(row[0])
    users = get_user_model().objects.in_bulk(list(by_physician))
    rows = []
    for user_id, mine in by_physician.items():
        user = users[user_id]
        rows.append(PhysicianRow(
            username=user.get_username(), name=user.get_full_name() or user.get_username(), started=len(mine),
            trialled=len(mine & reached[Stage.TRIAL]), reviewed=len(mine & (approved | failed)),
            approved=len(mine & approved), implanted=len(mine & reached[Stage.FOLLOW_UP]),
        ))
    report.physicians = sorted(rows, key=lambda row: row.name)
