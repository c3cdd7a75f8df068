"""Shapes of the API's JSON. Output serializers read; input serializers validate types and refuse any
field the caller may not set (stage, clinic, ids, timestamps, …) with 400 instead of dropping it.
Business rules stay in pathway.services; per-role visibility comes from api.permissions.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import is_simple_callable

from config.inputs import in_year_window, year_window, year_window_message
from pathway import rules, selectors
from pathway.models import e164, icd10
from pathway.stages import (
    PGIC,
    AbortReason,
    AppointmentKind,
    AppointmentStatus,
    AuthorizationStatus,
    AuthorizationStep,
    Channel,
    ChecklistItemKind,
    ChecklistStatus,
    ConsentMethod,
    Diagnosis,
    EpisodeStatus,
    MedicationUse,
    PainPhase,
    PainSource,
    Stage,
)

from .permissions import sees_clinical

NOT_SETTABLE = "This field cannot be set."


def username_or_none(user) -> str | None:
    return user.get_username() if user is not None else None


def _wrong_type(field: serializers.Field, value) -> str | None:
    """The message when a JSON value is not of the type the schema gives the field, else None.

    DRF would coerce: "7" into the integer 7, 7 into the text "7", "yes" into true. The schema promises
    an integer, a string, a boolean, so anything else is refused rather than guessed at.
    """
    if value is None:
        return None  # allow_null decides
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Enter true or false (a JSON boolean)."
    if isinstance(field, serializers.IntegerField):
        whole = isinstance(value, int) and not isinstance(value, bool)
        return None if whole else "Enter a whole number (a JSON number)."
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "Enter a number."
    if isinstance(field, serializers.CharField | serializers.ChoiceField | serializers.DateField
                  | serializers.DateTimeField | serializers.UUIDField):
        return None if isinstance(value, str) else "Enter text (a JSON string)."
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return "Enter a list."
        return next((f"Item {i}: {m}" for i, item in enumerate(value) if (m := _wrong_type(field.child, item))), None)
    if isinstance(field, serializers.DictField):
        if not isinstance(value, Mapping):
            return "Enter an object."
        return next((f"{k}: {m}" for k, item in value.items() if (m := _wrong_type(field.child, item))), None)
    return None


class StrictInput(serializers.Serializer):
    """Refuses unknown and read-only fields by name, and values of another JSON type than the schema's."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            refused = sorted(set(data) - writable)
            if refused:
                raise serializers.ValidationError({name: [NOT_SETTABLE] for name in refused})
            wrong = {name: [message] for name, value in data.items()
                     if (message := _wrong_type(self.fields[name], value))}
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def _year_pattern() -> str:
    """A regular expression for the four-digit years of the input window, for the schema."""
    low, high = year_window()
    alternatives = []
    for century in range(low // 100, high // 100 + 1):
        first, last = max(low, century * 100), min(high, century * 100 + 99)
        if (first, last) == (century * 100, century * 100 + 99):
            alternatives.append(f"{century:02d}\\d\\d")
        else:
            alternatives.extend(f"{year:04d}" for year in range(first, last + 1))
    return f"^({'|'.join(alternatives)})-"


class WindowedDateField(serializers.DateField):
    """A date within the input window (config.inputs): far-off years overflow date arithmetic downstream."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if not in_year_window(parsed):
            raise serializers.ValidationError(year_window_message())
        return parsed


class WindowedDateTimeField(serializers.DateTimeField):
    """A date and time within the input window; reminders and clinic time zones are computed from it."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if not in_year_window(parsed):
            raise serializers.ValidationError(year_window_message())
        return parsed


for _field, _format in ((WindowedDateField, "date"), (WindowedDateTimeField, "date-time")):
    extend_schema_field({"type": "string", "format": _format, "pattern": _year_pattern(),
                         "description": year_window_message()})(_field)


class FastOutput(serializers.Serializer):
    """Output-only serializer that resolves its fields' sources once instead of once per row.

    The generic Serializer.to_representation walks each field's source through several layers per row;
    for a page of 50 episodes with some 60 fields that walk cost more than the database. The values and
    their rendering are the same: each field's own to_representation does the formatting.
    """

    @cached_property
    def _plan(self) -> list[tuple[str, serializers.Field, list[str]]]:
        return [(field.field_name, field, field.source_attrs) for field in self._readable_fields]

    def to_representation(self, instance):
        row = {}
        for name, field, attrs in self._plan:
            value = instance
            for attr in attrs:
                value = getattr(value, attr)
                if value is None:
                    break
            if is_simple_callable(value):
                value = value()
            row[name] = None if value is None else field.to_representation(value)
        return row


# --- Patients -------------------------------------------------------------------------------------


class PatientSerializer(FastOutput):
    id = serializers.UUIDField(source="external_id", read_only=True)
    mrn = serializers.CharField(read_only=True)
    given_name = serializers.CharField(read_only=True)
    family_name = serializers.CharField(read_only=True)
    birth_date = serializers.DateField(read_only=True)
    phone = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True)
    preferred_channel = serializers.ChoiceField(Channel.choices, read_only=True)
    sms_consent = serializers.BooleanField(read_only=True)
    sms_consent_at = serializers.DateTimeField(read_only=True, allow_null=True)
    sms_consent_method = serializers.ChoiceField(ConsentMethod.choices, read_only=True, allow_blank=True)
    email_consent = serializers.BooleanField(read_only=True)
    email_consent_at = serializers.DateTimeField(read_only=True, allow_null=True)
    email_consent_method = serializers.ChoiceField(ConsentMethod.choices, read_only=True, allow_blank=True)
    diary_consent = serializers.BooleanField(read_only=True)
    diary_consent_at = serializers.DateTimeField(read_only=True, allow_null=True)
    diary_consent_method = serializers.ChoiceField(ConsentMethod.choices, read_only=True, allow_blank=True)
    primary_physician = serializers.SerializerMethodField(help_text="username")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_primary_physician(self, patient) -> str | None:
        return username_or_none(patient.primary_physician)


