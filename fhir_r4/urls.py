from django.urls import path, re_path

from . import views

app_name = "fhir"

# FHIR's own URL forms: no trailing slash, the resource type as written in the specification.
urlpatterns = [
    path("", views.UnknownView.as_view(), name="base"),
    path("metadata", views.MetadataView.as_view(), name="metadata"),
    re_path(r"^\$export$", views.ExportKickoffView.as_view(), {"level": "system"}, name="export"),
    re_path(r"^Patient/\$export$", views.ExportKickoffView.as_view(), {"level": "patient"}, name="patient-export"),
    re_path(r"^\$export-status/(?P<job_id>[0-9a-f-]{36})$", views.ExportStatusView.as_view(), name="export-status"),
    re_path(r"^\$export-file/(?P<job_id>[0-9a-f-]{36})/(?P<resource_type>[A-Za-z]+)\.ndjson$",
            views.ExportFileView.as_view(), name="export-file"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)$", views.SearchView.as_view(), name="search"),
    re_path(r"^Patient/(?P<resource_id>[A-Za-z0-9\-.]{1,64})/\$everything$", views.EverythingView.as_view(),
            name="everything"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$", views.ReadView.as_view(),
            name="read"),
    re_path(r"^", views.UnknownView.as_view()),
]
