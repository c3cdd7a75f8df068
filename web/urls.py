from django.contrib.auth.views import LogoutView
from django.urls import path

from . import auth_views, outcomes_views, views

app_name = "web"

urlpatterns = [
    path("login/", auth_views.SignInView.as_view(), name="login"),
    path("login/code/", auth_views.signin_code, name="signin_code"),
    path("login/authenticator/", auth_views.signin_enrol, name="signin_enrol"),
    path("login/recovery-codes/", auth_views.signin_recovery_codes, name="signin_recovery_codes"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("worklist/", views.worklist, name="worklist"),
    path("caseload/", views.caseload, name="caseload"),
    path("board/", views.board, name="board"),
    path("board/<str:stage>/", views.board_column, name="board_column"),
    path("reports/", outcomes_views.reports, name="reports"),
    path("reports/csv/", outcomes_views.reports_csv, name="reports_csv"),
    path("patients/", views.patient_search, name="patient_search"),
    path("patients/<uuid:external_id>/", views.patient_detail, name="patient"),
    path("patients/<uuid:external_id>/appointments/", views.appointment_book, name="appointment_book"),
    path("episodes/<uuid:external_id>/checklist/<str:kind>/", views.episode_checklist, name="episode_checklist"),
    path("episodes/<uuid:external_id>/transitions/<str:name>/", views.episode_transition,
         name="episode_transition"),
    path("episodes/<uuid:external_id>/hold/", views.episode_hold, name="episode_hold"),
    path("episodes/<uuid:external_id>/details/", views.episode_details, name="episode_details"),
    path("episodes/<uuid:external_id>/pain/", views.episode_pain, name="episode_pain"),
    path("episodes/<uuid:external_id>/trial-summary/", outcomes_views.trial_summary, name="trial_summary"),
    path("episodes/<uuid:external_id>/trial-summary/pdf/", outcomes_views.trial_summary_pdf_download,
         name="trial_summary_pdf"),
    path("appointments/<uuid:external_id>/reschedule/", views.appointment_reschedule,
         name="appointment_reschedule"),
    path("appointments/<uuid:external_id>/cancel/", views.appointment_cancel, name="appointment_cancel"),
    path("appointments/<uuid:external_id>/<str:change>/", views.appointment_status, name="appointment_status"),
]
