import uuid
from datetime import timedelta
from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from . import rules
from .actors import role_may
from .stages import (
    ENDED_STAGES,
    OPEN_STAGES,
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
    MedicationUse,
    PainPhase,
    PainSource,
    ReferralOutcome,
    ReliefDecider,
    Role,
    SpineFinding,
    Stage,
)

e164 = RegexValidator(r"^\+[1-9]\d{6,14}$", "Enter the phone number in E.164 form, e.g. +15551234567.")
icd10 = RegexValidator(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$", "Enter a valid ICD-10 code, e.g. G90.521.")
nrs_validators = [MinValueValidator(0), MaxValueValidator(10)]


def _default_relief_threshold() -> Decimal:
    return Decimal(settings.PATHWAY["RELIEF_THRESHOLD_PERCENT"])


def _default_trial_days() -> int:
    return settings.PATHWAY["TRIAL_EXPECTED_DAYS"]


class ExternalIdModel(models.Model):
    """Integer keys stay inside the database; every id that leaves it is this UUID."""

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


class Clinic(ExternalIdModel):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. America/Chicago")
    phone = models.CharField(max_length=16, validators=[e164])
    relief_threshold_percent = models.DecimalField(
        max_digits=4, decimal_places=1, default=_default_relief_threshold,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    relief_decider = models.CharField(max_length=20, choices=ReliefDecider.choices, default=ReliefDecider.NRS)
    trial_expected_days = models.PositiveSmallIntegerField(default=_default_trial_days)
    implant_authorization_required = models.BooleanField(
        default=True, help_text="record_implant needs an approved implant authorization valid on the implant date.",
    )

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A staff user's role in one clinic."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clinic_memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "clinic"], name="one_role_per_clinic")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"


class Patient(ExternalIdModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=40)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    phone = models.CharField(max_length=16, blank=True, validators=[e164])
    email = models.EmailField(blank=True)
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SMS)
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent_method = models.CharField(max_length=20, choices=ConsentMethod.choices, blank=True)
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    email_consent_method = models.CharField(max_length=20, choices=ConsentMethod.choices, blank=True)
    diary_consent = models.BooleanField(default=False)
    diary_consent_at = models.DateTimeField(null=True, blank=True)
    diary_consent_method = models.CharField(max_length=20, choices=ConsentMethod.choices, blank=True)
    primary_physician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "mrn"], name="mrn_unique_per_clinic")]
        indexes = [
            models.Index(fields=["clinic", "family_name", "given_name"]),
            models.Index(fields=["clinic", "created_at", "id"], name="patient_clinic_page"),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Episode(ConcurrentTransitionMixin, ExternalIdModel):
    """One pass of a patient through the DRG pathway; a returning patient gets a new episode."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="episodes")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="episodes")
    therapy = models.CharField(max_length=20, default="drg", editable=False)
    physician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    stage = FSMField(max_length=20, choices=Stage.choices, default=Stage.EVALUATION, protected=True, db_index=True)
    stage_entered_at = models.DateTimeField()

    diagnosis = models.CharField(max_length=20, choices=Diagnosis.choices, blank=True)
    diagnosis_other = models.CharField(max_length=200, blank=True)
    icd10_code = models.CharField("ICD-10 code", max_length=8, blank=True, validators=[icd10])
    pain_areas = models.JSONField(default=list, blank=True, help_text='[{"area": "foot", "side": "left"}, …]')
    pain_onset_date = models.DateField(null=True, blank=True)
    referral_source = models.CharField(max_length=200, blank=True, help_text="who referred the patient to the clinic")
    referral_date = models.DateField(null=True, blank=True)
    relief_threshold = models.DecimalField(max_digits=4, decimal_places=1, help_text="Percent; from the clinic")

    on_hold = models.BooleanField(default=False, db_index=True)
    hold_reason = models.CharField(max_length=300, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)

    trial_lead_placement_date = models.DateField(null=True, blank=True)
    trial_expected_end = models.DateField(null=True, blank=True)
    trial_lead_removal_date = models.DateField(null=True, blank=True)
    implant_override_reason = models.CharField(max_length=500, blank=True)
    implant_date = models.DateField(null=True, blank=True)
    device_maker = models.CharField(max_length=100, blank=True)
    device_model = models.CharField(max_length=100, blank=True)
    device_serial = models.CharField(max_length=100, blank=True)
    lead_levels = models.JSONField(default=list, blank=True, help_text='e.g. ["L4 left", "L5 left"]')

    end_reason_category = models.CharField(max_length=20, choices=AbortReason.choices, blank=True)
    end_reason = models.CharField(max_length=500, blank=True)
    ended_on = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "stage"]),
            models.Index(fields=["physician", "stage"]),
            # The API's cursor pages walk (created_at, id) within a clinic.
            models.Index(fields=["clinic", "created_at", "id"], name="episode_clinic_page"),
        ]

    def __str__(self) -> str:
        return f"{self.patient} — {self.get_stage_display()}"

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    # --- The pathway ------------------------------------------------------------------------------
    # Every transition of DOMAIN.md, in order. The bodies stay free of I/O: `services.episode_transition`
    # locks the row, assigns the inputs, calls the method, saves and writes the TransitionLog.

    clinical = role_may(Role.COORDINATOR, Role.PHYSICIAN)
    physician_only = role_may(Role.PHYSICIAN)

    @transition(
        stage, source=Stage.EVALUATION, target=Stage.TRIAL, permission=clinical,
        conditions=[rules.not_on_hold, rules.candidacy_complete, rules.lead_placement_date_given,
                    rules.trial_authorization_valid],
        custom={"label": "Start trial", "inputs": ["trial_lead_placement_date"]},
    )
    def start_trial(self, *, today):
        self.trial_expected_end = self.trial_lead_placement_date + timedelta(days=self.clinic.trial_expected_days)

    @transition(
        stage, source=Stage.EVALUATION, target=Stage.NOT_CANDIDATE, permission=physician_only,
        conditions=[rules.not_on_hold, rules.reason_given],
        custom={"label": "Decline candidacy", "inputs": ["end_reason"]},
    )
    def decline_candidacy(self, *, today):
        self.ended_on = today

    @transition(
        stage, source=Stage.TRIAL, target=Stage.TRIAL_REVIEW, permission=clinical,
        conditions=[rules.not_on_hold, rules.lead_removal_date_given, rules.has_trial_pain_score],
        custom={"label": "End trial", "inputs": ["trial_lead_removal_date"]},
    )
    def end_trial(self, *, today):
        pass

    @transition(
        stage, source=Stage.TRIAL, target=Stage.TRIAL_FAILED, permission=physician_only,
        conditions=[rules.not_on_hold, rules.abort_category_given, rules.reason_given],
        custom={"label": "Abort trial", "inputs": ["end_reason_category", "end_reason"]},
    )
    def abort_trial(self, *, today):
        self.ended_on = today

    @transition(
        stage, source=Stage.TRIAL_REVIEW, target=Stage.IMPLANT, permission=physician_only,
        conditions=[rules.not_on_hold, rules.relief_meets_threshold_or_override],
        custom={"label": "Approve implant", "inputs": ["implant_override_reason"]},
    )
    def approve_implant(self, *, today):
        pass

    @transition(
        stage, source=Stage.TRIAL_REVIEW, target=Stage.TRIAL_FAILED, permission=physician_only,
        conditions=[rules.not_on_hold, rules.reason_given],
        custom={"label": "Fail trial", "inputs": ["end_reason"]},
    )
    def fail_trial(self, *, today):
        self.ended_on = today

    @transition(
        stage, source=Stage.IMPLANT, target=Stage.FOLLOW_UP, permission=clinical,
        conditions=[rules.not_on_hold, rules.implant_date_given, rules.implant_date_not_in_future,
                    rules.device_recorded, rules.lead_levels_given, rules.implant_authorization_valid],
        custom={
            "label": "Record implant",
            "inputs": ["implant_date", "device_maker", "device_model", "device_serial", "lead_levels"],
        },
    )
    def record_implant(self, *, today):
        pass

    @transition(
        stage, source=Stage.FOLLOW_UP, target=Stage.EXPLANTED, permission=physician_only,
        conditions=[rules.not_on_hold, rules.end_date_given, rules.end_date_after_implant, rules.reason_given],
        custom={"label": "Explant", "inputs": ["ended_on", "end_reason"]},
    )
    def explant(self, *, today):
        pass

    @transition(
        stage, source=Stage.FOLLOW_UP, target=Stage.DISCHARGED, permission=clinical,
        conditions=[rules.not_on_hold, rules.reason_given],
        custom={"label": "Discharge", "inputs": ["end_reason"]},
    )
    def discharge(self, *, today):
        self.ended_on = today

    @transition(
        stage, source=list(OPEN_STAGES), target=Stage.WITHDRAWN, permission=clinical,
        conditions=[rules.not_on_hold, rules.reason_given],
        custom={"label": "Withdraw", "inputs": ["end_reason"]},
    )
    def withdraw(self, *, today):
        self.ended_on = today


class ChecklistItem(models.Model):
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="checklist_items")
    kind = models.CharField(max_length=30, choices=ChecklistItemKind.choices)
    status = models.CharField(max_length=10, choices=ChecklistStatus.choices, default=ChecklistStatus.PENDING)
    details = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_by_api_key = models.ForeignKey(
        "api.ClinicAPIKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who, as the history names them (a username or "API key …"), kept even if the user or key goes.
    recorded_by_label = models.CharField(max_length=150, blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["episode", "kind"], name="one_item_per_kind")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.get_status_display()}"


class PainEntry(ExternalIdModel):
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="pain_entries")
    recorded_at = models.DateTimeField()
    nrs = models.PositiveSmallIntegerField("NRS (0–10)", validators=nrs_validators)
    phase = models.CharField(max_length=10, choices=PainPhase.choices)
    source = models.CharField(max_length=15, choices=PainSource.choices, default=PainSource.STAFF)
    percent_relief = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    sleep_quality = models.PositiveSmallIntegerField(null=True, blank=True, validators=nrs_validators)
    activity_limitation = models.PositiveSmallIntegerField(null=True, blank=True, validators=nrs_validators)
    medication_use = models.CharField(max_length=5, choices=MedicationUse.choices, blank=True)
    # Patient Global Impression of Change (Hurst & Bolton 2004; IMMPACT): 1 very much improved … 7 very much worse.
    pgic = models.PositiveSmallIntegerField(
        "PGIC (1–7)", null=True, blank=True, choices=PGIC.choices,
        validators=[MinValueValidator(1), MaxValueValidator(7)],
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["recorded_at", "id"]
        verbose_name_plural = "pain entries"
        constraints = [
            models.CheckConstraint(condition=Q(nrs__gte=0, nrs__lte=10), name="nrs_0_to_10"),
            models.CheckConstraint(
                condition=Q(percent_relief__isnull=True) | Q(percent_relief__lte=100), name="percent_relief_0_to_100"
            ),
        ]

    def __str__(self) -> str:
        return f"NRS {self.nrs} ({self.get_phase_display()})"


class PriorAuthorization(ExternalIdModel):
    """A payer's authorization of one step (the trial or the implant); an episode may hold several of each
    (a denial, then an appeal; a lapsed one, then a new one). Changed only through the services, which log
    every status change in AuthorizationStatusChange."""

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="authorizations")
    step = models.CharField(max_length=10, choices=AuthorizationStep.choices)
    payer = models.CharField(max_length=120, blank=True)
    number = models.CharField("authorization number", max_length=60, blank=True)
    submitted_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=AuthorizationStatus.choices, default=AuthorizationStatus.DRAFT,
                              db_index=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    units = models.PositiveIntegerField(null=True, blank=True, help_text="units or visits authorized, if the payer "
                                                                         "counts them")
    notes = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["step", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_step_display()} authorization: {self.get_status_display()}"

    def covers(self, day) -> bool:
        """Approved, with its number, and valid on `day`."""
        return (self.status == AuthorizationStatus.APPROVED and bool(self.number) and self.valid_from is not None
                and self.valid_to is not None and self.valid_from <= day <= self.valid_to)


class Referral(ExternalIdModel):
    """A related spine finding; it never blocks the pathway."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="referrals")
    finding = models.CharField(max_length=30, choices=SpineFinding.choices)
    note = models.CharField(max_length=500, blank=True)
    referred_to = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=20, choices=ReferralOutcome.choices, default=ReferralOutcome.PENDING)
    outcome_note = models.CharField(max_length=500, blank=True)
    outcome_recorded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return self.get_finding_display()


