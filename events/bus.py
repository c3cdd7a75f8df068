"""Announcing what happened: `record` writes the outbox row and runs the in-process subscribers.

The domain (pathway) calls `record` inside the transaction of its change and knows nothing of who listens.
Apps subscribe in their AppConfig.ready(); a subscriber runs synchronously inside the same transaction, so a
reaction that must be atomic with the change (reminders planned for a booking) commits or rolls back with it,
and an exception in a subscriber undoes the change. Work that talks to the outside world (webhooks) must only
write rows here and do its sending later, from the worker.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import Event, EventType


@dataclass(frozen=True)
class Occurrence:
    """What a subscriber is handed: the committed-with-the-change row and the objects it is about."""

    event: Event
    episode: Any = None
    appointment: Any = None
    patient: Any = None
    subject: Any = None  # the other object the event is about (a reminder, an inbound message)


Subscriber = Callable[[Occurrence], None]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)
ALL = "*"


def subscribe(event_type: str, subscriber: Subscriber) -> None:
    """Register `subscriber` for one type (or ALL). Idempotent, so a second ready() adds nothing."""
    if event_type != ALL and event_type not in EventType.values:
        raise ValueError(f"Unknown event type {event_type!r}")
    if subscriber not in _subscribers[event_type]:
        _subscribers[event_type].append(subscriber)


def subscribers(event_type: str) -> list[Subscriber]:
    return [*_subscribers.get(event_type, ()), *_subscribers.get(ALL, ())]


def _uuid(obj):
    return getattr(obj, "external_id", None) if obj is not None else None


def _next_sequence(ordering_key: str, episode, patient) -> int:
    # The episode's (else the patient's) row serializes the numbering: a service that changes the episode holds
    # its lock already; one that does not (an appointment change) takes it here, after its own locks.
    from pathway.models import Episode, Patient

    if episode is not None:
        Episode.objects.select_for_update().filter(pk=episode.pk).values_list("pk", flat=True).first()
    elif patient is not None:
        Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk", flat=True).first()
    last = Event.objects.filter(ordering_key=ordering_key).aggregate(last=Max("sequence"))["last"]
    return (last or 0) + 1


def record(
    event_type: str, *, clinic_id: int, episode=None, appointment=None, patient=None, subject=None,
    payload: Mapping[str, Any] | None = None, occurred_at: dt.datetime | None = None,
) -> Event:
    """Write one event in the caller's transaction and run its subscribers there. Must be called inside
    `transaction.atomic()` (the change and its event commit together, or neither does)."""
    if event_type not in EventType.values:
        raise ValueError(f"Unknown event type {event_type!r}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events.record must run inside the transaction of the change it announces")
    if patient is None and episode is not None:
        patient = episode.patient
    if episode is None and appointment is not None and appointment.episode_id is not None:
        episode = appointment.episode
    if patient is None and appointment is not None:
        patient = appointment.patient
    if episode is not None:
        ordering_key = f"episode:{episode.external_id}"
    elif patient is not None:
        ordering_key = f"patient:{patient.external_id}"
    else:
        ordering_key = f"clinic:{clinic_id}"
    event = Event.objects.create(
        type=event_type, clinic_id=clinic_id, episode_id=_uuid(episode), appointment_id=_uuid(appointment),
        patient_id=_uuid(patient), occurred_at=occurred_at or timezone.now(), payload=dict(payload or {}),
        ordering_key=ordering_key, sequence=_next_sequence(ordering_key, episode, patient),
    )
    occurrence = Occurrence(event=event, episode=episode, appointment=appointment, patient=patient, subject=subject)
    for subscriber in subscribers(event_type):
        subscriber(occurrence)
    return event
