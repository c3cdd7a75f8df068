from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("api.urls")),
    path("", include("notifications.urls")),
    path("", include("web.urls")),
]

# Under /api/ even a failure outside the API's views (a middleware, a plain view) answers problem+json.
handler500 = "api.health.server_error"
