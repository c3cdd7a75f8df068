from django import forms

from pathway.stages import PGIC, MedicationUse

SCALE = [(n, str(n)) for n in range(11)]


class DiaryForm(forms.Form):
    nrs = forms.TypedChoiceField(
        label="Your pain right now (0 = no pain, 10 = worst imaginable)", choices=SCALE, coerce=int,
        widget=forms.RadioSelect,
    )
    percent_relief = forms.IntegerField(
        label="How much relief does the stimulator give you? (percent, 0–100)", min_value=0, max_value=100,
        required=False, widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    sleep_quality = forms.TypedChoiceField(
        label="How well did you sleep last night? (0 = very badly, 10 = very well)", choices=SCALE, coerce=int,
        required=False, empty_value=None, widget=forms.RadioSelect,
    )
    activity_limitation = forms.TypedChoiceField(
        label="How much does pain limit walking and daily activity today? (0 = not at all, 10 = completely)",
        choices=SCALE, coerce=int, required=False, empty_value=None, widget=forms.RadioSelect,
    )
    medication_use = forms.ChoiceField(
        label="Pain medication compared with before the trial", choices=[("", "—"), *MedicationUse.choices],
        required=False,
    )


class QuestionnaireForm(forms.Form):
    """The follow-up questionnaire: NRS now, sleep, activity, medication against before the implant, PGIC."""

    nrs = forms.TypedChoiceField(
        label="Your pain right now (0 = no pain, 10 = worst imaginable)", choices=SCALE, coerce=int,
        widget=forms.RadioSelect,
    )
    sleep_quality = forms.TypedChoiceField(
        label="How well did you sleep last night? (0 = very badly, 10 = very well)", choices=SCALE, coerce=int,
        required=False, empty_value=None, widget=forms.RadioSelect,
    )
    activity_limitation = forms.TypedChoiceField(
        label="How much does pain limit walking and daily activity? (0 = not at all, 10 = completely)",
        choices=SCALE, coerce=int, required=False, empty_value=None, widget=forms.RadioSelect,
    )
    medication_use = forms.ChoiceField(
        label="Pain medication compared with before the implant",
        choices=[("", "—"), (MedicationUse.LESS, "Less than before the implant"),
                 (MedicationUse.SAME, "About the same"), (MedicationUse.MORE, "More than before the implant")],
        required=False,
    )
    pgic = forms.TypedChoiceField(
        label="Since the start of treatment, how would you describe the change in your overall status "
              "(activity limitations, symptoms, emotions and quality of life related to your pain)?",
        choices=PGIC.choices, coerce=int, widget=forms.RadioSelect,
    )