class PatientSearchSerializer(StrictInput):
    """The list's filters in a request body: a search by MRN, name or birth date leaves no identifier in a URL,
    an access log or a proxy's history (as FHIR's POST `_search` does)."""

    mrn = serializers.CharField(max_length=40, required=False)
    search = serializers.CharField(max_length=100, required=False, help_text="Words found in the names.")
    birth_date = WindowedDateField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one of mrn, search, birth_date.")
        return attrs


class PatientSearchResultSerializer(serializers.Serializer):
    results = PatientSerializer(many=True)
    truncated = serializers.BooleanField(help_text="more patients matched than the page holds: narrow the search")


class PatientWriteSerializer(StrictInput):
    mrn = serializers.CharField(max_length=40)
    given_name = serializers.CharField(max_length=100)
    family_name = serializers.CharField(max_length=100)
    birth_date = WindowedDateField()
    phone = serializers.RegexField(e164.regex, max_length=16, required=False, allow_blank=True,
                                   help_text="E.164, e.g. +15551234567", error_messages={"invalid": e164.message})
    email = serializers.EmailField(required=False, allow_blank=True)
    preferred_channel = serializers.ChoiceField(Channel.choices, required=False)
    sms_consent = serializers.BooleanField(required=False)
    sms_consent_method = serializers.ChoiceField(ConsentMethod.choices, required=False)
    email_consent = serializers.BooleanField(required=False)
    email_consent_method = serializers.ChoiceField(ConsentMethod.choices, required=False)
    diary_consent = serializers.BooleanField(required=False)
    diary_consent_method = serializers.ChoiceField(ConsentMethod.choices, required=False)
    primary_physician = serializers.CharField(required=False, allow_null=True, help_text="a physician's username")


