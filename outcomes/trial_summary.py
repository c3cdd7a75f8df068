"""The trial summary a payer asks for before authorizing the permanent implant (issue 11).

One page per episode past the trial: who the patient is, what they have, how much pain they had before, each
diary entry of the trial, the relief exactly as `pathway.rules` computes it (the figure the physician decided
on), and the decision itself as the append-only TransitionLog recorded it. Built from one episode read through
the clinical selectors; the HTML page and the PDF draw the same object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.utils import timezone

from pathway import rules
from pathway import selectors as pathway_selectors
from pathway.actors import Actor
from pathway.clinic_time import clinic_zone, local_date
from pathway.models import Episode, PriorAuthorization, TransitionLog
from pathway.stages import (
    AbortReason,
    AuthorizationStep,
    Diagnosis,
    MedicationUse,
    PainArea,
    PainPhase,
    ReliefDecider,
    Side,
)

# The trial is over once one of these has run; only then is there a trial to summarize.
TRIAL_ENDINGS = ("end_trial", "abort_trial")
DECISIONS = {"approve_implant": "Implant approved", "fail_trial": "Trial failed",
             "abort_trial": "Trial aborted"}


def has_trial_summary(episode: Episode) -> bool:
    """From the episode's (prefetched) history: has its trial ended?"""
    return any(log.transition in TRIAL_ENDINGS for log in episode.transition_logs.all())


@dataclass(frozen=True)
class DiaryRow:
    day_number: int | None
    day: date
    recorded_at: datetime
    nrs: int
    percent_relief: int | None
    sleep_quality: int | None
    activity_limitation: int | None
    medication: str
    source: str


@dataclass(frozen=True)
class Decision:
    label: str
    at: datetime
    by: str
    reason: str
    relief_percent: str | None
    threshold_percent: str | None
    decider: str
    override: bool
    category: str


