"""FHIR search parameters as query filters: each parameter turns its values into a Q, nothing else.

Repeated parameters AND, comma-separated values OR (FHIR R4 search, 3.1.1.4). A value that cannot be read
is a 400 naming the parameter; a parameter the resource does not support is a 400 too, so a misspelt filter
never answers every patient of the clinic.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Q

from pathway.clinic_time import start_of_day
from pathway.errors import InvalidInput

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:\d{2})$")


@dataclass
class SearchContext:
    """What a filter may need besides its values: the caller's clinics (their zones, their MRN systems)."""

    clinics: Sequence
    # Observation's `code` narrows which measures of a pain entry are answered, not only which entries.
    measures: set[str] | None = None


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # FHIR SearchParamType: token, string, date, reference
    documentation: str
    # (one occurrence's comma-separated values, the modifier or "", the context) -> filter
    build: Callable[[list[str], str, SearchContext], Q]
    modifiers: tuple[str, ...] = ()
    definition: str | None = None  # the core SearchParameter's canonical URL, where it is one

    def filter(self, raw: str, modifier: str, ctx: SearchContext) -> Q:
        if modifier and modifier not in self.modifiers:
            raise invalid(f"{self.name}:{modifier}", f"The modifier :{modifier} is not supported here.")
        values = [v.strip() for v in raw.split(",")]
        if not all(values):
            raise invalid(self.name, "Give a value.")
        return self.build(values, modifier, ctx)


def invalid(param: str, message: str) -> InvalidInput:
    return InvalidInput({param: [message]}, detail="A search parameter is not valid.")


def _any(qs) -> Q:
    result = Q(pk__in=[])
    for q in qs:
        result |= q
    return result


# --- token ----------------------------------------------------------------------------------------