class ConsentChangeSerializer(FastOutput):
    consent = serializers.CharField(read_only=True)
    given = serializers.BooleanField(read_only=True)
    method = serializers.ChoiceField(ConsentMethod.choices, read_only=True, allow_blank=True)
    at = serializers.DateTimeField(read_only=True)
    by = serializers.CharField(source="actor_label", read_only=True)


# --- Episodes -------------------------------------------------------------------------------------


class PatientBriefSerializer(FastOutput):
    id = serializers.UUIDField(source="external_id", read_only=True)
    mrn = serializers.CharField(read_only=True)
    given_name = serializers.CharField(read_only=True)
    family_name = serializers.CharField(read_only=True)


class NextActionSerializer(FastOutput):
    code = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)


class ReliefSerializer(FastOutput):
    """Bound once as a field (source="*"): computes the relief figure of the episode it is handed."""
    percent = serializers.CharField(read_only=True, allow_null=True, help_text="one decimal, e.g. \"62.5\"")
    baseline_nrs = serializers.CharField(source="baseline", read_only=True, allow_null=True)
    trial_mean_nrs = serializers.CharField(source="trial_mean", read_only=True, allow_null=True)
    trial_entries = serializers.IntegerField(read_only=True)
    patient_reported_percent = serializers.CharField(source="patient_reported", read_only=True, allow_null=True)
    unavailable_reason = serializers.CharField(source="reason", read_only=True, allow_null=True)

    def to_representation(self, episode):
        return super().to_representation(rules.episode_relief(episode))


LEGACY_AUTH = ("Deprecated: the approved trial authorization that lasts longest, from /api/v1/authorizations/ "
               "(which also holds the implant's); kept for older integrations.")


def _trial_authorization(episode):
    """rules.trial_authorization_on_file, once per episode and request for its four deprecated fields."""
    if "_api_trial_authorization" not in episode.__dict__:
        episode.__dict__["_api_trial_authorization"] = rules.trial_authorization_on_file(episode)
    return episode.__dict__["_api_trial_authorization"]


class EpisodeClinicalSerializer(FastOutput):
    """The clinical side of an episode: coordinators and physicians only, null for anyone else.

    Bound once as a field of EpisodeSerializer (source="*") rather than built per row: building a
    serializer copies all its fields, which would cost more than the rest of the row.
    """

    diagnosis = serializers.ChoiceField(Diagnosis.choices, read_only=True, allow_blank=True)
    diagnosis_other = serializers.CharField(read_only=True)
    icd10_code = serializers.CharField(read_only=True)
    pain_areas = serializers.JSONField(read_only=True)
    pain_onset_date = serializers.DateField(read_only=True, allow_null=True)
    hold_reason = serializers.CharField(read_only=True)
    auth_payer = serializers.SerializerMethodField(help_text=LEGACY_AUTH)
    auth_number = serializers.SerializerMethodField(help_text=LEGACY_AUTH)
    auth_valid_from = serializers.SerializerMethodField(help_text=LEGACY_AUTH)
    auth_valid_to = serializers.SerializerMethodField(help_text=LEGACY_AUTH)
    trial_lead_placement_date = serializers.DateField(read_only=True, allow_null=True)
    trial_expected_end = serializers.DateField(read_only=True, allow_null=True)
    trial_lead_removal_date = serializers.DateField(read_only=True, allow_null=True)
    implant_override_reason = serializers.CharField(read_only=True)
    implant_date = serializers.DateField(read_only=True, allow_null=True)
    device_maker = serializers.CharField(read_only=True)
    device_model = serializers.CharField(read_only=True)
    device_serial = serializers.CharField(read_only=True)
    lead_levels = serializers.ListField(child=serializers.CharField(), read_only=True)
    end_reason_category = serializers.ChoiceField(AbortReason.choices, read_only=True, allow_blank=True)
    end_reason = serializers.CharField(read_only=True)
    ended_on = serializers.DateField(read_only=True, allow_null=True)
    relief_threshold = serializers.DecimalField(max_digits=4, decimal_places=1, read_only=True)
    relief = ReliefSerializer(source="*", read_only=True)

    def get_auth_payer(self, episode) -> str:
        authorization = _trial_authorization(episode)
        return authorization.payer if authorization else ""

    def get_auth_number(self, episode) -> str:
        authorization = _trial_authorization(episode)
        return authorization.number if authorization else ""

    @extend_schema_field({"type": "string", "format": "date", "nullable": True, "deprecated": True})
    def get_auth_valid_from(self, episode):
        authorization = _trial_authorization(episode)
        return authorization.valid_from.isoformat() if authorization and authorization.valid_from else None

    @extend_schema_field({"type": "string", "format": "date", "nullable": True, "deprecated": True})
    def get_auth_valid_to(self, episode):
        authorization = _trial_authorization(episode)
        return authorization.valid_to.isoformat() if authorization and authorization.valid_to else None

    def to_representation(self, episode):
        if not sees_clinical(self.context["actor"], episode.clinic_id):
            return None
        return super().to_representation(episode)


