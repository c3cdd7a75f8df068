"""Forms validate what was typed and give it back on error; the services decide whether it may happen."""

from __future__ import annotations

from datetime import timedelta

from django import forms

from config.inputs import in_year_window, year_window_message
from pathway import services
from pathway.errors import InvalidInput
from pathway.stages import (
    PGIC,
    AbortReason,
    AppointmentKind,
    AuthorizationStatus,
    AuthorizationStep,
    ChecklistItemKind,
    ChecklistStatus,
    Diagnosis,
    MedicationUse,
    PainArea,
    PainPhase,
    PriorTreatment,
    Role,
    Side,
)


class DateInput(forms.DateInput):
    input_type = "date"


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class WindowedDateField(forms.DateField):
    """A date within the input window (config.inputs), so nothing downstream overflows on year 1 or 9999."""

    def validate(self, value):
        super().validate(value)
        if value is not None and not in_year_window(value):
            raise forms.ValidationError(year_window_message(), code="year_window")


class WindowedDateTimeField(forms.DateTimeField):
    """A date and time within the input window: reminders and time zones are computed from it."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except OverflowError:  # year 1 or 9999 shifted by the clinic's offset leaves the calendar
            raise forms.ValidationError(year_window_message(), code="year_window") from None

    def validate(self, value):
        super().validate(value)
        if value is not None and not in_year_window(value):
            raise forms.ValidationError(year_window_message(), code="year_window")


def attach_errors(form: forms.Form, error: InvalidInput, aliases: dict[str, str] | None = None) -> None:
    """Put a service's field errors next to the matching fields; the rest above the form."""
    aliases = aliases or {}
    for name, messages in error.errors.items():
        name = aliases.get(name, name)
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, message)


# --- Checklist ------------------------------------------------------------------------------------


