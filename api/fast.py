"""The read path of the plain lists: rows read by `.values()`, shaped by the detail serializer's own fields.

A page of patients or appointments needs no model objects: each row is one dict from the database (only the
columns the serializer shows, the joined usernames and ids instead of whole user, patient and episode rows),
and each value is formatted by the same serializer field the detail view uses, so the JSON is the same
(tests/api/test_list_output.py compares them row by row) and drf-spectacular still describes the list by
that serializer.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from rest_framework import serializers


class ValuesShape:
    """`serializer_class`'s fields read from `.values()` rows.

    A plain field is read from the lookup its source names ("patient.external_id" -> "patient__external_id").
    A method field needs a `computed` entry: name -> (lookup, convert), `convert` taking the looked-up value
    (None stays None). Built once per serializer class; the fields are bound once, not per request.
    """

    def __init__(self, serializer_class: type[serializers.Serializer],
                 computed: dict[str, tuple[str, Callable]] | None = None):
        computed = computed or {}
        self._plan: list[tuple[str, str, Callable]] = []
        for name, field in serializer_class().fields.items():
            if name in computed:
                lookup, convert = computed[name]
            elif isinstance(field, serializers.SerializerMethodField | serializers.BaseSerializer):
                raise TypeError(f"{serializer_class.__name__}.{name}: say how to read it from values()")
            else:
                lookup, convert = "__".join(field.source_attrs), field.to_representation
            self._plan.append((name, lookup, convert))
        self.lookups = tuple(dict.fromkeys(lookup for _, lookup, _ in self._plan))

    def values(self, queryset: QuerySet, *also: str) -> QuerySet:
        """Only the shown columns, plus `also` (the pagination's ordering columns, the audited patient)."""
        return queryset.values(*dict.fromkeys((*self.lookups, *also)))

    def rows(self, page: list[dict]) -> list[dict]:
        plan = self._plan
        return [{name: None if (value := row[lookup]) is None else convert(value) for name, lookup, convert in plan}
                for row in page]