class EpisodeSerializer(FastOutput):
    """Scheduling needs to know whether an episode is open, whose it is and whether it is on hold: that is all
    the front desk sees. The stage (whose endings tell a trial's outcome), its age, the stalled flag and the
    next action are null for the front desk, and so is `clinical`."""

    id = serializers.UUIDField(source="external_id", read_only=True)
    patient = PatientBriefSerializer(read_only=True)
    physician = serializers.SerializerMethodField(help_text="username")
    coordinator = serializers.SerializerMethodField(help_text="username")
    status = serializers.SerializerMethodField(help_text="open while the pathway goes on, closed once it ended")
    stage = serializers.ChoiceField(Stage.choices, read_only=True, allow_null=True, help_text="null for the front desk")
    stage_entered_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="null for the front desk")
    days_in_stage = serializers.SerializerMethodField(help_text="null for the front desk")
    on_hold = serializers.BooleanField(read_only=True)
    held_at = serializers.DateTimeField(read_only=True, allow_null=True)
    stalled = serializers.SerializerMethodField(help_text="null for the front desk")
    next_action = serializers.SerializerMethodField(help_text="null for the front desk")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    clinical = EpisodeClinicalSerializer(source="*", read_only=True, allow_null=True)

    def get_physician(self, episode) -> str:
        return episode.physician.get_username()

    def get_coordinator(self, episode) -> str | None:
        return username_or_none(episode.coordinator)

    @extend_schema_field(serializers.ChoiceField(EpisodeStatus.choices))
    def get_status(self, episode) -> str:
        return EpisodeStatus.OPEN.value if episode.is_open else EpisodeStatus.CLOSED.value

    def get_days_in_stage(self, episode) -> int | None:
        return selectors.days_in_stage(episode)

    def get_stalled(self, episode) -> bool | None:
        stalled = getattr(episode, "is_stalled", None)
        return selectors.episode_is_stalled(episode) if stalled is None else stalled

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, episode):
        action = selectors.episode_next_action(episode)
        return None if action is None else {"code": action[0], "label": action[1]}

    PATHWAY_FIELDS = ("stage", "stage_entered_at", "days_in_stage", "stalled", "next_action")

    def to_representation(self, episode):
        row = super().to_representation(episode)
        if not sees_clinical(self.context["actor"], episode.clinic_id):
            row.update(dict.fromkeys(self.PATHWAY_FIELDS))
        return row


class CaseloadEntrySerializer(EpisodeSerializer):
    needs = serializers.SerializerMethodField(help_text="Why it is near the top: trial review pending, "
                                                        "trial ending, stalled, or empty.")

    def get_needs(self, episode) -> str:
        return selectors.CASELOAD_NEEDS[episode.priority]


LEGACY_AUTH_INPUT = ("Deprecated: records an approved trial authorization with these values; create it with "
                     "POST /api/v1/authorizations/ instead.")


