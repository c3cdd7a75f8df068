from django.urls import path

from . import views

app_name = "calendars"

urlpatterns = [
    # Everything under calendars/ is a feed's secret link: config/log_redaction.py masks the segment after it.
    path("calendars/<str:token>.ics", views.feed, name="feed"),
    path("calendar-feeds/", views.feeds_page, name="feeds"),
    path("calendar-feeds/new/", views.feed_create, name="feed_create"),
    path("calendar-feeds/<uuid:external_id>/revoke/", views.feed_revoke, name="feed_revoke"),
    path("patients/<uuid:external_id>/appointments.ics", views.patient_appointments, name="patient_appointments"),
]