@dataclass(frozen=True)
class TrialSummary:
    episode: Episode
    generated_at: datetime
    diagnosis: str
    pain_areas: list[str]
    baseline_entries: int
    baseline_sleep: Decimal | None
    baseline_activity: Decimal | None
    relief: rules.Relief
    deciding_figure: Decimal | None
    decider: str
    meets_threshold: bool | None
    trial_days: int | None
    diary: list[DiaryRow]
    trial_ended: TransitionLog | None
    decision: Decision | None
    # The approved trial authorization that covered the lead placement (what start_trial relied on), else the
    # longest-lasting approved one on file.
    trial_authorization: PriorAuthorization | None = None

    @property
    def patient(self):
        return self.episode.patient

    @property
    def clinic(self):
        return self.episode.clinic

    @property
    def lead_levels(self) -> str:
        return ", ".join(self.episode.lead_levels) if self.episode.lead_levels else ""

    @property
    def relief_text(self) -> str:
        """The relief in words, the same sentence on the page and in the PDF."""
        r, e = self.relief, self.episode
        if r.percent is None:
            computed = f"Relief not computed: {r.reason}."
        else:
            computed = (f"Relief {r.percent} % = (baseline {r.baseline} − trial mean {r.trial_mean}) / baseline "
                        f"{r.baseline} × 100, from {r.trial_entries} trial score{'s' if r.trial_entries != 1 else ''}.")
        reported = (f" Patient-reported relief (mean): {r.patient_reported} %." if r.patient_reported is not None
                    else " No patient-reported relief recorded.")
        decider = "patient-reported relief" if self.decider == "patient_reported" else "NRS relief"
        if self.meets_threshold is None:
            verdict = f" The clinic decides on {decider}; it is not available, so it cannot be set against the " \
                      f"{e.relief_threshold} % threshold."
        else:
            verdict = (f" The clinic decides on {decider}: {self.deciding_figure} % "
                       f"{'meets' if self.meets_threshold else 'is below'} the {e.relief_threshold} % threshold.")
        return computed + reported + verdict

    @property
    def decision_text(self) -> str:
        d = self.decision
        if d is None:
            return "Awaiting the physician's decision on the trial."
        parts = [f"{d.label} on {d.at:%d %b %Y %H:%M} by {d.by}."]
        if d.category:
            parts.append(f"Category: {d.category}.")
        if d.relief_percent is not None:
            parts.append(f"Decided on relief {d.relief_percent} % against a {d.threshold_percent} % threshold "
                         f"({d.decider[:1].lower()}{d.decider[1:]}).")
        elif d.threshold_percent is not None:
            parts.append(f"No relief figure was available at the decision (threshold {d.threshold_percent} %).")
        if d.override:
            parts.append("Physician override of the threshold.")
        if d.reason:
            parts.append(f"Reason: “{d.reason}”.")
        return " ".join(parts)

    def filename(self, extension: str) -> str:
        """Opaque: the episode's external id, never the patient's name or MRN."""
        return f"trial-summary-{self.episode.external_id}.{extension}"

    def as_dict(self) -> dict:
        e, p = self.episode, self.patient
        d = self.decision
        return {
            "episode": str(e.external_id),
            "generated_at": self.generated_at.isoformat(),
            "clinic": {"name": self.clinic.name, "phone": self.clinic.phone},
            "patient": {"id": str(p.external_id), "mrn": p.mrn, "given_name": p.given_name,
                        "family_name": p.family_name, "birth_date": p.birth_date.isoformat()},
            "physician": _person(e.physician),
            "diagnosis": self.diagnosis, "icd10_code": e.icd10_code, "pain_areas": self.pain_areas,
            "pain_onset_date": _iso(e.pain_onset_date),
            "trial_authorization": None if (a := self.trial_authorization) is None else {
                "payer": a.payer, "number": a.number, "valid_from": _iso(a.valid_from), "valid_to": _iso(a.valid_to)},
            "baseline": {"nrs_mean": _str(self.relief.baseline), "entries": self.baseline_entries,
                         "sleep_quality_mean": _str(self.baseline_sleep),
                         "activity_limitation_mean": _str(self.baseline_activity)},
            "trial": {"lead_placement_date": _iso(e.trial_lead_placement_date),
                      "expected_end": _iso(e.trial_expected_end),
                      "lead_removal_date": _iso(e.trial_lead_removal_date), "days": self.trial_days,
                      "lead_levels": list(e.lead_levels)},
            "diary": [{"day": row.day_number, "date": row.day.isoformat(), "recorded_at": row.recorded_at.isoformat(),
                       "nrs": row.nrs, "percent_relief": row.percent_relief, "sleep_quality": row.sleep_quality,
                       "activity_limitation": row.activity_limitation, "medication_use": row.medication or None,
                       "source": row.source} for row in self.diary],
            "relief": {**self.relief.as_figures(), "relief_threshold_percent": str(e.relief_threshold),
                       "relief_decider": self.decider, "deciding_percent": _str(self.deciding_figure),
                       "meets_threshold": self.meets_threshold},
            "decision": None if d is None else {
                "label": d.label, "at": d.at.isoformat(), "by": d.by, "reason": d.reason,
                "relief_percent": d.relief_percent, "relief_threshold_percent": d.threshold_percent,
                "relief_decider": d.decider, "physician_override": d.override, "reason_category": d.category or None},
        }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _str(value) -> str | None:
    return None if value is None else str(value)