class EpisodeCreateSerializer(StrictInput):
    patient = serializers.UUIDField()
    physician = serializers.CharField(help_text="username of a physician of the clinic")
    coordinator = serializers.CharField(required=False, allow_null=True)
    diagnosis = serializers.ChoiceField(Diagnosis.choices, required=False)
    diagnosis_other = serializers.CharField(max_length=200, required=False, allow_blank=True)
    icd10_code = serializers.RegexField(icd10.regex, max_length=8, required=False, allow_blank=True,
                                        error_messages={"invalid": icd10.message})
    pain_areas = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False,
                                       help_text='[{"area": "foot", "side": "left"}]')
    pain_onset_date = WindowedDateField(required=False)
    auth_payer = serializers.CharField(max_length=120, required=False, allow_blank=True, help_text=LEGACY_AUTH_INPUT)
    auth_number = serializers.CharField(max_length=60, required=False, allow_blank=True, help_text=LEGACY_AUTH_INPUT)
    auth_valid_from = WindowedDateField(required=False, help_text=LEGACY_AUTH_INPUT)
    auth_valid_to = WindowedDateField(required=False, help_text=LEGACY_AUTH_INPUT)


class TransitionRunSerializer(StrictInput):
    transition = serializers.ChoiceField([
        "start_trial", "decline_candidacy", "end_trial", "abort_trial", "approve_implant", "fail_trial",
        "record_implant", "explant", "discharge", "withdraw",
    ])
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
    trial_lead_placement_date = WindowedDateField(required=False)
    trial_lead_removal_date = WindowedDateField(required=False)
    implant_date = WindowedDateField(required=False)
    ended_on = WindowedDateField(required=False)
    device_maker = serializers.CharField(max_length=100, required=False)
    device_model = serializers.CharField(max_length=100, required=False)
    device_serial = serializers.CharField(max_length=100, required=False)
    lead_levels = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    end_reason_category = serializers.ChoiceField(AbortReason.choices, required=False)


class AvailableTransitionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    inputs = serializers.ListField(child=serializers.CharField())
    unmet = serializers.ListField(child=serializers.CharField(), help_text="guards not met now; empty = can run")


class TransitionLogSerializer(FastOutput):
    id = serializers.UUIDField(source="external_id", read_only=True)
    transition = serializers.CharField(read_only=True)
    from_stage = serializers.ChoiceField(Stage.choices, read_only=True)
    to_stage = serializers.ChoiceField(Stage.choices, read_only=True)
    by = serializers.CharField(source="actor_label", read_only=True)
    at = serializers.DateTimeField(read_only=True)
    reason = serializers.SerializerMethodField(help_text="null for the front desk")
    figures = serializers.SerializerMethodField(help_text="what the decision was based on; null for the front desk")

    def _clinical(self, log) -> bool:
        return sees_clinical(self.context["actor"], self.context["clinic_id"])

    def get_reason(self, log) -> str | None:
        return log.reason if self._clinical(log) else None

    @extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
    def get_figures(self, log):
        return log.figures if self._clinical(log) else None


class TransitionsSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(Stage.choices)
    on_hold = serializers.BooleanField()
    available = AvailableTransitionSerializer(many=True)
    history = TransitionLogSerializer(many=True)


class TransitionResultSerializer(serializers.Serializer):
    transition = TransitionLogSerializer()
    episode = EpisodeSerializer()


class ReasonSerializer(StrictInput):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class ChecklistItemSerializer(FastOutput):
    kind = serializers.ChoiceField(ChecklistItemKind.choices, read_only=True)
    label = serializers.CharField(source="get_kind_display", read_only=True)
    status = serializers.ChoiceField(ChecklistStatus.choices, read_only=True)
    details = serializers.JSONField(read_only=True)
    note = serializers.CharField(read_only=True)
    recorded_by = serializers.SerializerMethodField()
    recorded_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def get_recorded_by(self, item) -> str | None:
        """The username, or "API key …" for an integration's key."""
        return item.recorded_by_label or username_or_none(item.recorded_by)


