"""The patient's outcomes over time: baseline, the trial, then each follow-up milestone (3, 6, 12 months and
each year after), drawn on the server as SVG by pygal like the pain chart (web/charts.py), with a table of
the same figures beside it for screen readers and print.

A milestone's figures are the means (NRS, sleep, activity) of the follow-up entries recorded inside its
window, the latest medication use and the worst PGIC there (as the clinic report counts it), whether the
patient answered the questionnaire or staff entered them at the visit. Change from baseline and the
responder flag use the baseline mean, as the clinic report does (outcomes/reports.py); responder = NRS at
least OUTCOMES["RESPONDER_REDUCTION_PERCENT"] below it. Everything is computed from the episode's prefetched
pain entries and milestones: no queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pygal
from django.conf import settings

from pathway import rules
from pathway.clinic_time import local_date
from pathway.stages import PGIC, MedicationUse, PainPhase

from .charts import _PYGAL_SCRIPT, STYLE, _mean


@dataclass(frozen=True)
class OutcomeRow:
    label: str
    entries: int
    nrs: float | None
    sleep: float | None
    activity: float | None
    medication: str = ""  # MedicationUse label, the latest in the window
    pgic: int | None = None
    change_percent: Decimal | None = None  # NRS reduction from the baseline mean; negative = worse
    responder: bool | None = None
    relief_percent: Decimal | None = None  # the trial row only

    @property
    def pgic_label(self) -> str:
        return PGIC(self.pgic).label if self.pgic else ""


def _change(baseline: Decimal | None, nrs: float | None) -> Decimal | None:
    if baseline is None or baseline == 0 or nrs is None:
        return None
    return ((baseline - Decimal(str(nrs))) * 100 / baseline).quantize(Decimal("0.1"), ROUND_HALF_UP)


def outcome_rows(episode, relief: rules.Relief) -> list[OutcomeRow]:
    """Baseline, trial, then one row per monthly/yearly milestone whose window has an entry; [] before the
    implant has milestones."""
    milestones = [m for m in episode.milestones.all() if m.key.startswith("month_")]
    if not milestones:
        return []
    entries = list(episode.pain_entries.all())
    by_phase = {phase: [e for e in entries if e.phase == phase] for phase in PainPhase.values}
    threshold = settings.OUTCOMES["RESPONDER_REDUCTION_PERCENT"]
    rows = []
    for label, phase in (("Baseline", PainPhase.BASELINE), ("Trial", PainPhase.TRIAL)):
        group = by_phase[phase]
        rows.append(OutcomeRow(
            label=label, entries=len(group), nrs=_mean([e.nrs for e in group]),
            sleep=_mean([e.sleep_quality for e in group]), activity=_mean([e.activity_limitation for e in group]),
            relief_percent=relief.percent if phase == PainPhase.TRIAL else None,
        ))
    for milestone in sorted(milestones, key=lambda m: m.due_on):
        group = [e for e in by_phase[PainPhase.FOLLOW_UP]
                 if milestone.window_start <= local_date(episode.clinic, e.recorded_at) <= milestone.window_end]
        if not group:
            continue
        nrs = _mean([e.nrs for e in group])
        change = _change(relief.baseline, nrs)
        medication = next((e.medication_use for e in reversed(group) if e.medication_use), "")
        rows.append(OutcomeRow(
            label=milestone.label, entries=len(group), nrs=nrs,
            sleep=_mean([e.sleep_quality for e in group]), activity=_mean([e.activity_limitation for e in group]),
            medication=MedicationUse(medication).label if medication else "",
            pgic=max((e.pgic for e in group if e.pgic), default=None),
            change_percent=change, responder=None if change is None else change >= threshold,
        ))
    return rows


def outcome_chart_svg(rows: list[OutcomeRow], *, style_nonce: str = "") -> str | None:
    """NRS, sleep and activity (0–10) and PGIC (1–7, lower is better) per row; None with no follow-up yet."""
    if len(rows) < 3:
        return None
    chart = pygal.Line(
        js=[], disable_xml_declaration=True, style=STYLE, width=860, height=360, explicit_size=False,
        range=(0, 10), include_x_axis=True, show_y_guides=True, x_label_rotation=20, legend_at_bottom=True,
        legend_at_bottom_columns=2, dots_size=4, allow_interruptions=True, truncate_legend=-1,
        title="Outcomes from baseline to the latest follow-up (lower is better)", y_title="score",
    )
    chart.x_labels = [r.label for r in rows]
    chart.add("Pain NRS (0–10)", [r.nrs for r in rows], stroke_style={"width": 4}, dots_size=6)
    if any(r.sleep is not None for r in rows):
        chart.add("Sleep quality (0–10)", [r.sleep for r in rows], stroke_style={"width": 1.5, "dasharray": "6, 3"},
                  dots_size=3)
    if any(r.activity is not None for r in rows):
        chart.add("Activity limitation (0–10)", [r.activity for r in rows],
                  stroke_style={"width": 1.5, "dasharray": "1, 3"}, dots_size=3)
    if any(r.pgic is not None for r in rows):
        chart.add("PGIC (1 very much improved – 7 very much worse)", [r.pgic for r in rows],
                  stroke_style={"width": 2, "dasharray": "12, 3, 3, 3"}, dots_size=5)
    svg = _PYGAL_SCRIPT.sub("", chart.render(is_unicode=True))
    return svg.replace("<style", f'<style nonce="{style_nonce}"', 1) if style_nonce else svg