class Appointment(ConcurrentTransitionMixin, ExternalIdModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    episode = models.ForeignKey(
        Episode, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    kind = models.CharField(max_length=30, choices=AppointmentKind.choices)
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    status = FSMField(max_length=20, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED,
                      protected=True)
    cancellation_reason = models.CharField(max_length=300, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    external_ref = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULLs stay out of the unique key)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "external_ref"], condition=Q(external_ref__isnull=False),
                name="external_ref_unique_per_clinic",
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.starts_at:%Y-%m-%d %H:%M} UTC"

    # FHIR Appointment.status lifecycle; the services in services.py run these and save.
    @transition(status, source=AppointmentStatus.BOOKED, target=AppointmentStatus.ARRIVED)
    def check_in(self):
        pass

    @transition(status, source=[AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED],
                target=AppointmentStatus.FULFILLED)
    def complete(self):
        pass

    @transition(status, source=[AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED],
                target=AppointmentStatus.CANCELLED)
    def cancel(self, *, reason: str):
        self.cancellation_reason = reason

    @transition(status, source=AppointmentStatus.BOOKED, target=AppointmentStatus.NOSHOW)
    def no_show(self):
        pass

    @transition(status, source=[AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED],
                target=AppointmentStatus.ENTERED_IN_ERROR)
    def enter_in_error(self):
        pass


