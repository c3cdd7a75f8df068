"""Forms of intake: a new referral, a patient's demographics, contact details and consents, spine referrals.

They check what was typed (and give it back on error); pathway.services decides whether it may happen.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from pathway.models import e164
from pathway.services import CONSENTS
from pathway.stages import Channel, ConsentMethod, Diagnosis, PainArea, ReferralOutcome, Side, SpineFinding

from .forms import DateInput, WindowedDateField

OLDEST_AGE_YEARS = 120
CONSENT_LABELS = {"sms": "SMS reminders", "email": "Email reminders", "diary": "Daily diary prompts"}
# What people type between the digits of a phone number; the number itself is kept in E.164.
PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")


class PhoneField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=24, required=False, help_text="With the country code, e.g. +1 555 123 4567",
                         **kwargs)
        self.widget.input_type = "tel"
        self.widget.attrs["autocomplete"] = "off"

    def clean(self, value):
        value = PHONE_PUNCTUATION.sub("", super().clean(value) or "")
        if value:
            e164(value)
        return value


def _birth_date_problem(value: date, today: date) -> str | None:
    if value > today:
        return "The birth date is in the future."
    if value.year < today.year - OLDEST_AGE_YEARS:
        return f"The birth date is more than {OLDEST_AGE_YEARS} years ago: check the year."
    return None


class PatientFieldsMixin(forms.Form):
    mrn = forms.CharField(label="MRN", max_length=40)
    given_name = forms.CharField(label="Given name", max_length=100)
    family_name = forms.CharField(label="Family name", max_length=100)
    birth_date = WindowedDateField(label="Birth date", widget=DateInput)
    phone = PhoneField(label="Mobile phone")
    email = forms.EmailField(label="Email", required=False)
    preferred_channel = forms.ChoiceField(label="Reminders by", choices=Channel.choices, initial=Channel.SMS)

    PATIENT_FIELDS = ("mrn", "given_name", "family_name", "birth_date", "phone", "email", "preferred_channel")

    def check_birth_date(self, today: date) -> None:
        value = self.cleaned_data.get("birth_date")
        if value is not None and (problem := _birth_date_problem(value, today)):
            self.add_error("birth_date", problem)

    def patient_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.PATIENT_FIELDS}


def _people_choices(users) -> list[tuple[str, str]]:
    return [(u.get_username(), u.get_full_name() or u.get_username()) for u in users]


class NewReferralForm(PatientFieldsMixin):
    """One screen: who the patient is, and the episode the referral opens."""

    clinic = forms.ChoiceField(label="Clinic")
    physician = forms.ChoiceField(label="Physician")
    coordinator = forms.ChoiceField(label="Coordinator", required=False)
    referral_source = forms.CharField(label="Referred by", max_length=200, required=False,
                                      help_text="e.g. Dr Lee, orthopaedics, Mercy Hospital")
    referral_date = WindowedDateField(label="Referral date", widget=DateInput)
    diagnosis = forms.ChoiceField(label="Diagnosis", required=False, choices=[("", "—"), *Diagnosis.choices])
    diagnosis_other = forms.CharField(label="Other diagnosis", required=False, max_length=200)
    icd10_code = forms.CharField(label="ICD-10 code", required=False, max_length=8)
    pain_onset_date = WindowedDateField(label="Pain onset date", required=False, widget=DateInput)
    # Set by the duplicate warning's buttons: open the episode for this existing patient ("<uuid>:<open episodes
    # the warning showed>"), or create a new patient although the name and birth date match someone on file.
    existing = forms.CharField(required=False, widget=forms.HiddenInput)
    confirm_new = forms.BooleanField(required=False, widget=forms.HiddenInput)

    EPISODE_FIELDS = ("referral_source", "referral_date", "diagnosis", "diagnosis_other", "icd10_code",
                      "pain_onset_date")

    def __init__(self, *args, clinics, physicians, coordinators, today_of, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinics = {c.slug: c for c in clinics}
        self.today_of = today_of
        self.fields["clinic"].choices = [(c.slug, c.name) for c in clinics]
        if len(clinics) == 1:
            self.fields["clinic"].widget = forms.HiddenInput()
            self.fields["clinic"].initial = clinics[0].slug
        physicians, coordinators = list(physicians), list(coordinators)
        self.people = {u.get_username(): u for u in [*physicians, *coordinators]}
        self.fields["physician"].choices = [("", "Choose…"), *_people_choices(physicians)]
        self.fields["coordinator"].choices = [("", "None yet"), *_people_choices(coordinators)]
        for area in PainArea:
            self.fields[f"area_{area.value}"] = forms.ChoiceField(
                label=area.label, required=False, choices=[("", "Not affected"), *Side.choices]
            )

    def area_fields(self):
        return [self[f"area_{area.value}"] for area in PainArea]

    def clean_existing(self) -> tuple[uuid.UUID, int] | None:
        value = self.cleaned_data["existing"]
        if not value:
            return None
        external_id, _, seen = value.partition(":")
        try:
            return uuid.UUID(external_id), int(seen)
        except ValueError:
            raise ValidationError("Choose the patient again from the list.") from None

    def clean(self):
        data = super().clean()
        clinic = self.clinics.get(data.get("clinic"))
        if clinic is None:
            return data
        today = self.today_of(clinic)
        self.check_birth_date(today)
        if (referred := data.get("referral_date")) and referred > today:
            self.add_error("referral_date", "The referral date is in the future.")
        if (onset := data.get("pain_onset_date")) and onset > today:
            self.add_error("pain_onset_date", "The pain onset date is in the future.")
        elif onset and (born := data.get("birth_date")) and onset < born:
            self.add_error("pain_onset_date", "The pain began before the birth date.")
        return data

    def chosen_clinic(self):
        return self.clinics[self.cleaned_data["clinic"]]

    def episode_data(self) -> dict:
        """The episode's fields; the physician and coordinator as chosen (the service checks their clinic)."""
        data = {name: value for name in self.EPISODE_FIELDS if (value := self.cleaned_data[name]) not in ("", None)}
        data["pain_areas"] = [
            {"area": area.value, "side": self.cleaned_data[f"area_{area.value}"]}
            for area in PainArea if self.cleaned_data.get(f"area_{area.value}")
        ]
        data["physician"] = self.people[self.cleaned_data["physician"]]
        data["coordinator"] = self.people.get(self.cleaned_data["coordinator"])
        return data


