"""Reads of what was sent and received; callers pass objects they already fetched through scoped selectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from pathway.clinic_time import clinic_today
from pathway.models import Appointment, Clinic, Episode, FollowUpMilestone, Patient
from pathway.selectors import days_in_stage, stalled_q
from pathway.stages import Stage

from .models import InboundMessage, Purpose, Reminder, ReminderStatus

# What the API shows of a reminder; nothing here is patient data.
REMINDER_FIELDS = (
    "external_id", "purpose", "channel", "status", "scheduled_for", "due_at", "appointment_starts_at",
    "attempts", "sent_at", "provider_message_id", "reason", "updated_at",
)


def reminders_for_appointment(*, appointment: Appointment) -> QuerySet[Reminder]:
    """Every reminder of the appointment, old start times (cancelled on reschedule) included, in time order."""
    return Reminder.objects.filter(appointment=appointment).order_by("scheduled_for", "id").only(*REMINDER_FIELDS)


def inbound_messages_needing_attention(*, clinic_ids) -> QuerySet[InboundMessage]:
    """What waits for a person: not STOP or C (handled on arrival), and not yet marked handled."""
    return InboundMessage.objects.filter(
        clinic_id__in=clinic_ids, needs_attention=True, handled_at__isnull=True
    ).select_related("patient")


def inbound_messages_handled(*, clinic_ids, since: datetime) -> QuerySet[InboundMessage]:
    return InboundMessage.objects.filter(
        clinic_id__in=clinic_ids, needs_attention=True, handled_at__gte=since
    ).select_related("patient").order_by("-handled_at", "-pk")


def patient_label(patient: Patient | None) -> str:
    """How the digest names a patient: initials and MRN, enough for a coordinator to look them up."""
    if patient is None:
        return "—"
    return f"{patient.given_name[:1]}.{patient.family_name[:1]}. (MRN {patient.mrn})"


@dataclass
class Digest:
    stalled: list[dict] = field(default_factory=list)
    overdue_milestones: list[dict] = field(default_factory=list)
    trials_ending: list[dict] = field(default_factory=list)
    failed_reminders: list[dict] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.stalled) + len(self.overdue_milestones) + len(self.trials_ending) + len(self.failed_reminders)


def digest_for_clinic(*, clinic: Clinic, now: datetime | None = None) -> Digest:
    now = now or timezone.now()
    today = clinic_today(clinic, now)
    stalled = Episode.objects.filter(stalled_q(clinics=[clinic], now=now)).select_related("patient", "clinic")
    milestones = (
        FollowUpMilestone.objects.filter(episode__clinic=clinic, episode__stage=Stage.FOLLOW_UP, met_by__isnull=True,
                                         window_end__lt=today)
        .select_related("episode__patient").order_by("window_end")
    )
    ending = Episode.objects.filter(clinic=clinic, stage=Stage.TRIAL, trial_expected_end=today)
    ending = ending.select_related("patient")
    failed = (
        Reminder.objects.filter(clinic=clinic, status=ReminderStatus.FAILED, updated_at__gte=now - timedelta(hours=24))
        .exclude(purpose=Purpose.DIGEST).select_related("patient").order_by("updated_at")
    )
    return Digest(
        stalled=[{"who": patient_label(e.patient), "stage": e.get_stage_display(), "days": days_in_stage(e, now)}
                 for e in stalled.order_by("stage_entered_at")],
        overdue_milestones=[{"who": patient_label(m.episode.patient), "label": m.label, "window_end": m.window_end}
                            for m in milestones],
        trials_ending=[{"who": patient_label(e.patient)} for e in ending],
        failed_reminders=[{"who": patient_label(r.patient), "purpose": r.purpose.replace("_", " "),
                           "channel": r.get_channel_display(), "reason": r.reason} for r in failed],
    )
