"""The trial summary as a PDF, drawn with ReportLab (see pyproject.toml for why this library).

Text is set in the Bitstream Vera fonts ReportLab ships, embedded as TrueType subsets, so every name prints
as typed and the PDF's text can be read back (the tests do, with pypdf). A4 and US Letter both fit: the
frame is Letter's width and A4's height.
"""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .trial_summary import TrialSummary

PAGE = (215.9 * mm, 279.4 * mm)  # US Letter; the content also fits A4's width
_FONTS = Path(reportlab.__file__).parent / "fonts"


def _register_fonts() -> None:
    if "SummarySans" in pdfmetrics.getRegisteredFontNames():
        return
    pdfmetrics.registerFont(TTFont("SummarySans", str(_FONTS / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont("SummarySans-Bold", str(_FONTS / "VeraBd.ttf")))
    pdfmetrics.registerFontFamily("SummarySans", normal="SummarySans", bold="SummarySans-Bold",
                                  italic="SummarySans", boldItalic="SummarySans-Bold")


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName="SummarySans", fontSize=8.5, leading=11)
    return {
        "title": ParagraphStyle("title", parent=body, fontName="SummarySans-Bold", fontSize=13, leading=16),
        "h": ParagraphStyle("h", parent=body, fontName="SummarySans-Bold", fontSize=10, leading=13, spaceBefore=6,
                            spaceAfter=2),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#333")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _dash(value) -> str:
    return "—" if value in (None, "") else str(value)


def _pairs(rows: list[tuple[str, str]], st, widths=(38 * mm, 140 * mm)) -> Table:
    table = Table([[_p(k, st["cell"]), _p(v, st["cell"])] for k, v in rows], colWidths=widths, hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("TOPPADDING", (0, 0), (-1, -1), 1),
                               ("FONTNAME", (0, 0), (0, -1), "SummarySans-Bold")]))
    return table


def trial_summary_pdf(s: TrialSummary) -> bytes:
    _register_fonts()
    st = _styles()
    e, p = s.episode, s.patient
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=PAGE, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=13 * mm,
                            bottomMargin=12 * mm, title="DRG stimulation trial summary",
                            author=s.clinic.name, subject=f"Episode {e.external_id}")
    story = [
        _p("DRG stimulation trial summary", st["title"]),
        _p(f"{s.clinic.name} · {s.clinic.phone} · generated {s.generated_at:%d %b %Y %H:%M %Z}", st["small"]),
        _p("Patient", st["h"]),
        _pairs([
            ("Name", p.full_name), ("MRN", p.mrn), ("Date of birth", f"{p.birth_date:%d %b %Y}"),
            ("Physician", e.physician.get_full_name() or e.physician.get_username()),
            ("Trial authorization", _authorization(s.trial_authorization)),
            ("Diagnosis", " ".join(x for x in (s.diagnosis, e.icd10_code and f"(ICD-10 {e.icd10_code})") if x)
             or "—"),
            ("Pain areas", ", ".join(s.pain_areas) or "—"),
            ("Pain since", f"{e.pain_onset_date:%d %b %Y}" if e.pain_onset_date else "—"),
        ], st),
        _p("Baseline (before the trial)", st["h"]),
        _pairs([
            ("NRS (0–10), mean", f"{_dash(s.relief.baseline)} from {s.baseline_entries} "
                                 f"score{'s' if s.baseline_entries != 1 else ''}"),
            ("Sleep quality, mean", _dash(s.baseline_sleep)),
            ("Activity limitation, mean", _dash(s.baseline_activity)),
        ], st),
        _p("Trial", st["h"]),
        _pairs([
            ("Lead placement", f"{e.trial_lead_placement_date:%d %b %Y}" if e.trial_lead_placement_date else "—"),
            ("Lead removal", f"{e.trial_lead_removal_date:%d %b %Y}" if e.trial_lead_removal_date else "—"),
            ("Length", f"{s.trial_days} days (expected end {e.trial_expected_end:%d %b %Y})"
             if s.trial_days and e.trial_expected_end else _dash(s.trial_days)),
            ("Lead levels", s.lead_levels or "not recorded"),
        ], st),
        _p("Trial diary", st["h"]),
    ]
    header = ["Day", "Date, time", "NRS", "Own % relief", "Sleep", "Activity limit", "Medication", "Source"]
    rows = [[_p(h, st["cell"]) for h in header]]
    for row in s.diary:
        rows.append([_p(str(x), st["cell"]) for x in (
            _dash(row.day_number), f"{row.recorded_at:%d %b %Y %H:%M}", row.nrs, _dash(row.percent_relief),
            _dash(row.sleep_quality), _dash(row.activity_limitation), _dash(row.medication), row.source)])
    if not s.diary:
        rows.append([_p("No diary entries during the trial.", st["cell"])] + [""] * 7)
    diary = Table(rows, colWidths=[10 * mm, 30 * mm, 11 * mm, 19 * mm, 13 * mm, 19 * mm, 42 * mm, 24 * mm],
                  repeatRows=1, hAlign="LEFT")
    diary.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#999")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        *([("SPAN", (0, 1), (-1, 1))] if not s.diary else []),
    ]))
    story += [
        diary,
        _p("Relief", st["h"]),
        _p(s.relief_text, st["body"]),
        _p("Physician's decision", st["h"]),
        _p(s.decision_text, st["body"]),
        Spacer(1, 4 * mm),
        _p(f"Episode {e.external_id}. Relief = (baseline NRS − mean trial NRS) / baseline NRS × 100, one decimal; "
           "baseline is the mean of the baseline-phase scores.", st["small"]),
    ]
    doc.build(story)
    return out.getvalue()


def _authorization(a) -> str:
    if a is None:
        return "—"
    valid = a.valid_from and a.valid_to and f"valid {a.valid_from:%d %b %Y}–{a.valid_to:%d %b %Y}"
    return " · ".join(x for x in (a.payer, a.number and f"no. {a.number}", valid) if x) or "—"