class ChecklistItemForm(forms.Form):
    status = forms.ChoiceField(label="Status")
    note = forms.CharField(label="Note", required=False, max_length=500,
                           widget=forms.TextInput(attrs={"placeholder": "e.g. report dated 12 Nov"}))
    tried = forms.MultipleChoiceField(label="Treatments tried", required=False, choices=PriorTreatment.choices,
                                      widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, kind: str, role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        statuses = [ChecklistStatus.MET, ChecklistStatus.NOT_MET, ChecklistStatus.PENDING]
        if role == Role.PHYSICIAN:
            statuses.append(ChecklistStatus.WAIVED)
            self.fields["note"].help_text = "A waiver needs its reason here."
        self.fields["status"].choices = [(s.value, s.label) for s in statuses]
        if kind != ChecklistItemKind.PRIOR_TREATMENTS:
            del self.fields["tried"]

    def clean(self):
        data = super().clean()
        if data.get("status") == ChecklistStatus.WAIVED and not (data.get("note") or "").strip():
            self.add_error("note", "Give the reason for the waiver.")
        if (self.kind == ChecklistItemKind.PRIOR_TREATMENTS and data.get("status") == ChecklistStatus.MET
                and not data.get("tried")):
            self.add_error("tried", "Tick the treatments that were tried.")
        return data

    def details(self) -> dict:
        tried = self.cleaned_data.get("tried")
        return {"tried": list(tried)} if tried else {}


# --- Transitions ----------------------------------------------------------------------------------

INPUT_FIELDS = {
    "trial_lead_placement_date": lambda: WindowedDateField(label="Lead placement date", widget=DateInput),
    "trial_lead_removal_date": lambda: WindowedDateField(label="Lead removal date", widget=DateInput),
    "implant_date": lambda: WindowedDateField(label="Implant date", widget=DateInput),
    "ended_on": lambda: WindowedDateField(label="Date", widget=DateInput),
    "device_maker": lambda: forms.CharField(label="Device maker", max_length=100),
    "device_model": lambda: forms.CharField(label="Device model", max_length=100),
    "device_serial": lambda: forms.CharField(label="Serial number", max_length=100),
    "lead_levels": lambda: forms.CharField(label="Lead levels", max_length=300,
                                           help_text="Separate with commas, e.g. L4 left, L5 left"),
    "end_reason_category": lambda: forms.ChoiceField(label="Reason category",
                                                     choices=[("", "Choose…"), *AbortReason.choices]),
    "end_reason": lambda: forms.CharField(label="Reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2})),
    "implant_override_reason": lambda: forms.CharField(
        label="Override reason", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only when relief is below the threshold or cannot be computed: why the implant goes ahead.",
    ),
}


class TransitionForm(forms.Form):
    """The inputs of one transition, read from the state machine's own `custom["inputs"]`."""

    # The stage the page showed: if someone else moved the episode on meanwhile, this press is a conflict.
    seen_stage = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = name
        self.inputs = services.transition_inputs(name)
        for field_name in self.inputs:
            self.fields[field_name] = INPUT_FIELDS[field_name]()
        if services.REASON_FIELDS.get(name) not in self.inputs:
            self.fields["reason"] = forms.CharField(
                label="Note for the history", required=False, max_length=500,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def service_data(self) -> dict:
        data = {}
        for field_name, value in self.cleaned_data.items():
            if value in ("", None) or field_name == "seen_stage":
                continue
            if field_name == "lead_levels":
                value = [level.strip() for level in value.split(",") if level.strip()]
            data[field_name] = value
        return data


class HoldForm(forms.Form):
    reason = forms.CharField(label="Reason for the hold", max_length=300,
                             widget=forms.TextInput(attrs={"placeholder": "e.g. insurance appeal"}))


class ReleaseForm(forms.Form):
    reason = forms.CharField(label="Note (optional)", max_length=300, required=False)


# --- Episode details and pain ---------------------------------------------------------------------


class EpisodeDetailsForm(forms.Form):
    diagnosis = forms.ChoiceField(label="Diagnosis", required=False, choices=[("", "—"), *Diagnosis.choices])
    diagnosis_other = forms.CharField(label="Other diagnosis", required=False, max_length=200)
    icd10_code = forms.CharField(label="ICD-10 code", required=False, max_length=8)
    pain_onset_date = WindowedDateField(label="Pain onset date", required=False, widget=DateInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for area in PainArea:
            self.fields[f"area_{area.value}"] = forms.ChoiceField(
                label=area.label, required=False, choices=[("", "Not affected"), *Side.choices]
            )

    @classmethod
    def initial_for(cls, episode) -> dict:
        initial = {name: getattr(episode, name) for name in (
            "diagnosis", "diagnosis_other", "icd10_code", "pain_onset_date")}
        for item in episode.pain_areas or []:
            initial[f"area_{item['area']}"] = item["side"]
        return initial

    def area_fields(self):
        return [self[f"area_{area.value}"] for area in PainArea]

    def service_data(self) -> dict:
        # None clears a field (episode_update's convention); "" would be read as a choice.
        data = {name: (None if value in ("", None) else value)
                for name, value in self.cleaned_data.items() if not name.startswith("area_")}
        data["pain_areas"] = [
            {"area": area.value, "side": self.cleaned_data[f"area_{area.value}"]}
            for area in PainArea if self.cleaned_data.get(f"area_{area.value}")
        ]
        return data


class PainEntryForm(forms.Form):
    phase = forms.ChoiceField(label="Phase", choices=PainPhase.choices)
    nrs = forms.IntegerField(label="Pain now (NRS 0–10)", min_value=0, max_value=10)
    recorded_at = WindowedDateTimeField(label="When", required=False, widget=DateTimeInput,
                                      help_text="Leave empty for now.")
    percent_relief = forms.IntegerField(label="Patient's own % relief", required=False, min_value=0, max_value=100)
    sleep_quality = forms.IntegerField(label="Sleep quality (0–10)", required=False, min_value=0, max_value=10)
    activity_limitation = forms.IntegerField(label="Activity limitation (0–10)", required=False, min_value=0,
                                             max_value=10)
    medication_use = forms.ChoiceField(label="Pain medication", required=False,
                                       choices=[("", "—"), *MedicationUse.choices],
                                       help_text="Against before the implant (follow-up).")
    pgic = forms.TypedChoiceField(label="Overall change since the implant (PGIC)", required=False, coerce=int,
                                  empty_value=None, choices=[("", "—"), *PGIC.choices],
                                  help_text="Follow-up scores only.")

    def service_data(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value not in ("", None)}


# --- Prior authorizations -------------------------------------------------------------------------


class AuthorizationForm(forms.Form):
    """One authorization: a new one (with its step) or an existing one, whose status offers only the moves
    the service allows from where it is."""

    step = forms.ChoiceField(label="For", choices=AuthorizationStep.choices)
    status = forms.ChoiceField(label="Status")
    payer = forms.CharField(label="Payer", required=False, max_length=120)
    number = forms.CharField(label="Authorization number", required=False, max_length=60)
    submitted_on = WindowedDateField(label="Submitted on", required=False, widget=DateInput,
                                     help_text="Today if left empty when submitted.")
    valid_from = WindowedDateField(label="Valid from", required=False, widget=DateInput)
    valid_to = WindowedDateField(label="Valid to", required=False, widget=DateInput)
    units = forms.IntegerField(label="Units authorized", required=False, min_value=0, max_value=10000)
    notes = forms.CharField(label="Notes", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    # The status the page showed: if someone else changed it meanwhile, saving is a conflict, not an overwrite.
    seen_status = forms.CharField(widget=forms.HiddenInput, required=False)

    FIELDS = ("payer", "number", "submitted_on", "status", "valid_from", "valid_to", "units", "notes")

    def __init__(self, *args, authorization=None, **kwargs):
        if authorization is not None and not kwargs.get("data") and not args:
            kwargs["initial"] = {name: getattr(authorization, name) for name in self.FIELDS} | {
                "seen_status": authorization.status}
        super().__init__(*args, **kwargs)
        self.authorization = authorization
        if authorization is None:
            self.fields["status"].choices = AuthorizationStatus.choices
            self.fields["status"].initial = AuthorizationStatus.DRAFT
            del self.fields["seen_status"]
        else:
            del self.fields["step"]
            statuses = [authorization.status, *services.authorization_moves_from(authorization.status)]
            self.fields["status"].choices = [(value, AuthorizationStatus(value).label) for value in statuses]

    def service_data(self) -> dict:
        data = {name: self.cleaned_data.get(name) for name in self.FIELDS}
        if self.authorization is None:
            return {"step": self.cleaned_data["step"],
                    **{name: value for name, value in data.items() if value not in ("", None)}}
        # Only what changed: an untouched field is not rewritten (and a cleared one is cleared).
        return {name: value for name, value in data.items() if value != getattr(self.authorization, name)}


# --- Appointments ---------------------------------------------------------------------------------


class AppointmentTimeForm(forms.Form):
    starts_at = WindowedDateTimeField(label="Starts (clinic time)", widget=DateTimeInput)
    minutes = forms.IntegerField(label="Length (minutes)", min_value=5, max_value=600, initial=30)

    def window(self):
        starts_at = self.cleaned_data["starts_at"]
        return starts_at, starts_at + timedelta(minutes=self.cleaned_data["minutes"])


class AppointmentBookForm(AppointmentTimeForm):
    kind = forms.ChoiceField(label="Kind", choices=AppointmentKind.choices)
    episode = forms.ChoiceField(label="Episode", required=False)

    field_order = ["kind", "episode", "starts_at", "minutes"]

    def __init__(self, *args, episodes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.episodes = {str(e.external_id): e for e in episodes}
        self.fields["episode"].choices = [("", "None"), *(
            (key, f"{e.get_stage_display()} episode from {e.created_at:%d %b %Y}") for key, e in self.episodes.items()
        )]

    def chosen_episode(self):
        return self.episodes.get(self.cleaned_data.get("episode") or "")


class AppointmentCancelForm(forms.Form):
    reason = forms.CharField(label="Reason for cancelling", max_length=300)
