"""Limits every input shares, whichever door it comes through (API, pages, webhooks).

PostgreSQL text cannot hold a NUL character, Python's JSON parser recurses once per nesting level, and
dates near year 1 or 9999 overflow as soon as an offset or a reminder's lead time is applied. Each limit is
checked once at the edge, so that what gets past it is something the services can handle.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings

NUL = "\x00"
NUL_MESSAGE = "NUL characters are not allowed."


def year_window() -> tuple[int, int]:
    return settings.INPUTS["YEAR_MIN"], settings.INPUTS["YEAR_MAX"]


def year_window_message() -> str:
    low, high = year_window()
    return f"Enter a date between the years {low} and {high}."


def in_year_window(value: dt.date | dt.datetime) -> bool:
    low, high = year_window()
    return low <= value.year <= high


def nul_in(value: str) -> bool:
    return NUL in value


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON text nests objects or arrays deeper than `limit`, counted without parsing it
    (the parser itself is what would run out of stack). Brackets inside strings do not count."""
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        elif bracket in "]}":
            depth -= 1
    return False


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
