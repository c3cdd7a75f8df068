"""Requests per API key or per signed-in user, counted in Redis when API_THROTTLE_REDIS_URL is set (shared
by every web process), else in the process's own memory."""

import logging
from functools import cache

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from .models import ClinicAPIKey

logger = logging.getLogger(__name__)


@cache
def _redis_counter(url: str) -> RedisCache:
    return RedisCache(url, {"KEY_PREFIX": "api-throttle", "OPTIONS": {"socket_timeout": 0.5,
                                                                        "socket_connect_timeout": 0.5}})


class CallerRateThrottle(SimpleRateThrottle):
    scope = "caller"

    def __init__(self):
        url = settings.API["THROTTLE_REDIS_URL"]
        self.cache = _redis_counter(url) if url else caches["default"]
        super().__init__()

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

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as error:  # the counter's store is down: serve rather than refuse everyone
            if "redis" not in type(error).__module__.lower():
                raise
            logger.warning("API throttle counter unavailable (%s); request allowed", type(error).__name__)
            return True
