from django.conf import settings
from rest_framework.pagination import CursorPagination, _positive_int


class CursorPage(CursorPagination):
    """Opaque cursors over an immutable ordering, so pages stay stable while rows are inserted."""

    ordering = ("created_at", "id")
    page_size_query_param = "page_size"
    page_size_query_description = "Rows per page (default 50, at most 200)."

    def get_page_size(self, request) -> int:
        default, cap = settings.API["PAGE_SIZE"], settings.API["MAX_PAGE_SIZE"]
        try:
            return _positive_int(request.query_params[self.page_size_query_param], strict=True, cutoff=cap)
        except (KeyError, ValueError):
            return min(default, cap)
