"""Pages of issue 11: the trial summary (HTML and PDF) and the clinic reports.

Thin like web/views.py: read through the outcomes selectors, name the patients shown in the audit trail, render.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from api.audit import audit_read, audit_record
from outcomes.export import report_csv, report_filename
from outcomes.forms import ReportFilterForm
from outcomes.pdf import trial_summary_pdf
from outcomes.reports import clinic_report
from outcomes.trial_summary import trial_summary_for
from pathway.clinic_time import clinic_zone
from pathway.stages import PGIC

from . import report_charts
from .access import clinical_page, report_page


def _summary_or_404(request, external_id):
    summary = trial_summary_for(actor=request.actor, external_id=external_id)
    if summary is None:
        raise Http404
    audit_read(request, f"web.{request.resolver_match.url_name}", summary.patient.external_id)
    timezone.activate(clinic_zone(summary.clinic))  # times as the patient's clinic keeps them
    return summary


@require_GET
@clinical_page()
def trial_summary(request, external_id):
    summary = _summary_or_404(request, external_id)
    return render(request, "web/outcomes/trial_summary.html", {"s": summary})


@require_GET
@clinical_page()
def trial_summary_pdf_download(request, external_id):
    summary = _summary_or_404(request, external_id)
    response = HttpResponse(trial_summary_pdf(summary), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{summary.filename("pdf")}"'
    return response


# --- Clinic reports -------------------------------------------------------------------------------


def _report_or_form(request):
    form = ReportFilterForm(request.GET, clinics=request.report_clinics)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    report = clinic_report(clinic=data["clinic"], start=data["start"], end=data["end"], physician=data["physician"])
    return form, report


@require_GET
@report_page
def reports(request):
    form, report = _report_or_form(request)
    nonce = str(request.csp_nonce)
    charts = {} if report is None else {
        name: mark_safe(svg) if svg else None  # pygal escapes its labels
        for name, svg in (("funnel", report_charts.funnel_svg(report, nonce=nonce)),
                          ("stage_times", report_charts.stage_times_svg(report, nonce=nonce)),
                          ("responders", report_charts.responders_svg(report, nonce=nonce)))
    }
    audit_record(request=request, action="web.reports", status_code=200 if report else 400,
                 detail=_described(report))
    return render(request, "web/outcomes/reports.html", {
        "form": form, "report": report, "charts": charts, "page": "reports",
        "csv_query": request.GET.urlencode(), "pgic_choices": PGIC.choices,
    }, status=200 if report else 400)


@require_GET
@report_page
def reports_csv(request):
    form, report = _report_or_form(request)
    if report is None:
        errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())
        return HttpResponseBadRequest(f"The report cannot be made: {errors}", content_type="text/plain")
    audit_record(request=request, action="web.reports_csv", status_code=200, detail=_described(report))
    response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report_filename(report)}"'
    return response


def _described(report) -> str:
    """What was read, for the audit row: the clinic, range and physician, never a figure."""
    if report is None:
        return "refused: invalid filters"
    who = f" physician {report.physician.get_username()}" if report.physician else ""
    return f"clinic {report.clinic.slug} {report.start}..{report.end}{who}"
