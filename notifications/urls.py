from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("diary/<str:token>/", views.diary, name="diary"),
    path("sms/inbound/", views.sms_inbound, name="sms-inbound"),
]
