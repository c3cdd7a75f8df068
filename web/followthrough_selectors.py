"""Reads for following up on patients between visits: the inbox of SMS replies that need a person, and how
well a trial's diary is kept. Callers pass the clinics and episodes they already fetched through the scoped
selectors (web.selectors), so nothing here widens what a user sees.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from notifications import messages as notification_messages
from notifications import selectors as notification_selectors
from notifications.models import DIARY_PURPOSES, OPEN_STATUSES, InboundMessage, Reminder, ReminderStatus
from pathway.clinic_time import clinic_today, local_date
from pathway.models import Clinic, Episode
from pathway.stages import PainPhase, PainSource, Stage

HANDLED_SHOWN_DAYS = 7  # the inbox lists what was handled this recently, under the open messages


# --- Inbox ----------------------------------------------------------------------------------------


def reply_choices() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _) in notification_messages.reply_templates().items()]


def inbox_unhandled_count(*, clinics: list[Clinic]) -> int:
    return notification_selectors.inbound_messages_needing_attention(clinic_ids=[c.pk for c in clinics]).count()


@dataclass
class Inbox:
    total: int
    open: list[InboundMessage]
    handled: list[InboundMessage]
    templates: list[tuple[str, str, str]] = field(default_factory=list)  # key, label, text as the clinic sends it


def _with_replies(queryset: QuerySet[InboundMessage]) -> QuerySet[InboundMessage]:
    replies = Reminder.objects.order_by("created_at", "id").select_related("requested_by").only(
        "reply_to_id", "template", "status", "scheduled_for", "sent_at", "reason", "created_at",
        "requested_by__username", "requested_by__first_name", "requested_by__last_name",
    )
    return queryset.select_related("patient").prefetch_related(Prefetch("replies", queryset=replies))


def inbox(*, clinics: list[Clinic], now: datetime | None = None) -> Inbox:
    """Unhandled messages oldest first (the longest waiting on top), at most WEB_LIST_LIMIT, counted only when
    cut; then the last days' handled ones, newest first. Four queries whatever the clinic's size."""
    now = now or timezone.now()
    limit = settings.WEB_LIST_LIMIT
    clinic_ids = [c.pk for c in clinics]
    waiting = _with_replies(notification_selectors.inbound_messages_needing_attention(clinic_ids=clinic_ids)
                            .order_by("received_at", "pk"))
    rows = list(waiting[: limit + 1])
    total = len(rows) if len(rows) <= limit else waiting.count()
    handled = list(_with_replies(notification_selectors.inbound_messages_handled(
        clinic_ids=clinic_ids, since=now - timedelta(days=HANDLED_SHOWN_DAYS)))[:limit])
    for message in (*rows, *handled):
        for reply in message.replies.all():
            reply.label = notification_messages.reply_templates().get(reply.template, (reply.template, ""))[0]
    clinic = clinics[0] if len(clinics) == 1 else None
    templates = [
        (key, label, notification_messages.reply_text(clinic, key) if clinic else text)
        for key, (label, text) in notification_messages.reply_templates().items()
    ]
    return Inbox(total=total, open=rows[:limit], handled=handled, templates=templates)


def inbound_message_for(*, clinics: list[Clinic], external_id) -> InboundMessage | None:
    return (
        InboundMessage.objects.filter(clinic_id__in=[c.pk for c in clinics], needs_attention=True,
                                      external_id=external_id)
        .select_related("patient", "clinic")
        .first()
    )


# --- Trial diary ----------------------------------------------------------------------------------


@dataclass
class Diary:
    """How the patient keeps the trial diary: days with their own entry out of the trial's days so far.

    Days so far are the trial's days before today, and today too once today's entry is in (so the figure does
    not drop every morning before the evening prompt)."""

    days_with_entry: int
    days_so_far: int
    last_entry: date | None
    sent_today: datetime | None  # when today's link last went out
    queued_today: bool  # a link for today is on its way now
    can_send: bool
    why_not: str
    request_key: uuid.UUID = field(default_factory=uuid.uuid4)  # the resend form's: a double click sends once

    @property
    def percent(self) -> int | None:
        return round(100 * self.days_with_entry / self.days_so_far) if self.days_so_far else None


def _why_no_link(episode: Episode) -> str:
    patient = episode.patient
    if not patient.diary_consent:
        return "no diary consent"
    from notifications.scheduling import patient_channel

    channel, why_not = patient_channel(patient)
    return "" if channel is not None else why_not


def diaries(episodes: list[Episode], now: datetime | None = None) -> dict[int, Diary]:
    """Diary figures for the episodes in trial among `episodes` (their pain entries already prefetched), by
    episode pk; today's diary messages for all of them in one query."""
    now = now or timezone.now()
    trial = [e for e in episodes if e.stage == Stage.TRIAL]
    if not trial:
        return {}
    todays = {e.pk: clinic_today(e.clinic, now) for e in trial}
    sends = (
        Reminder.objects.filter(episode__in=trial, purpose__in=DIARY_PURPOSES, for_date__in=set(todays.values()))
        .only("episode_id", "for_date", "status", "sent_at", "due_at")
    )
    sent: dict[int, datetime] = {}
    queued: set[int] = set()
    for row in sends:
        if row.for_date != todays[row.episode_id]:
            continue
        if row.status == ReminderStatus.SENT and row.sent_at:
            sent[row.episode_id] = max(row.sent_at, sent.get(row.episode_id, row.sent_at))
        elif row.status in OPEN_STATUSES and row.due_at <= now + timedelta(minutes=5):
            queued.add(row.episode_id)
    result = {}
    for episode in trial:
        today = todays[episode.pk]
        start = episode.trial_lead_placement_date or local_date(episode.clinic, episode.stage_entered_at)
        days = {
            local_date(episode.clinic, entry.recorded_at) for entry in episode.pain_entries.all()
            if entry.phase == PainPhase.TRIAL and entry.source == PainSource.PATIENT_LINK
        }
        days = {day for day in days if start <= day <= today}
        why_not = _why_no_link(episode)
        result[episode.pk] = Diary(
            days_with_entry=len(days),
            days_so_far=max(0, (today - start).days) + (1 if today in days else 0),
            last_entry=max(days) if days else None,
            sent_today=sent.get(episode.pk),
            queued_today=episode.pk in queued,
            can_send=not why_not,
            why_not=why_not,
        )
    return result