def _person(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def _mean(values) -> Decimal | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return (Decimal(sum(values)) / len(values)).quantize(Decimal("0.1"))


def trial_summary_episode(*, actor: Actor, external_id) -> Episode | None:
    """The episode with everything the summary shows, if the caller may see it clinically and its trial is over."""
    episode = (
        pathway_selectors.clinical_episodes_for(actor=actor)
        .prefetch_related("pain_entries", "authorizations",
                          Prefetch("transition_logs", queryset=TransitionLog.objects.order_by("at", "id")))
        .filter(external_id=external_id)
        .first()
    )
    if episode is None or not has_trial_summary(episode):
        return None
    return episode


def _decision(logs: list[TransitionLog]) -> Decision | None:
    log = next((log for log in reversed(logs) if log.transition in DECISIONS), None)
    if log is None:
        return None
    figures = log.figures or {}
    decider = figures.get("relief_decider") or ReliefDecider.NRS
    category = log.episode.end_reason_category if log.transition == "abort_trial" else ""
    return Decision(
        label=DECISIONS[log.transition], at=log.at.astimezone(clinic_zone(log.episode.clinic)),
        by=log.actor_label, reason=log.reason,
        relief_percent=figures.get("relief_percent"), threshold_percent=figures.get("relief_threshold_percent"),
        decider=ReliefDecider(decider).label, override=bool(figures.get("physician_override")),
        category=AbortReason(category).label if category in AbortReason.values else "",
    )


def _trial_days(episode: Episode, logs: list[TransitionLog]) -> int | None:
    placed = episode.trial_lead_placement_date
    ended = episode.trial_lead_removal_date
    if ended is None:  # aborted: the trial ran until the abort
        abort = next((log for log in logs if log.transition == "abort_trial"), None)
        ended = local_date(episode.clinic, abort.at) if abort else None
    if placed is None or ended is None:
        return None
    return (ended - placed).days + 1


def trial_summary_build(episode: Episode, *, now: datetime | None = None) -> TrialSummary:
    entries = list(episode.pain_entries.all())
    logs = list(episode.transition_logs.all())
    for log in logs:
        log.episode = episode  # the decision reads the episode; it is already here
    relief = rules.relief_from_entries(entries)
    baseline = [e for e in entries if e.phase == PainPhase.BASELINE]
    placed = episode.trial_lead_placement_date
    diary = []
    for entry in entries:
        if entry.phase != PainPhase.TRIAL:
            continue
        day = local_date(episode.clinic, entry.recorded_at)
        diary.append(DiaryRow(
            day_number=(day - placed).days + 1 if placed else None, day=day,
            recorded_at=entry.recorded_at.astimezone(clinic_zone(episode.clinic)), nrs=entry.nrs,
            percent_relief=entry.percent_relief, sleep_quality=entry.sleep_quality,
            activity_limitation=entry.activity_limitation,
            medication=MedicationUse(entry.medication_use).label if entry.medication_use else "",
            source=entry.get_source_display(),
        ))
    deciding = rules.deciding_relief(episode)
    diagnosis = Diagnosis(episode.diagnosis).label if episode.diagnosis in Diagnosis.values else ""
    if episode.diagnosis == Diagnosis.OTHER and episode.diagnosis_other:
        diagnosis = f"{diagnosis}: {episode.diagnosis_other}"
    areas = []
    for item in episode.pain_areas or []:
        area = PainArea(item["area"]).label if item.get("area") in PainArea.values else str(item.get("area", ""))
        side = Side(item["side"]).label.lower() if item.get("side") in Side.values else ""
        areas.append(f"{area} ({side})" if side else area)
    return TrialSummary(
        episode=episode,
        generated_at=(now or timezone.now()).astimezone(clinic_zone(episode.clinic)),
        diagnosis=diagnosis,
        pain_areas=areas,
        baseline_entries=len(baseline),
        baseline_sleep=_mean(e.sleep_quality for e in baseline),
        baseline_activity=_mean(e.activity_limitation for e in baseline),
        relief=relief,
        deciding_figure=deciding,
        decider=episode.clinic.relief_decider,
        meets_threshold=None if deciding is None else deciding >= episode.relief_threshold,
        trial_days=_trial_days(episode, logs),
        diary=diary,
        trial_ended=next((log for log in logs if log.transition in TRIAL_ENDINGS), None),
        decision=_decision(logs),
        trial_authorization=(
            rules.covering_authorization(episode, AuthorizationStep.TRIAL, placed) if placed else None
        ) or rules.trial_authorization_on_file(episode),
    )


def trial_summary_for(*, actor: Actor, external_id, now: datetime | None = None) -> TrialSummary | None:
    episode = trial_summary_episode(actor=actor, external_id=external_id)
    return None if episode is None else trial_summary_build(episode, now=now)