class ChecklistRecordSerializer(StrictInput):
    kind = serializers.ChoiceField(ChecklistItemKind.choices)
    status = serializers.ChoiceField(ChecklistStatus.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)
    details = serializers.DictField(required=False, help_text='e.g. {"tried": ["medications", "injections"]}')


class PainEntrySerializer(FastOutput):
    id = serializers.UUIDField(source="external_id", read_only=True)
    recorded_at = serializers.DateTimeField(read_only=True)
    nrs = serializers.IntegerField(read_only=True)
    phase = serializers.ChoiceField(PainPhase.choices, read_only=True)
    source = serializers.ChoiceField(PainSource.choices, read_only=True)
    percent_relief = serializers.IntegerField(read_only=True, allow_null=True)
    sleep_quality = serializers.IntegerField(read_only=True, allow_null=True)
    activity_limitation = serializers.IntegerField(read_only=True, allow_null=True)
    medication_use = serializers.ChoiceField(MedicationUse.choices, read_only=True, allow_blank=True)
    pgic = serializers.ChoiceField(PGIC.choices, read_only=True, allow_null=True,
                                   help_text="Patient Global Impression of Change, 1 very much improved … "
                                             "7 very much worse; follow-up entries only")


class PainEntryCreateSerializer(StrictInput):
    nrs = serializers.IntegerField(min_value=0, max_value=10)
    phase = serializers.ChoiceField(PainPhase.choices)
    recorded_at = WindowedDateTimeField(required=False)
    percent_relief = serializers.IntegerField(min_value=0, max_value=100, required=False)
    sleep_quality = serializers.IntegerField(min_value=0, max_value=10, required=False)
    activity_limitation = serializers.IntegerField(min_value=0, max_value=10, required=False)
    medication_use = serializers.ChoiceField(MedicationUse.choices, required=False)
    pgic = serializers.IntegerField(
        min_value=1, max_value=7, required=False,
        error_messages={"min_value": "PGIC is 1 (very much improved) to 7 (very much worse).",
                        "max_value": "PGIC is 1 (very much improved) to 7 (very much worse)."},
        help_text="Patient Global Impression of Change since the implant: 1 very much improved, 2 much improved, "
                  "3 minimally improved, 4 no change, 5 minimally worse, 6 much worse, 7 very much worse. "
                  "Only with phase follow_up.")


# --- Prior authorizations -------------------------------------------------------------------------


class AuthorizationStatusChangeSerializer(FastOutput):
    from_status = serializers.ChoiceField(AuthorizationStatus.choices, read_only=True, allow_blank=True,
                                          help_text="empty for the status it was created with")
    to_status = serializers.ChoiceField(AuthorizationStatus.choices, read_only=True)
    by = serializers.CharField(source="actor_label", read_only=True)
    at = serializers.DateTimeField(read_only=True)


