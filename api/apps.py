from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self):
        from . import audit, schema  # noqa: F401  (sign-in audit receivers; the API-key scheme for drf-spectacular)
