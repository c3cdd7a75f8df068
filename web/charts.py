"""The pain chart, drawn on the server as SVG by pygal (no script, no CDN: `js=[]`).

The SVG sits inline in the page, so the page's Content-Security-Policy applies to it: its <style> element
carries the request's nonce, and pygal's one inline <script> (settings for the tooltip script that `js=[]`
leaves out) is dropped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pygal
from pygal.style import Style

from pathway import rules
from pathway.clinic_time import local_date
from pathway.stages import PainPhase

# Series differ by dash pattern and dot size as well as colour, so the chart reads without colour.
STYLE = Style(
    background="white", plot_background="white", foreground="#222", foreground_strong="#000",
    foreground_subtle="#666", colors=("#1f4e99", "#444444", "#1d7a1d", "#b35900", "#a01818", "#6a3d9a"),
    font_family="system-ui, sans-serif", label_font_size=13, major_label_font_size=13, legend_font_size=13,
    title_font_size=15, guide_stroke_color="#e3e3e3", major_guide_stroke_color="#d0d0d0",
    guide_stroke_dasharray="1, 0", major_guide_stroke_dasharray="1, 0", stroke_opacity=1,
)


@dataclass(frozen=True)
class PainPoint:
    label: str
    nrs: float
    sleep: float | None
    activity: float | None
    reported_relief: float | None


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 1) if values else None


def pain_points(episode) -> list[PainPoint]:
    """Baseline first (one point), then one point per trial day, then each follow-up day; means per day."""
    groups: dict[tuple, list] = defaultdict(list)
    placed = episode.trial_lead_placement_date
    for entry in episode.pain_entries.all():
        day = local_date(episode.clinic, entry.recorded_at)
        if entry.phase == PainPhase.BASELINE:
            key = (0, 0, "Baseline")
        elif entry.phase == PainPhase.TRIAL:
            number = (day - placed).days + 1 if placed else None
            key = (1, day.toordinal(), f"Trial day {number}" if number and number > 0 else f"Trial {day:%d %b}")
        else:
            key = (2, day.toordinal(), f"Follow-up {day:%d %b %Y}")
        groups[key].append(entry)
    return [
        PainPoint(
            label=key[2],
            nrs=_mean([e.nrs for e in entries]),
            sleep=_mean([e.sleep_quality for e in entries]),
            activity=_mean([e.activity_limitation for e in entries]),
            reported_relief=_mean([e.percent_relief for e in entries]),
        )
        for key, entries in sorted(groups.items())
    ]


def target_nrs(relief: rules.Relief, threshold: Decimal) -> float | None:
    """The trial NRS at which relief reaches the threshold: baseline × (1 − threshold / 100)."""
    if relief.baseline is None or relief.baseline == 0:
        return None
    return float(round(relief.baseline * (1 - threshold / 100), 1))


_PYGAL_SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.S)


def pain_chart_svg(episode, relief: rules.Relief, *, style_nonce: str = "") -> str | None:
    points = pain_points(episode)
    if not points:
        return None
    chart = pygal.Line(
        js=[], disable_xml_declaration=True, style=STYLE, width=860, height=380, explicit_size=False,
        range=(0, 10), secondary_range=(0, 100), include_x_axis=True, show_y_guides=True, x_label_rotation=20,
        legend_at_bottom=True, legend_at_bottom_columns=3, dots_size=4, allow_interruptions=True,
        title="Pain (NRS 0–10) by day; patient-reported relief on the right axis (%)",
        y_title="NRS / score 0–10", truncate_legend=-1,
    )
    chart.x_labels = [p.label for p in points]
    chart.add("Pain NRS", [p.nrs for p in points], stroke_style={"width": 4}, dots_size=6)
    if relief.baseline is not None:
        chart.add(f"Baseline mean {relief.baseline}", [float(relief.baseline)] * len(points), show_dots=False,
                  stroke_style={"width": 2.5, "dasharray": "3, 5"})
    target = target_nrs(relief, episode.relief_threshold)
    if target is not None:
        chart.add(f"{episode.relief_threshold} % relief line (NRS {target})", [target] * len(points),
                  show_dots=False, stroke_style={"width": 2.5, "dasharray": "12, 6"})
    if any(p.sleep is not None for p in points):
        chart.add("Sleep quality", [p.sleep for p in points], stroke_style={"width": 1.5, "dasharray": "6, 3"},
                  dots_size=3)
    if any(p.activity is not None for p in points):
        chart.add("Activity limitation", [p.activity for p in points],
                  stroke_style={"width": 1.5, "dasharray": "1, 3"}, dots_size=3)
    if any(p.reported_relief is not None for p in points):
        chart.add("Patient-reported relief %", [p.reported_relief for p in points], secondary=True,
                  stroke_style={"width": 2, "dasharray": "12, 3, 3, 3"}, dots_size=5)
    svg = _PYGAL_SCRIPT.sub("", chart.render(is_unicode=True))
    return svg.replace("<style", f'<style nonce="{style_nonce}"', 1) if style_nonce else svg
