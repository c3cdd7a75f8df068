from base64 import b64decode, b64encode
from binascii import Error as Base64Error
from urllib import parse

from django.conf import settings
from django.core import signing
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination, _positive_int
from rest_framework.utils.urls import replace_query_param


class CursorPage(CursorPagination):
    """Opaque cursors over an immutable ordering, so pages stay stable while rows are inserted.

    Cursors are signed: the position inside one is compared with the ordering's columns, so a hand-made
    position ("p=1999" against a timestamp) would reach the database as a value of the wrong type.
    """

    ordering = ("created_at", "id")
    page_size_query_param = "page_size"
    page_size_query_description = "Rows per page (default 50, at most 200)."
    cursor_query_description = "The `next` or `previous` link's cursor, exactly as given."
    _signer = signing.Signer(salt="api.pagination.cursor")

    def get_page_size(self, request) -> int:
        default, cap = settings.API["PAGE_SIZE"], settings.API["MAX_PAGE_SIZE"]
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return min(default, cap)
        try:
            size = _positive_int(given, strict=True)
        except ValueError:
            size = None
        if size is None or size > cap:
            raise ValidationError({self.page_size_query_param: [f"Enter a whole number from 1 to {cap}."]})
        return size

    def encode_cursor(self, cursor):
        tokens = {}
        if cursor.offset != 0:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = cursor.position
        encoded = b64encode(parse.urlencode(tokens, doseq=True).encode()).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, self._signer.sign(encoded))

    def decode_cursor(self, request):
        signed = request.query_params.get(self.cursor_query_param)
        if signed is None:
            return None
        try:
            tokens = parse.parse_qs(b64decode(self._signer.unsign(signed)).decode(), keep_blank_values=True)
            offset = _positive_int(tokens.get("o", ["0"])[0], cutoff=self.offset_cutoff)
            reverse = bool(int(tokens.get("r", ["0"])[0]))
        except (signing.BadSignature, Base64Error, UnicodeDecodeError, TypeError, ValueError):
            raise ValidationError({self.cursor_query_param: [
                "This cursor was not given out by the API or has been changed; follow the `next` and "
                "`previous` links as they are, or leave the cursor out for the first page."
            ]}) from None
        return Cursor(offset=offset, reverse=reverse, position=tokens.get("p", [None])[0])

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=settings.API["MAX_PAGE_SIZE"])
        return parameters
