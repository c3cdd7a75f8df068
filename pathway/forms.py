"""Forms of the Django admin: the inputs of each transition, hold and release, and the checklist row.

They only collect and shape input; the services in `pathway.services` validate it against the domain and write.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AdminDateWidget

from . import services
from .errors import InvalidInput
from .models import ChecklistItem, Episode
from .stages import AbortReason, ChecklistItemKind, PriorTreatment

# The form field that asks for each transition input (Episode transitions' custom["inputs"]).
INPUT_FIELDS = {
    "trial_lead_placement_date": lambda: forms.DateField(
        label="Lead placement date", required=False, widget=AdminDateWidget
    ),
    "trial_lead_removal_date": lambda: forms.DateField(
        label="Lead removal date", required=False, widget=AdminDateWidget
    ),
    "implant_date": lambda: forms.DateField(label="Implant date", required=False, widget=AdminDateWidget),
    "ended_on": lambda: forms.DateField(label="Date", required=False, widget=AdminDateWidget),
    "device_maker": lambda: forms.CharField(label="Device maker", max_length=100, required=False),
    "device_model": lambda: forms.CharField(label="Device model", max_length=100, required=False),
    "device_serial": lambda: forms.CharField(label="Device serial number", max_length=100, required=False),
    "lead_levels": lambda: forms.CharField(
        label="Lead levels", required=False, help_text="Separate levels with commas, e.g. L4 left, L5 left."
    ),
    "end_reason_category": lambda: forms.ChoiceField(
        label="Reason category", required=False, choices=[("", "---------"), *AbortReason.choices]
    ),
}

REASON_LABELS = {
    "end_reason": ("Reason", "Kept on the episode and in its history."),
    "implant_override_reason": (
        "Physician override reason",
        "Only when the trial's relief is below the clinic's threshold or cannot be computed.",
    ),
}


class TransitionForm(forms.Form):
    """The inputs of one transition. `cleaned_data` is exactly the `data` that `episode_transition` takes.

    Fields are optional on purpose: a missing input is refused by the transition's guard, in its own words.
    """

    transition_name: str = ""

    def clean_lead_levels(self) -> list[str] | None:
        text = self.cleaned_data.get("lead_levels") or ""
        levels = [level.strip() for level in text.split(",") if level.strip()]
        return levels or None

    def clean(self) -> dict:
        cleaned = super().clean()
        return {name: value for name, value in cleaned.items() if value not in (None, "", [])}


def transition_form_for(name: str) -> type[TransitionForm]:
    """A form class asking for the inputs of transition `name`, plus its reason."""
    reason_field = services.REASON_FIELDS.get(name)
    fields: dict[str, forms.Field] = {}
    for field in services.transition_inputs(name):
        if field == reason_field:
            continue
        fields[field] = INPUT_FIELDS[field]()
    if reason_field is not None:
        label, help_text = REASON_LABELS[reason_field]
    else:
        label, help_text = "Note", "Optional; kept in the episode's history."
    fields["reason"] = forms.CharField(
        label=label, help_text=help_text, required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )
    return type(f"{name.title().replace('_', '')}Form", (TransitionForm,), {**fields, "transition_name": name})


class HoldForm(forms.Form):
    reason = forms.CharField(
        max_length=300, help_text="E.g. insurance appeal, infection being treated.",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class ReleaseForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class ChecklistItemForm(forms.ModelForm):
    """One candidacy item: its status and note, and for prior treatments which ones were tried."""

    tried = forms.MultipleChoiceField(
        label="Treatments tried", choices=PriorTreatment.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Prior treatments only.",
    )

    class Meta:
        model = ChecklistItem
        fields = ["status", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.kind == ChecklistItemKind.PRIOR_TREATMENTS:
            self.fields["tried"].initial = list(self.instance.details.get("tried", []))
        else:
            self.fields["tried"].widget = forms.MultipleHiddenInput()

    def clean_tried(self) -> list[str]:
        tried = self.cleaned_data.get("tried") or []
        if tried and self.instance.kind != ChecklistItemKind.PRIOR_TREATMENTS:
            raise forms.ValidationError("Only the prior treatments item records which treatments were tried.")
        return tried

    def service_details(self) -> dict:
        if self.instance.kind == ChecklistItemKind.PRIOR_TREATMENTS:
            return {"tried": self.cleaned_data.get("tried") or []}
        return dict(self.instance.details)


class CancelAppointmentForm(forms.Form):
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class EpisodeForm(forms.ModelForm):
    """Catches input mistakes on the form itself, with the service's own checks, before anything is saved."""

    class Meta:
        model = Episode
        fields = ["patient", "physician", "coordinator", *services.EPISODE_CLINICAL_FIELDS]

    def clean_icd10_code(self) -> str:
        return (self.cleaned_data.get("icd10_code") or "").strip().upper()

    def clean_pain_areas(self) -> list:
        try:
            return services.validate_pain_areas(self.cleaned_data.get("pain_areas") or [])
        except InvalidInput as error:
            problems = [problem for field_problems in error.errors.values() for problem in field_problems]
            raise forms.ValidationError(problems) from None
