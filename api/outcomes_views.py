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
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from outcomes.pdf import trial_summary_pdf
from outcomes.trial_summary import trial_summary_for

from .permissions import IsClinical, IsClinicStaff, require_clinical
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
    renderer_classes = [JSONRenderer, PDFRenderer]
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