class AuthorizationSerializer(FastOutput):
    """A payer's authorization of the trial or the implant. The front desk reads it (it often chases the payer);
    the notes, free text that may carry clinical detail, are null for the front desk."""

    id = serializers.UUIDField(source="external_id", read_only=True)
    episode = serializers.UUIDField(source="episode.external_id", read_only=True)
    patient = serializers.UUIDField(source="episode.patient.external_id", read_only=True)
    step = serializers.ChoiceField(AuthorizationStep.choices, read_only=True)
    status = serializers.ChoiceField(AuthorizationStatus.choices, read_only=True)
    payer = serializers.CharField(read_only=True)
    number = serializers.CharField(read_only=True)
    submitted_on = serializers.DateField(read_only=True, allow_null=True)
    valid_from = serializers.DateField(read_only=True, allow_null=True)
    valid_to = serializers.DateField(read_only=True, allow_null=True)
    units = serializers.IntegerField(read_only=True, allow_null=True)
    notes = serializers.SerializerMethodField(help_text="null for the front desk")
    history = AuthorizationStatusChangeSerializer(source="status_changes.all", many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_notes(self, authorization) -> str | None:
        return authorization.notes if sees_clinical(self.context["actor"], authorization.episode.clinic_id) else None


class AuthorizationUpdateSerializer(StrictInput):
    status = serializers.ChoiceField(AuthorizationStatus.choices, required=False,
                                     help_text="draft → submitted → approved or denied; denied → appeal → approved "
                                               "or denied; approved → expired (or denied)")
    payer = serializers.CharField(max_length=120, required=False, allow_blank=True)
    number = serializers.CharField(max_length=60, required=False, allow_blank=True)
    submitted_on = WindowedDateField(required=False, allow_null=True, help_text="today when submitted without one")
    valid_from = WindowedDateField(required=False, allow_null=True)
    valid_to = WindowedDateField(required=False, allow_null=True)
    units = serializers.IntegerField(min_value=0, max_value=10000, required=False, allow_null=True)
    notes = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class AuthorizationCreateSerializer(AuthorizationUpdateSerializer):
    episode = serializers.UUIDField()
    step = serializers.ChoiceField(AuthorizationStep.choices)
    status = serializers.ChoiceField(AuthorizationStatus.choices, required=False, help_text="draft unless given")


# --- Appointments ---------------------------------------------------------------------------------


class AppointmentSerializer(FastOutput):
    id = serializers.UUIDField(source="external_id", read_only=True)
    patient = serializers.UUIDField(source="patient.external_id", read_only=True)
    episode = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(AppointmentKind.choices, read_only=True)
    starts_at = serializers.DateTimeField(read_only=True)
    ends_at = serializers.DateTimeField(read_only=True)
    status = serializers.ChoiceField(AppointmentStatus.choices, read_only=True)
    cancellation_reason = serializers.CharField(read_only=True)
    confirmed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    external_ref = serializers.CharField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_episode(self, appointment) -> str | None:
        return str(appointment.episode.external_id) if appointment.episode_id else None

    # drf-spectacular reads the type hint above as a plain string; say it is a nullable uuid.
    get_episode = extend_schema_field({"type": "string", "format": "uuid", "nullable": True})(get_episode)


class ReminderSerializer(FastOutput):
    """A reminder's outcome; nothing here is patient data."""

    id = serializers.UUIDField(source="external_id", read_only=True)
    purpose = serializers.CharField(read_only=True)
    channel = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    scheduled_for = serializers.DateTimeField(read_only=True)
    due_at = serializers.DateTimeField(read_only=True)
    appointment_starts_at = serializers.DateTimeField(read_only=True, allow_null=True)
    attempts = serializers.IntegerField(read_only=True)
    sent_at = serializers.DateTimeField(read_only=True, allow_null=True)
    provider_message_id = serializers.CharField(read_only=True)
    reason = serializers.CharField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class AppointmentCreateSerializer(StrictInput):
    patient = serializers.UUIDField()
    episode = serializers.UUIDField(required=False, allow_null=True)
    kind = serializers.ChoiceField(AppointmentKind.choices)
    starts_at = WindowedDateTimeField()
    ends_at = WindowedDateTimeField()
    external_ref = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)


class AppointmentRescheduleSerializer(StrictInput):
    starts_at = WindowedDateTimeField(required=False)
    ends_at = WindowedDateTimeField(required=False)


class CancelSerializer(StrictInput):
    reason = serializers.CharField(max_length=300)


# --- Board ----------------------------------------------------------------------------------------


class BoardStageSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(Stage.choices)
    label = serializers.CharField()
    total = serializers.IntegerField()
    on_hold = serializers.IntegerField()
    stalled = serializers.IntegerField()


class BoardSerializer(serializers.Serializer):
    stages = BoardStageSerializer(many=True)
    total = serializers.IntegerField()
    on_hold = serializers.IntegerField()
    stalled = serializers.IntegerField()
