from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("diary/<str:token>/", views.diary, name="diary"),
    path("questionnaire/<str:token>/", views.questionnaire, name="questionnaire"),
    path("sms/inbound/", views.sms_inbound, name="sms-inbound"),
]
