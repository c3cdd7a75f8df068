"""The clinic report's charts, drawn on the server by pygal like the pain chart (web/charts.py): no script,
the page's nonce on the one <style>. Each chart sits beside a table of the same figures."""

from __future__ import annotations

import pygal

from outcomes.reports import ClinicReport

from .charts import _PYGAL_SCRIPT, STYLE


def _svg(chart, nonce: str) -> str:
    svg = _PYGAL_SCRIPT.sub("", chart.render(is_unicode=True))
    return svg.replace("<style", f'<style nonce="{nonce}"', 1) if nonce else svg


def _chart(kind, title: str, **options):
    return kind(js=[], disable_xml_declaration=True, style=STYLE, width=760, height=300, explicit_size=False,
                title=title, legend_at_bottom=True, truncate_legend=-1, print_values=True, **options)


def funnel_svg(report: ClinicReport, *, nonce: str = "") -> str | None:
    if not report.started:
        return None
    chart = _chart(pygal.Bar, "Episodes started in the range that reached each stage", show_legend=False)
    chart.x_labels = [step.label for step in report.funnel]
    chart.add("Episodes", [step.reached for step in report.funnel])
    return _svg(chart, nonce)


def stage_times_svg(report: ClinicReport, *, nonce: str = "") -> str | None:
    timed = [t for t in report.stage_times if t.stays]
    if not timed:
        return None
    chart = _chart(pygal.HorizontalBar, "Days in each stage: median and 90th percentile")
    chart.x_labels = [t.label for t in timed]
    chart.add("Median", [float(t.median_days) for t in timed])
    chart.add("90th percentile", [float(t.p90_days) for t in timed])
    return _svg(chart, nonce)


def responders_svg(report: ClinicReport, *, nonce: str = "") -> str | None:
    assessed = [o for o in report.outcomes if o.assessed]
    if not assessed:
        return None
    chart = _chart(pygal.Bar, f"Responders (≥ {report.responder_percent} % NRS reduction from baseline), %",
                   range=(0, 100), show_legend=False)
    chart.x_labels = [o.label for o in assessed]
    chart.add("Responders %", [float(o.responders.percent) for o in assessed])
    return _svg(chart, nonce)
