from django.contrib import admin
from django.urls import include, path

from web.auth_views import admin_login

urlpatterns = [
    # Before the admin's own: the same lockout and second factor as /login/.
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("fhir/r4/", include("fhir_r4.urls")),
    path("", include("api.urls")),
    path("", include("notifications.urls")),
    path("", include("calendars.urls")),
    path("", include("web.urls")),
]

# Under /api/ even a failure outside the API's views (a middleware, a plain view) answers problem+json.
handler500 = "api.health.server_error"
