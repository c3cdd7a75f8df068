from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from webhooks import api as webhooks_api

from . import health, outcomes_views, views

app_name = "api"

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("episodes", views.EpisodeViewSet, basename="episode")
router.register("appointments", views.AppointmentViewSet, basename="appointment")
router.register("authorizations", views.AuthorizationViewSet, basename="authorization")

urlpatterns = [
    path("api/v1/episodes/<str:id>/trial-summary/", outcomes_views.TrialSummaryView.as_view(),
         name="trial_summary"),
    path("api/v1/reports/clinic/", outcomes_views.ClinicReportView.as_view(), name="clinic_report"),
    path("api/v1/webhooks/", webhooks_api.EndpointList.as_view(), name="webhook_endpoints"),
    path("api/v1/webhooks/deliveries/failed/", webhooks_api.FailedDeliveryList.as_view(), name="webhook_failed"),
    path("api/v1/webhooks/deliveries/<str:id>/replay/", webhooks_api.DeliveryReplay.as_view(),
         name="webhook_replay"),
    path("api/v1/webhooks/<str:id>/", webhooks_api.EndpointDetail.as_view(), name="webhook_endpoint"),
    path("api/v1/", include(router.urls)),
    path("api/v1/caseload/", views.CaseloadView.as_view(), name="caseload"),
    path("api/v1/board/", views.BoardView.as_view(), name="board"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's page has an inline <style> of its own (its script is served separately by the split view).
    path("api/docs/", csp_update({"style-src-elem": [UNSAFE_INLINE]})(
        SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Anything else under /api/ answers a problem document too, not Django's HTML page.
    re_path(r"^api/", health.api_not_found),
]
