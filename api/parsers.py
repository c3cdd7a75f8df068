"""The API's JSON parser: the same JSON, with two limits checked before anything reads the values.

Nesting deeper than INPUTS["JSON_MAX_DEPTH"] is refused unparsed (Python's parser would recurse into a
RecursionError), and a NUL character in any key or string is refused naming where it is (PostgreSQL text
and jsonb cannot hold it).
"""

from __future__ import annotations

import codecs

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.utils import json

from config.inputs import NUL, NUL_MESSAGE, json_depth_exceeds


class BodyRefused(exceptions.ParseError):
    default_code = "malformed_body"


def _nul_path(value, path: str = "") -> str | None:
    if isinstance(value, str):
        return (path or "body") if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in key:
                return where.replace(NUL, "\\x00")
            if (found := _nul_path(item, where)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_path(item, f"{path}.{index}" if path else str(index))) is not None:
                return found
    return None


class LimitedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parsers.get_encoding(parser_context)
        raw = stream.read() if stream is not None else b""
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError):
            raise BodyRefused("The body is not valid JSON: it is not UTF-8 text.") from None
        limit = settings.INPUTS["JSON_MAX_DEPTH"]
        if json_depth_exceeds(text, limit):
            raise BodyRefused(f"The body nests objects or arrays deeper than {limit} levels.")
        try:
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as error:
            raise BodyRefused(f"The body is not valid JSON: {error}.") from None
        if (where := _nul_path(data)) is not None:
            raise exceptions.ValidationError({where: [NUL_MESSAGE]})
        return data

