"""Pages of issue 11: the trial summary (HTML and PDF) and the clinic reports.

Thin like web/views.py: read through the outcomes selectors, name the patients shown in the audit trail, render.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from api.audit import audit_read
from outcomes.pdf import trial_summary_pdf
from outcomes.trial_summary import trial_summary_for
from pathway.clinic_time import clinic_zone

from .access import clinical_page


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
