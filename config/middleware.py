"""Cache-Control for every answer Django writes: pages, API answers, the diary form."""

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """`Cache-Control: no-store` (and private, no-cache) on every response that passes through Django.

    Nearly every page and API answer holds patient data, and a shared workstation's browser cache or a proxy
    must keep none of it; listing the few that hold none is not worth the risk of forgetting one. Static files
    never reach this middleware: WhiteNoise, above it, answers them with its own long-lived caching.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response
