"""The outbox: one row per thing that happened, written in the transaction that made it happen.

A row exists only if its change committed (a rollback takes the row with it), so whatever reads the outbox
(webhooks, in-process reactions) never hears of a change that did not happen.
"""

from __future__ import annotations

import uuid

from django.db import models


class EventType(models.TextChoices):
    EPISODE_TRANSITIONED = "episode.transitioned", "Episode transitioned"
    EPISODE_HELD = "episode.held", "Episode put on hold"
    EPISODE_RELEASED = "episode.released", "Episode released from hold"
    APPOINTMENT_BOOKED = "appointment.booked", "Appointment booked"
    APPOINTMENT_RESCHEDULED = "appointment.rescheduled", "Appointment rescheduled"
    APPOINTMENT_CANCELLED = "appointment.cancelled", "Appointment cancelled"
    APPOINTMENT_CHECKED_IN = "appointment.checked_in", "Patient checked in"
    APPOINTMENT_COMPLETED = "appointment.completed", "Appointment completed"
    APPOINTMENT_NO_SHOW = "appointment.no_show", "Patient did not attend"
    APPOINTMENT_ENTERED_IN_ERROR = "appointment.entered_in_error", "Appointment entered in error"
    REMINDER_FAILED = "reminder.failed", "Reminder failed"
    PATIENT_CONSENT_CHANGED = "patient.consent_changed", "Patient consent changed"
    INBOUND_SMS_NEEDS_ATTENTION = "inbound_sms.needs_attention", "Patient SMS needs a coordinator"


class Event(models.Model):
    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    clinic = models.ForeignKey("pathway.Clinic", on_delete=models.PROTECT, related_name="+")
    # External ids (what integrations know), not foreign keys: an event outlives nothing it names, and a payload
    # is built without a join.
    episode_id = models.UUIDField(null=True, blank=True)
    appointment_id = models.UUIDField(null=True, blank=True)
    patient_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    # Ids, types and times only; keys named in events.payloads.CLINICAL_KEYS reach clinical roles only.
    payload = models.JSONField(default=dict, blank=True)
    # Events of one episode (or, without one, one patient) are numbered 1, 2, 3... in commit order; webhook
    # deliveries keep that order per endpoint.
    ordering_key = models.CharField(max_length=60)
    sequence = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["ordering_key", "sequence"], name="event_sequence_unique_per_key"),
        ]
        indexes = [models.Index(fields=["clinic", "occurred_at"], name="event_clinic_time")]

    def __str__(self) -> str:
        return f"{self.type} {self.external_id}"
