"""Query filters of the list endpoints (documented in the schema by drf-spectacular)."""

from datetime import UTC

from django.db.models import Q
from django_filters import rest_framework as filters
from rest_framework.exceptions import PermissionDenied, ValidationError

from pathway import selectors
from pathway.models import Appointment, Episode, Patient, PriorAuthorization
from pathway.stages import (
    CLINICAL_ROLES,
    OPEN_STAGES,
    AppointmentKind,
    AppointmentStatus,
    AuthorizationStatus,
    AuthorizationStep,
    EpisodeStatus,
    Stage,
)

from .authentication import actor_for


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """ISO 8601 with any offset, compared in UTC (PostgreSQL refuses offsets beyond ±15:59)."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ValidationError({self.field_name: ["Enter a date and time within the calendar."]}) from None
        return super().filter(qs, value)


class StrictFilterSet(filters.FilterSet):
    """An empty value of a typed parameter (`updated_since=`, `stage=`) is refused, not read as no filter:
    the schema says a date-time or one of the stages, and "" is neither."""

    def is_valid(self):
        valid = super().is_valid()
        for name, declared in self.filters.items():
            if not isinstance(declared, filters.CharFilter) and self.data.get(name, None) == "":
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
        return valid


class PatientFilter(StrictFilterSet):
    mrn = filters.CharFilter(field_name="mrn")
    search = filters.CharFilter(method="filter_search", max_length=100, help_text="Words found in the names.")
    birth_date = filters.DateFilter(field_name="birth_date")
    updated_since = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Patient
        fields = ["mrn", "search", "birth_date", "updated_since"]

    def filter_search(self, queryset, name, value):
        for word in value.split()[:5]:
            queryset = queryset.filter(Q(given_name__icontains=word) | Q(family_name__icontains=word))
        return queryset


class EpisodeFilter(StrictFilterSet):
    status = filters.ChoiceFilter(choices=EpisodeStatus.choices, method="filter_status")
    stage = filters.ChoiceFilter(choices=Stage.choices, help_text="coordinators and physicians only")
    physician = filters.CharFilter(field_name="physician__username", help_text="username")
    on_hold = filters.BooleanFilter(field_name="on_hold")
    stalled = filters.BooleanFilter(method="filter_stalled", help_text="coordinators and physicians only")
    patient = filters.UUIDFilter(field_name="patient__external_id")
    updated_since = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    # Filtering by these would tell the front desk what the answer hides (which trials failed, which stall).
    CLINICAL_FILTERS = ("stage", "stalled")

    class Meta:
        model = Episode
        fields = ["status", "stage", "physician", "on_hold", "stalled", "patient", "updated_since"]

    def filter_queryset(self, queryset):
        used = [name for name in self.CLINICAL_FILTERS if name in self.data]
        actor = actor_for(self.request)
        if used and not actor.clinic_ids_for(*CLINICAL_ROLES):
            raise PermissionDenied(f"Filtering by {' or '.join(used)} is for coordinators and physicians.")
        return super().filter_queryset(queryset)

    def filter_status(self, queryset, name, value):
        return queryset.filter(stage__in=OPEN_STAGES) if value == "open" else queryset.exclude(stage__in=OPEN_STAGES)

    def filter_stalled(self, queryset, name, value):
        stalled = selectors.stalled_for(actor=actor_for(self.request))
        return queryset.filter(stalled) if value else queryset.exclude(stalled)


class AppointmentFilter(StrictFilterSet):
    patient = filters.UUIDFilter(field_name="patient__external_id")
    status = filters.ChoiceFilter(choices=AppointmentStatus.choices)
    kind = filters.ChoiceFilter(choices=AppointmentKind.choices)
    start_after = UtcDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    start_before = UtcDateTimeFilter(field_name="starts_at", lookup_expr="lt")
    updated_since = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Appointment
        fields = ["patient", "status", "kind", "start_after", "start_before", "updated_since"]


class AuthorizationFilter(StrictFilterSet):
    episode = filters.UUIDFilter(field_name="episode__external_id")
    patient = filters.UUIDFilter(field_name="episode__patient__external_id")
    step = filters.ChoiceFilter(choices=AuthorizationStep.choices)
    status = filters.ChoiceFilter(choices=AuthorizationStatus.choices)
    updated_since = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = PriorAuthorization
        fields = ["episode", "patient", "step", "status", "updated_since"]