def split_token(value: str) -> tuple[str | None, str]:
    """'system|code' -> (system, code); '|code' -> ('', code) (no system); 'code' -> (None, code)."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def token_param(name: str, documentation: str, match: Callable[[str | None, str, SearchContext], Q],
                definition: str | None = None) -> SearchParam:
    def build(values, modifier, ctx):
        return _any(match(*split_token(v), ctx) for v in values)

    return SearchParam(name, "token", documentation, build, definition=definition)


# --- string ---------------------------------------------------------------------------------------


def string_param(name: str, documentation: str, fields: Sequence[str], definition: str | None = None) -> SearchParam:
    """FHIR string matching: starts with, ignoring case (`:contains` anywhere, `:exact` whole and case)."""
    lookups = {"": "istartswith", "contains": "icontains", "exact": "exact"}

    def build(values, modifier, ctx):
        lookup = lookups[modifier]
        return _any(_any(Q(**{f"{f}__{lookup}": v}) for f in fields) for v in values)

    return SearchParam(name, "string", documentation, build, modifiers=("contains", "exact"), definition=definition)


# --- reference ------------------------------------------------------------------------------------


def reference_param(name: str, documentation: str, target: str, field: str,
                    definition: str | None = None) -> SearchParam:
    """`Patient/<id>`, a full URL ending so, or the bare id; an id that is not ours matches nothing."""

    def build(values, modifier, ctx):
        ids = []
        for value in values:
            kind, _, rest = value.rstrip("/").rpartition("/")
            if kind and not kind.endswith(target):
                raise invalid(name, f"Refer to a {target}, e.g. {target}/<id>.")
            try:
                ids.append(uuid.UUID(rest))
            except ValueError:
                continue
        return Q(**{f"{field}__in": ids})

    return SearchParam(name, "reference", documentation, build, definition=definition)


# --- date -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateValue:
    prefix: str
    lo: date | datetime
    hi: date | datetime  # exclusive: the end of the value's precision
    is_instant: bool = field(default=False)


def parse_date(param: str, raw: str) -> DateValue:
    prefix, text = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
    text = text.replace(" ", "+")  # an offset's "+" sent unencoded arrives as a space
    if match := _DATE.match(text):
        year, month, day = (int(g) if g else None for g in match.groups())
        try:
            if day:
                lo = date(year, month, day)
                return DateValue(prefix, lo, lo + timedelta(days=1))
            if month:
                lo = date(year, month, 1)
                return DateValue(prefix, lo, date(year + month // 12, month % 12 + 1, 1))
            return DateValue(prefix, date(year, 1, 1), date(year + 1, 1, 1))
        except ValueError:
            pass
    elif match := _INSTANT.match(text):
        try:
            lo = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            # The value covers its own precision: to the minute, the second, or the fraction given.
            seconds, fraction = match.group(1), match.group(2) or ""
            step = (timedelta(microseconds=10 ** (6 - len(fraction))) if fraction
                    else timedelta(seconds=1) if seconds else timedelta(minutes=1))
            return DateValue(prefix, lo, lo + step, is_instant=True)
    raise invalid(param, "Give a date (2026-03-01, 2026-03, 2026) or an instant with its offset "
                         "(2026-03-01T09:30:00Z), optionally after a prefix: eq, ne, gt, lt, ge, le, sa, eb.")


def _compare(field: str, prefix: str, lo, hi) -> Q:
    within = Q(**{f"{field}__gte": lo, f"{field}__lt": hi})
    return {
        "eq": within, "ne": ~within,
        "gt": Q(**{f"{field}__gte": hi}), "sa": Q(**{f"{field}__gte": hi}),
        "ge": Q(**{f"{field}__gte": lo}),
        "lt": Q(**{f"{field}__lt": lo}), "eb": Q(**{f"{field}__lt": lo}),
        "le": Q(**{f"{field}__lt": hi}),
    }[prefix]


def instant_param(name: str, documentation: str, field: str, clinic_field: str,
                  definition: str | None = None) -> SearchParam:
    """A date or instant compared with a stored instant; a date alone is a day in the clinic's own zone."""

    def build(values, modifier, ctx):
        qs = []
        for raw in values:
            value = parse_date(name, raw)
            if value.is_instant:
                qs.append(_compare(field, value.prefix, value.lo, value.hi))
                continue
            qs.append(_any(
                Q(**{clinic_field: clinic.pk})
                & _compare(field, value.prefix, start_of_day(clinic, value.lo), start_of_day(clinic, value.hi))
                for clinic in ctx.clinics
            ))
        return _any(qs)

    return SearchParam(name, "date", documentation, build, definition=definition)


def date_param(name: str, documentation: str, field: str, definition: str | None = None) -> SearchParam:
    """A date compared with a stored date (a birth date): instants make no sense there."""

    def build(values, modifier, ctx):
        qs = []
        for raw in values:
            value = parse_date(name, raw)
            if value.is_instant:
                raise invalid(name, "Give a date (2026-03-01, 2026-03 or 2026), not a time.")
            qs.append(_compare(field, value.prefix, value.lo, value.hi))
        return _any(qs)

    return SearchParam(name, "date", documentation, build, definition=definition)


def last_updated(clinic_field: str) -> SearchParam:
    return instant_param(
        "_lastUpdated", "When the resource last changed; `gt<instant>` for incremental sync.", "updated_at",
        clinic_field, definition="http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
    )


# --- the query string as a whole ------------------------------------------------------------------

# Result parameters every search takes; everything else must be a search parameter of the resource.
CONTROL = ("_count", "_cursor", "_include", "_format", "_pretty")


def search_filter(query, params: Sequence[SearchParam], ctx: SearchContext) -> Q:
    by_name = {p.name: p for p in params}
    result = Q()
    for key in query:
        name, _, modifier = key.partition(":")
        if name in CONTROL:
            continue
        param = by_name.get(name)
        if param is None:
            supported = ", ".join([*sorted(by_name), *CONTROL])
            raise invalid(key, f"Not a search parameter of this resource (supported: {supported}).")
        for raw in query.getlist(key):
            result &= param.filter(raw, modifier, ctx)
    return result