class PatientEditForm(PatientFieldsMixin):
    """Demographics, contact details and consents. A consent that changes needs how it was given or withdrawn;
    when is the moment it is saved (the record keeps both, and every change, as the API does)."""

    primary_physician = forms.ChoiceField(label="Primary physician", required=False)
    # The record's updated_at when the page was shown: a save over a newer change is refused.
    seen = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, patient, physicians, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient, self.today = patient, today
        physicians = list(physicians)
        if patient.primary_physician is not None and patient.primary_physician not in physicians:
            # No longer a physician here: kept as it is, so that it does not stand in the way of other changes.
            physicians.append(patient.primary_physician)
        self.fields["primary_physician"].choices = [("", "None"), *_people_choices(physicians)]
        self.physicians = {u.get_username(): u for u in physicians}
        for name in CONSENTS:
            self.fields[f"{name}_consent"] = forms.BooleanField(label=f"{CONSENT_LABELS[name]}: consent given",
                                                                required=False)
            self.fields[f"{name}_consent_method"] = forms.ChoiceField(
                label=f"{CONSENT_LABELS[name]}: how it was given or withdrawn", required=False,
                choices=[("", "—"), *ConsentMethod.choices],
            )

    @classmethod
    def initial_for(cls, patient) -> dict:
        initial = {name: getattr(patient, name) for name in cls.PATIENT_FIELDS}
        initial["primary_physician"] = patient.primary_physician.get_username() if patient.primary_physician else ""
        for name in CONSENTS:
            initial[f"{name}_consent"] = getattr(patient, f"{name}_consent")
        initial["seen"] = patient.updated_at.isoformat()
        return initial

    def consent_rows(self):
        """(label, checkbox, method select, what is on file) for each consent."""
        return [
            (CONSENT_LABELS[name], self[f"{name}_consent"], self[f"{name}_consent_method"],
             self.patient, name)
            for name in CONSENTS
        ]

    def clean_seen(self):
        seen = parse_datetime(self.cleaned_data["seen"])
        if seen is None:
            raise ValidationError("Reload the page and make the change again.")
        return seen

    @property
    def stale(self) -> bool:
        """The record changed after the page was shown (a colleague, a STOP reply)."""
        seen = self.cleaned_data.get("seen") if hasattr(self, "cleaned_data") else None
        return seen is not None and seen != self.patient.updated_at

    def clean(self):
        data = super().clean()
        self.check_birth_date(self.today)
        if self.stale:
            return data  # the view refuses it as a whole; consents are compared with what the page showed
        for name in CONSENTS:
            changed = data.get(f"{name}_consent") != getattr(self.patient, f"{name}_consent")
            if changed and not data.get(f"{name}_consent_method"):
                self.add_error(f"{name}_consent_method", "Say how the consent was given or withdrawn.")
        return data

    def service_data(self) -> dict:
        data = self.patient_data()
        data["primary_physician"] = self.physicians.get(self.cleaned_data["primary_physician"])
        for name in CONSENTS:
            data[f"{name}_consent"] = self.cleaned_data[f"{name}_consent"]
            if method := self.cleaned_data[f"{name}_consent_method"]:
                data[f"{name}_consent_method"] = method
        return data


class SpineReferralForm(forms.Form):
    finding = forms.ChoiceField(label="Finding", choices=[("", "Choose…"), *SpineFinding.choices])
    referred_to = forms.CharField(label="Referred to", max_length=200,
                                  help_text="The specialist or service, e.g. Dr Ng, spine surgery")
    note = forms.CharField(label="Note", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ReferralOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label="Outcome", choices=ReferralOutcome.choices)
    outcome_note = forms.CharField(label="Outcome note", max_length=500, required=False)