class FollowUpMilestone(models.Model):
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="milestones")
    key = models.CharField(max_length=30)
    label = models.CharField(max_length=60)
    kind = models.CharField(max_length=30, choices=AppointmentKind.choices)
    due_on = models.DateField()
    window_start = models.DateField()
    window_end = models.DateField(db_index=True)
    met_by = models.OneToOneField(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="milestone"
    )
    met_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["due_on"]
        constraints = [models.UniqueConstraint(fields=["episode", "key"], name="one_milestone_per_key")]

    def __str__(self) -> str:
        return f"{self.label} due {self.due_on}"


def append_only_triggers() -> list:
    """PostgreSQL refuses UPDATE and DELETE of these rows, whoever asks: the ORM, a queryset, or plain SQL."""
    return [pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)]


class AppendOnly(models.Model):
    """Rows written once and never changed or deleted: refused by the model here and by the database."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{type(self).__name__} rows are append-only")


class TransitionLog(AppendOnly):
    """Append-only: one row per transition, hold and release, written by the service in its transaction."""

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="transition_logs")
    transition = models.CharField(max_length=30)
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        "api.ClinicAPIKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=500, blank=True)
    figures = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"{self.transition}: {self.from_stage} → {self.to_stage}"


class AuthorizationStatusChange(AppendOnly):
    """Append-only: who moved an authorization from which status to which, when (creation has no from)."""

    authorization = models.ForeignKey(PriorAuthorization, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=AuthorizationStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=AuthorizationStatus.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        "api.ClinicAPIKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"{self.from_status or 'new'} → {self.to_status}"


__all__ = [
    "ENDED_STAGES",
    "Appointment",
    "AuthorizationStatusChange",
    "ChecklistItem",
    "Clinic",
    "Episode",
    "FollowUpMilestone",
    "Membership",
    "PainEntry",
    "Patient",
    "PriorAuthorization",
    "Referral",
    "TransitionLog",
]
