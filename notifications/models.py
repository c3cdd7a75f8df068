"""What the clinic sends and receives: one row per planned message, one per inbound SMS."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Purpose(models.TextChoices):
    """Appointment reminders are named by their offset ("appointment_24h"); these are the others."""

    DIARY_PROMPT = "diary_prompt", "Trial diary prompt"
    # A coordinator's explicit "send today's link again": its own purpose, so the one-prompt-a-day rule holds.
    DIARY_RESEND = "diary_resend", "Trial diary link sent again"
    REPLY = "reply", "Reply to a patient's message"
    # A follow-up milestone's outcome questionnaire (outcomes.OutcomeQuestionnaire), and its one reminder.
    QUESTIONNAIRE = "questionnaire", "Follow-up questionnaire"
    QUESTIONNAIRE_REMINDER = "questionnaire_reminder", "Follow-up questionnaire reminder"
    DIGEST = "digest", "Coordinators' digest"


DIARY_PURPOSES = (Purpose.DIARY_PROMPT, Purpose.DIARY_RESEND)
QUESTIONNAIRE_PURPOSES = (Purpose.QUESTIONNAIRE, Purpose.QUESTIONNAIRE_REMINDER)


APPOINTMENT_PURPOSE_PREFIX = "appointment_"


def appointment_purpose(hours: int) -> str:
    return f"{APPOINTMENT_PURPOSE_PREFIX}{hours}h"


class ReminderChannel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (ReminderStatus.PENDING, ReminderStatus.SENDING)


class Reminder(models.Model):
    """One message to send once: an appointment reminder, a diary prompt or a coordinator's digest.

    `scheduled_for` is the planned time (after quiet hours); `due_at` is the next attempt and moves on a
    temporary failure. The sweep claims a row by setting `lease_token` and `lease_expires_at`; the send task
    acts only while it holds that claim, and stamps `send_started_at` before calling the provider.
    """

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    clinic = models.ForeignKey("pathway.Clinic", on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey("pathway.Patient", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    appointment = models.ForeignKey(
        "pathway.Appointment", on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    episode = models.ForeignKey(
        "pathway.Episode", on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    purpose = models.CharField(max_length=30)
    channel = models.CharField(max_length=10, choices=ReminderChannel.choices)
    appointment_starts_at = models.DateTimeField(null=True, blank=True)
    for_date = models.DateField(null=True, blank=True, help_text="The clinic-local day of a diary prompt or digest")

    scheduled_for = models.DateTimeField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    send_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    # Sent because a coordinator asked (a reply, a diary link again): who, which reply template, and the key
    # their form carried, so a double click queues one message.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    request_key = models.UUIDField(null=True, blank=True, unique=True)
    reply_to = models.ForeignKey(
        "notifications.InboundMessage", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    template = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # The sweep's query: what is due (and expired leases) — its cost follows what is due.
            models.Index(fields=["status", "due_at"], name="reminder_status_due"),
            models.Index(fields=["status", "lease_expires_at"], name="reminder_status_lease"),
            # Resolving an unknown outcome asks which of the provider's message ids a row already holds.
            models.Index(fields=["provider_message_id"], name="reminder_provider_message"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "purpose", "channel", "appointment_starts_at"],
                condition=Q(appointment__isnull=False), name="one_reminder_per_appointment_time",
            ),
            models.UniqueConstraint(
                fields=["episode", "purpose", "channel", "for_date"],
                condition=Q(purpose="diary_prompt"), name="one_diary_prompt_per_day",
            ),
            models.UniqueConstraint(
                fields=["recipient_user", "clinic", "for_date"],
                condition=Q(purpose="digest"), name="one_digest_per_coordinator_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} by {self.channel} — {self.status}"


class InboundAction(models.TextChoices):
    STOP = "stop", "Opted out (STOP)"
    CONFIRM = "confirm", "Confirmed an appointment"
    OTHER = "other", "Needs a coordinator"


class InboundMessage(models.Model):
    """An SMS a patient sent us. The body is kept only when a coordinator must read it."""

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    received_at = models.DateTimeField(db_index=True)
    provider_message_id = models.CharField(max_length=64, unique=True)
    from_phone = models.CharField(max_length=32)
    clinic = models.ForeignKey("pathway.Clinic", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    patient = models.ForeignKey("pathway.Patient", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    appointment = models.ForeignKey(
        "pathway.Appointment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=10, choices=InboundAction.choices)
    body = models.TextField(blank=True)
    needs_attention = models.BooleanField(default=False, db_index=True)
    note = models.CharField(max_length=300, blank=True)
    # A message that needed a person stays `needs_attention`; handling it records who, when and what was done.
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    handled_by_label = models.CharField(max_length=150, blank=True)
    handled_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The inbox and the nav's count: a clinic's unhandled messages, newest first.
            models.Index(fields=["clinic", "needs_attention", "handled_at", "received_at"],
                         name="inbound_clinic_open"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.received_at:%Y-%m-%d %H:%M} UTC"
