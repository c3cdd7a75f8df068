"""The clinic report as CSV, safe to pass on: counts from 1 to below the small-cell threshold read "< N".

A rate whose count or denominator is hidden is left blank, as is a median or 90th percentile of fewer stays than
the threshold; reasons given fewer times than the threshold are pooled, since a free-text reason can point at a
patient on its own. Zero stays zero: it identifies no one.
"""

from __future__ import annotations

import csv
import io

from .reports import ClinicReport, Rate

COLUMNS = ["section", "measure", "count", "of", "percent", "ci95_low", "ci95_high", "median_days", "p90_days",
           "mean"]


class Suppressor:
    def __init__(self, threshold: int):
        self.threshold = threshold

    def hidden(self, count: int) -> bool:
        return 0 < count < self.threshold

    def count(self, count: int) -> str:
        return f"< {self.threshold}" if self.hidden(count) else str(count)

    def rate(self, section: str, measure: str, rate: Rate) -> list[str]:
        shown = not (self.hidden(rate.count) or self.hidden(rate.of)) and rate.of
        ci = rate.interval if shown else None
        return [section, measure, self.count(rate.count), self.count(rate.of),
                str(rate.percent) if shown else "", str(ci[0]) if ci else "", str(ci[1]) if ci else "", "", "", ""]

    def total(self, section: str, measure: str, count: int) -> list[str]:
        return [section, measure, self.count(count), "", "", "", "", "", "", ""]

    def mean(self, section: str, measure: str, of: int, value) -> list[str]:
        """A mean over `of` patients, blank when they are too few to hide among."""
        shown = of and not self.hidden(of) and value is not None
        return [section, measure, "", self.count(of), "", "", "", "", "", str(value) if shown else ""]

    def reasons(self, section: str, reasons: list[tuple[str, int]]) -> list[list[str]]:
        rows, pooled = [], 0
        for reason, count in reasons:
            if self.hidden(count):
                pooled += count
            else:
                rows.append(self.total(section, reason, count))
        if pooled:
            rows.append(self.total(section, f"Other reasons (each given fewer than {self.threshold} times)", pooled))
        return rows


def report_rows(report: ClinicReport) -> list[list[str]]:
    s = Suppressor(report.small_cell)
    rows = [s.total("cohort", "episodes started", report.started)]
    for step in report.funnel:
        if step.conversion is None:
            rows.append(s.total("funnel", f"reached {step.label.lower()}", step.reached))
        else:
            rows.append(s.rate("funnel", f"reached {step.label.lower()}", step.conversion))
    rows += [s.total("endings", label, count) for _, label, count in report.endings]
    rows += s.reasons("withdrawn reasons", report.withdrawn_reasons)
    rows.append(s.rate("trial", "success (implant approved / trials reviewed)", report.trial_success))
    rows.append(s.rate("trial", "trialled patients implanted", report.trial_to_implant))
    for t in report.stage_times:
        shown = t.stays and not s.hidden(t.stays)
        rows.append(["time in stage", t.label, s.count(t.stays), "", "", "", "",
                     str(t.median_days) if shown else "", str(t.p90_days) if shown else "", ""])
    rows.append(s.total("time in stage", "stalled now", report.stalled))
    rows.append(s.rate("no-shows", "with a confirmed reminder", report.no_show_confirmed))
    rows.append(s.rate("no-shows", "without a confirmed reminder", report.no_show_unconfirmed))
    rows.append(s.rate("diary", "trial days with an entry", report.diary_days))
    rows.append(s.rate("diary", "patients entering on at least half their trial days", report.diary_half_days))
    rows.append(s.total("explants", "explanted", report.explants))
    rows += s.reasons("explant reasons", report.explant_reasons)
    for o in report.outcomes:
        rows.append(s.total(o.label, "milestone window closed", o.due))
        rows.append(s.rate(o.label, f"responders (≥ {report.responder_percent} % NRS reduction)", o.responders))
        rows.append(s.mean(o.label, "NRS change from baseline", o.assessed, o.mean_nrs_change))
        for measure, value in (("sleep quality at baseline", o.baseline_sleep), ("sleep quality", o.sleep),
                               ("activity limitation at baseline", o.baseline_activity),
                               ("activity limitation", o.activity)):
            rows.append(s.mean(o.label, measure, o.assessed, value))
        for use, count in o.medication.items():
            rows.append(s.total(o.label, f"medication {use}", count))
        for value, label, count in o.pgic_rows:
            rows.append(s.total(o.label, f"PGIC {value} {label.lower()}", count))
        rows.append(s.rate(o.label, "questionnaires answered / sent", o.questionnaires))
    for p in report.physicians:
        rows.append(s.rate(f"physician {p.name}", "trial success", p.trial_success))
        rows.append(s.total(f"physician {p.name}", "episodes started", p.started))
    return rows


def report_csv(report: ClinicReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(report_rows(report))
    return out.getvalue()


def report_filename(report: ClinicReport) -> str:
    return f"clinic-report-{report.clinic.slug}-{report.start}-{report.end}.csv"
