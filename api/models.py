from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from pathway.models import AppendOnly, Clinic, Patient, append_only_triggers
from pathway.stages import ConsentMethod, Role


class ClinicAPIKey(AbstractAPIKey):
    """An integration's key: stored hashed, bound to one clinic and one role, revocable, optionally expiring
    (`expiry_date`, from AbstractAPIKey). Rotating makes a successor and gives the old key an expiry."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="api_keys")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.FRONT_DESK)
    last_used_at = models.DateTimeField(null=True, blank=True)
    known_addresses = models.JSONField(default=list, blank=True, editable=False,
                                       help_text="addresses this key was used from; a new one is audited")

    KNOWN_ADDRESSES_KEPT = 20
    replaces = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaced_by",
        help_text="the key this one was rotated from",
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "clinic API key"


class AuditEvent(AppendOnly):
    """One row per request that read patient data (API, pages, admin), tried to write anything through the API,
    or was refused on a patient-data path; and one per sign-in attempt and per API key seen at a new address."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    request_id = models.CharField(max_length=64, db_index=True)
    actor_label = models.CharField(max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(ClinicAPIKey, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=60, help_text="resource.action, e.g. patients.list, appointments.check-in")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField()
    patient_ids = models.JSONField(default=list, blank=True, help_text="external ids of the patients concerned")
    address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True, help_text="what was granted or changed; never patient data")

    class Meta:
        ordering = ["-at", "-id"]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} → {self.status_code}"


class ConsentChange(AppendOnly):
    """Who changed which consent flag of a patient, when and how (the patient row keeps only the latest)."""

    class Consent(models.TextChoices):
        SMS = "sms", "SMS reminders"
        EMAIL = "email", "Email reminders"
        DIARY = "diary", "Diary prompts"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consent_changes")
    consent = models.CharField(max_length=10, choices=Consent.choices)
    given = models.BooleanField()
    method = models.CharField(max_length=20, choices=ConsentMethod.choices, blank=True)
    at = models.DateTimeField()
    actor_label = models.CharField(max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(ClinicAPIKey, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["at", "id"]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"{self.get_consent_display()} {'given' if self.given else 'withdrawn'} at {self.at:%Y-%m-%d %H:%M}"


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, replayed to retries for a day.

    The unique (caller, key) pair is what makes two concurrent duplicates unable to both run: the
    second insert fails and that request answers 409 while the first is in flight.
    """

    caller = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # JSON text, not jsonb: PostgreSQL's jsonb refuses \u0000, which an error message may echo back.
    response_body = models.TextField(blank=True)
    response_content_type = models.CharField(max_length=60, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="idempotency_key_unique_per_caller")]

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"
