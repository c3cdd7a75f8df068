from django.urls import path, re_path

from . import views

app_name = "fhir"

# FHIR's own URL forms: no trailing slash, the resource type as written in the specification.
urlpatterns = [
    path("", views.UnknownView.as_view(), name="base"),
    path("metadata", views.MetadataView.as_view(), name="metadata"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)$", views.SearchView.as_view(), name="search"),
    re_path(r"^(?P<resource_type>[A-Z][A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$", views.ReadView.as_view(),
            name="read"),
    re_path(r"^", views.UnknownView.as_view()),
]
