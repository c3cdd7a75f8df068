"""What the clinic's interface engine sent over MLLP, kept whatever became of it.

Each message is one row, written in the same transaction as the change it made, so a message is either
applied and recorded or neither; the ACK goes back only after that commit. The raw message holds patient
data: it is stored for the coordinator who resolves it, never logged.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pathway.models import Appointment, Clinic, Patient
from pathway.stages import AppointmentKind


class MessageStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    REJECTED = "rejected", "Rejected"


# What the sender is told (MSA-1) for each outcome.
ACK_CODES = {
    MessageStatus.APPLIED: "AA",
    MessageStatus.NEEDS_ATTENTION: "AE",
    MessageStatus.REJECTED: "AR",
}


class InboundHL7Message(models.Model):
    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="From MSH-6 (receiving facility = the clinic's slug); empty when no clinic has that name.",
    )
    sending_facility = models.CharField(max_length=227, blank=True, help_text="MSH-4")
    receiving_facility = models.CharField(max_length=227, blank=True, help_text="MSH-6")
    control_id = models.CharField(max_length=199, blank=True, help_text="MSH-10")
    message_type = models.CharField(max_length=20, blank=True, help_text="MSH-9, e.g. SIU^S12")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=20, choices=MessageStatus.choices)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was not applied (also sent in MSA-3)")
    raw = models.TextField(help_text="The message as received (patient data: shown to staff only, never logged)")
    patient = models.ForeignKey(Patient, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound HL7 message"
        constraints = [
            # A sender's control ids are unique among its own messages to this receiver (HL7 v2.5.1 2.14.9.10):
            # the same id again is a resend and has no second effect.
            models.UniqueConstraint(
                fields=["sending_facility", "receiving_facility", "control_id"], condition=~Q(control_id=""),
                name="hl7_control_id_once_per_sender",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "status", "resolved_at"], name="hl7_attention_list")]

    def __str__(self) -> str:
        return f"{self.message_type or 'HL7'} {self.control_id or '(no control id)'} — {self.get_status_display()}"

    @property
    def ack_code(self) -> str:
        return ACK_CODES[self.status]


class ClinicFeedSettings(models.Model):
    """How one clinic's scheduling system names its appointment kinds (AIS-3, else SCH-7, else SCH-8)."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="hl7_feed_settings")
    kind_codes = models.JSONField(
        default=dict, blank=True,
        help_text='The sender\'s code -> our kind, e.g. {"NEWPT": "consultation", "DRGTRIAL": '
                  '"trial_lead_placement"}. A code that is already one of our kinds needs no entry.',
    )

    class Meta:
        verbose_name = "clinic HL7 feed settings"
        verbose_name_plural = "clinic HL7 feed settings"

    def __str__(self) -> str:
        return f"HL7 feed settings for {self.clinic}"

    def clean(self) -> None:
        if not isinstance(self.kind_codes, dict):
            raise ValidationError({"kind_codes": "Give an object of code: kind."})
        wrong = sorted(str(code) for code, kind in self.kind_codes.items() if kind not in AppointmentKind.values)
        if wrong:
            raise ValidationError({"kind_codes": f"Not one of our kinds for {', '.join(wrong)}; use one of "
                                                 f"{', '.join(AppointmentKind.values)}."})
