"""API v1 of issue 11: the trial summary (JSON, or PDF by Accept: application/pdf or ?format=pdf) and the
clinic report (JSON, or CSV by Accept: text/csv or ?format=csv).

Same selectors as the pages, same audit trail: a summary names its patient; a report names none (it shows
counts, never a patient) but is still recorded as a read.
"""

from __future__ import annotations

import json
import uuid

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from outcomes.export import report_csv, report_filename
from outcomes.forms import ReportFilterForm
from outcomes.pdf import trial_summary_pdf
from outcomes.reports import clinic_report, report_clinics_for
from outcomes.trial_summary import trial_summary_for
from pathway.errors import InvalidInput

from .audit import audit_record
from .permissions import CanReadReports, IsClinical, IsClinicStaff, require_clinical
from .renderers import OrjsonRenderer
from .views import ApiMixin


class BinaryOrProblemRenderer(BaseRenderer):
    """Bytes pass through; anything else (a problem document answering the same request) is JSON."""

    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return json.dumps(data).encode()


class PDFRenderer(BinaryOrProblemRenderer):
    media_type = "application/pdf"
    format = "pdf"


class TrialSummaryView(ApiMixin, GenericAPIView):
    audit_name = "trial_summary"
    permission_classes = [IsClinicStaff, IsClinical]
    renderer_classes = [OrjsonRenderer, PDFRenderer]
    pagination_class = None

    @extend_schema(
        summary="The trial summary for the implant authorization (coordinators, physicians)",
        description="JSON by default; `Accept: application/pdf` or `?format=pdf` gives the one-page PDF. "
                    "404 until the episode's trial has ended.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="the summary (or the PDF)")},
    )
    def get(self, request, id, format=None):
        try:
            external_id = uuid.UUID(id)
        except ValueError:
            raise Http404 from None
        summary = trial_summary_for(actor=self.actor, external_id=external_id)
        if summary is None:
            raise Http404
        require_clinical(self.actor, summary.clinic.pk)
        self.audit(summary.patient.external_id)
        if request.accepted_renderer.format == "pdf":
            return Response(trial_summary_pdf(summary), content_type="application/pdf",
                            headers={"Content-Disposition": f'attachment; filename="{summary.filename("pdf")}"'})
        return Response(summary.as_dict())


class CSVRenderer(BinaryOrProblemRenderer):
    media_type = "text/csv"
    format = "csv"


class ClinicReportView(ApiMixin, GenericAPIView):
    audit_name = "reports"
    permission_classes = [CanReadReports]
    renderer_classes = [OrjsonRenderer, CSVRenderer]
    pagination_class = None

    @extend_schema(
        summary="The clinic report: funnel, trials, time in stage, no-shows, diary, outcomes, per physician",
        description="For the episodes started from `start` to `end` (the clinic's days, both included; default the "
                    "last 365 days). JSON by default; `Accept: text/csv` or `?format=csv` gives the CSV, where counts "
                    "below the small-cell threshold read \"< 5\".",
        parameters=[OpenApiParameter("clinic", str, description="clinic slug; default your first clinic"),
                    OpenApiParameter("start", OpenApiTypes.DATE), OpenApiParameter("end", OpenApiTypes.DATE),
                    OpenApiParameter("physician", str, description="username; default all physicians")],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="the report (or its CSV)")},
    )
    def get(self, request, format=None):
        # The page's form sends a cleared date as "start="; through the API a given date must be a date.
        empty = [name for name in ("start", "end") if name in request.query_params and not request.query_params[name]]
        if empty:
            raise InvalidInput({name: ["Enter a date (YYYY-MM-DD), or leave the parameter out."] for name in empty})
        form = ReportFilterForm(request.query_params, clinics=list(report_clinics_for(actor=self.actor)))
        if not form.is_valid():
            raise InvalidInput({name: list(messages) for name, messages in form.errors.items()})
        data = form.cleaned_data
        report = clinic_report(clinic=data["clinic"], start=data["start"], end=data["end"],
                               physician=data["physician"])
        audit_record(request=request, action=f"reports.{request.accepted_renderer.format}", status_code=200,
                     detail=f"clinic {report.clinic.slug} {report.start}..{report.end}"
                            + (f" physician {report.physician.get_username()}" if report.physician else ""))
        if request.accepted_renderer.format == "csv":
            return Response(report_csv(report).encode(), content_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{report_filename(report)}"'})
        return Response(report.as_dict())
