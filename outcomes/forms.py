"""What a report is asked for: a clinic, a range of its days and optionally one physician (pages and API alike)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms

from config.inputs import in_year_window, year_window_message
from pathway.clinic_time import clinic_today

from .reports import report_physicians_for

DEFAULT_DAYS = 365


class ReportDateField(forms.DateField):
    widget = type("DateInput", (forms.DateInput,), {"input_type": "date"})

    def validate(self, value):
        super().validate(value)
        if value is not None and not in_year_window(value):
            raise forms.ValidationError(year_window_message(), code="year_window")


class ReportFilterForm(forms.Form):
    """Unbound fields get defaults: the caller's first clinic, the last 365 days up to today, every physician."""

    clinic = forms.ChoiceField(label="Clinic", required=False)
    start = ReportDateField(label="Episodes started from")
    end = ReportDateField(label="to (inclusive)")
    physician = forms.ChoiceField(label="Physician", required=False)

    def __init__(self, data, *, clinics: list, **kwargs):
        data = {key: data.get(key, "") for key in ("clinic", "start", "end", "physician")}
        chosen = next((c for c in clinics if c.slug == data["clinic"]), clinics[0])
        # Blank dates are the defaults, filled in so the form shows the range the report covers.
        today = clinic_today(chosen)
        data["end"] = data["end"] or today.isoformat()
        if not data["start"]:
            try:
                data["start"] = (date.fromisoformat(data["end"]) - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
            except (ValueError, OverflowError):  # the end's own error says what is wrong
                data["start"] = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        super().__init__(data, **kwargs)
        self.clinics = {clinic.slug: clinic for clinic in clinics}
        self.fields["clinic"].choices = [(c.slug, c.name) for c in clinics]
        self.physicians = {user.get_username(): user for user in report_physicians_for(clinic=chosen)}
        self.fields["physician"].choices = [("", "All physicians")] + [
            (username, user.get_full_name() or username) for username, user in self.physicians.items()]

    def clean(self):
        data = super().clean()
        data["clinic"] = self.clinics.get(data.get("clinic") or "") or next(iter(self.clinics.values()))
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", "The end of the range is before its start.")
        data["physician"] = self.physicians.get(data.get("physician") or "")
        return data
