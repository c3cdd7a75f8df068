from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ClinicAPIKey


class CallerRateThrottle(SimpleRateThrottle):
    """Requests per API key or per signed-in user (per address for anonymous callers)."""

    scope = "caller"

    def get_rate(self) -> str:
        return settings.API["THROTTLE_RATE"]

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ClinicAPIKey):
            ident = f"key:{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
