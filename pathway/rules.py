"""Guards of the state machine and the relief figure they decide on.

Each guard is a small named function of the episode alone, with the sentence a coordinator reads when it
fails. Guards do no I/O: the service loads the episode with its checklist and pain entries prefetched and
assigns the transition's inputs to it before the guards run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from .clinic_time import clinic_today
from .stages import AuthorizationStatus, AuthorizationStep, ChecklistStatus, PainPhase, ReliefDecider

if TYPE_CHECKING:
    from .models import Episode, PainEntry

Guard = Callable[["Episode"], bool]


def explains(message: str | Callable[[Episode], str]):
    """Attach the words shown when the guard fails (a string, or a function of the episode)."""

    def decorate(guard: Guard) -> Guard:
        guard.message = message
        return guard

    return decorate


def unmet_message(guard: Guard, episode: Episode) -> str:
    message = guard.message
    return message(episode) if callable(message) else message


# --- Relief ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relief:
    percent: Decimal | None
    baseline: Decimal | None
    trial_mean: Decimal | None
    trial_entries: int
    patient_reported: Decimal | None
    reason: str | None = None

    def as_figures(self) -> dict:
        return {
            "relief_percent": _str(self.percent),
            "baseline_nrs": _str(self.baseline),
            "trial_mean_nrs": _str(self.trial_mean),
            "trial_entries": self.trial_entries,
            "patient_reported_relief_percent": _str(self.patient_reported),
            "relief_unavailable_reason": self.reason,
        }


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _mean(values: list[int]) -> Decimal | None:
    return Decimal(sum(values)) / Decimal(len(values)) if values else None


def _one_decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def relief_from_entries(entries: Iterable[PainEntry]) -> Relief:
    """(baseline NRS − mean trial NRS) / baseline NRS × 100, one decimal; a reason instead when undefined."""
    entries = list(entries)
    baseline = _mean([e.nrs for e in entries if e.phase == PainPhase.BASELINE])
    trial_scores = [e.nrs for e in entries if e.phase == PainPhase.TRIAL]
    trial_mean = _mean(trial_scores)
    reported = _mean([e.percent_relief for e in entries if e.phase == PainPhase.TRIAL and e.percent_relief is not None])
    reported = _one_decimal(reported) if reported is not None else None
    common = {
        "baseline": _one_decimal(baseline) if baseline is not None else None,
        "trial_mean": _one_decimal(trial_mean) if trial_mean is not None else None,
        "trial_entries": len(trial_scores),
        "patient_reported": reported,
    }
    if baseline is None:
        return Relief(percent=None, reason="no baseline pain score recorded", **common)
    if baseline == 0:
        return Relief(percent=None, reason="baseline pain is 0, so relief cannot be computed", **common)
    if trial_mean is None:
        return Relief(percent=None, reason="no pain scores recorded during the trial", **common)
    return Relief(percent=_one_decimal((baseline - trial_mean) / baseline * 100), **common)


def episode_relief(episode: Episode) -> Relief:
    return relief_from_entries(episode.pain_entries.all())


def deciding_relief(episode: Episode) -> Decimal | None:
    relief = episode_relief(episode)
    if episode.clinic.relief_decider == ReliefDecider.PATIENT_REPORTED:
        return relief.patient_reported
    return relief.percent


# --- Guards ---------------------------------------------------------------------------------------


@explains(lambda e: f"the episode is on hold: {e.hold_reason}")
def not_on_hold(episode: Episode) -> bool:
    return not episode.on_hold


def _open_checklist_items(episode: Episode) -> list[str]:
    done = {ChecklistStatus.MET, ChecklistStatus.WAIVED}
    labels = [item.get_kind_display() for item in episode.checklist_items.all() if item.status not in done]
    return [label[0].lower() + label[1:] for label in labels]  # mid-sentence, yet "DRG" stays upper case


@explains(lambda e: "candidacy checklist incomplete: " + "; ".join(_open_checklist_items(e)))
def candidacy_complete(episode: Episode) -> bool:
    return not _open_checklist_items(episode)


@explains("the lead placement date is missing")
def lead_placement_date_given(episode: Episode) -> bool:
    return episode.trial_lead_placement_date is not None


def _authorization_problem(episode: Episode, step: str, day, what: str, date_name: str) -> str | None:
    """Why no approved authorization of `step` covers `day` (None when one does). Reads the prefetched
    authorizations: an approved one with its number and both dates is "on file"."""
    on_file = [a for a in episode.authorizations.all()
               if a.step == step and a.status == AuthorizationStatus.APPROVED and a.number and a.valid_from
               and a.valid_to]
    if not on_file:
        return f"no {what} authorization on file"
    if day is None:
        return None  # the transition's own date guard says what is missing
    if any(a.covers(day) for a in on_file):
        return None
    if any(a.valid_from <= day for a in on_file):
        return f"{what} authorization expires before the {date_name}"
    return f"{what} authorization starts after the {date_name}"


def trial_authorization_problem(episode: Episode) -> str | None:
    return _authorization_problem(episode, AuthorizationStep.TRIAL, episode.trial_lead_placement_date, "trial",
                                  "lead placement date")


def implant_authorization_problem(episode: Episode) -> str | None:
    if not episode.clinic.implant_authorization_required:
        return None
    return _authorization_problem(episode, AuthorizationStep.IMPLANT, episode.implant_date, "implant",
                                  "implant date")


@explains(lambda e: trial_authorization_problem(e) or "")
def trial_authorization_valid(episode: Episode) -> bool:
    """An approved trial authorization valid on the lead placement date."""
    return trial_authorization_problem(episode) is None


@explains(lambda e: implant_authorization_problem(e) or "")
def implant_authorization_valid(episode: Episode) -> bool:
    """An approved implant authorization valid on the implant date, where the clinic requires one."""
    return implant_authorization_problem(episode) is None


def trial_authorization_on_file(episode: Episode):
    """The approved trial authorization that lasts longest (what the episode's old auth_* fields held), or None."""
    approved = [a for a in episode.authorizations.all()
                if a.step == AuthorizationStep.TRIAL and a.status == AuthorizationStatus.APPROVED]
    return max(approved, key=lambda a: (a.valid_to is not None, a.valid_to or a.created_at.date(), a.pk),
               default=None)


def covering_authorization(episode: Episode, step: str, day):
    """The approved authorization of `step` valid on `day` that lasts longest, or None."""
    covering = [a for a in episode.authorizations.all() if a.step == step and a.covers(day)]
    return max(covering, key=lambda a: (a.valid_to, a.pk), default=None)


@explains("the lead removal date is missing or before the lead placement date")
def lead_removal_date_given(episode: Episode) -> bool:
    removed, placed = episode.trial_lead_removal_date, episode.trial_lead_placement_date
    return removed is not None and (placed is None or removed >= placed)


@explains("no pain score has been recorded during the trial")
def has_trial_pain_score(episode: Episode) -> bool:
    return any(e.phase == PainPhase.TRIAL for e in episode.pain_entries.all())


@explains("a reason is required")
def reason_given(episode: Episode) -> bool:
    return bool((episode.end_reason or "").strip())


@explains("a reason category is required (infection, lead migration, intolerance or other)")
def abort_category_given(episode: Episode) -> bool:
    return bool(episode.end_reason_category)


def relief_shortfall(episode: Episode) -> str | None:
    """Why the trial's relief does not reach the threshold on its own (None when it does)."""
    threshold = episode.relief_threshold
    relief = episode_relief(episode)
    figure = deciding_relief(episode)
    if figure is None:
        why = relief.reason if episode.clinic.relief_decider == ReliefDecider.NRS else "no patient-reported relief"
        return f"relief cannot be computed ({why}); a physician override with a reason is needed"
    if figure < threshold:
        return f"relief {figure} % is below the {threshold} % threshold; a physician override with a reason is needed"
    return None


def has_override_reason(episode: Episode) -> bool:
    return bool((episode.implant_override_reason or "").strip())


@explains(lambda e: relief_shortfall(e) or "")
def relief_meets_threshold_or_override(episode: Episode) -> bool:
    return has_override_reason(episode) or relief_shortfall(episode) is None


@explains("the implant date is missing")
def implant_date_given(episode: Episode) -> bool:
    return episode.implant_date is not None


@explains("the device maker, model and serial number are required")
def device_recorded(episode: Episode) -> bool:
    return all((episode.device_maker, episode.device_model, episode.device_serial))


@explains("the lead levels are required")
def lead_levels_given(episode: Episode) -> bool:
    return bool(episode.lead_levels)


@explains("the implant date is in the future: record the implant once it has happened")
def implant_date_not_in_future(episode: Episode) -> bool:
    return episode.implant_date is None or episode.implant_date <= clinic_today(episode.clinic)


@explains("the date is missing")
def end_date_given(episode: Episode) -> bool:
    return episode.ended_on is not None


@explains("the explant date must be on or after the implant date and not in the future")
def end_date_after_implant(episode: Episode) -> bool:
    ended, implanted = episode.ended_on, episode.implant_date
    if ended is None:
        return True
    return ended <= clinic_today(episode.clinic) and (implanted is None or ended >= implanted)
