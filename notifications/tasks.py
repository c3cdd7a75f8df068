"""Thin Celery tasks: ids in, a service call, nothing about the patient in their arguments."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone
from kombu.exceptions import OperationalError

from . import services

logger = logging.getLogger(__name__)

# A sweep stops after this many batches so one run never holds the beat slot for long.
MAX_BATCHES_PER_SWEEP = 20


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep() -> int:
    """Claim what is due and enqueue one send per reminder. Runs every minute from beat, so it is not retried."""
    from django.conf import settings

    batch = settings.NOTIFICATIONS["SWEEP_BATCH_SIZE"]
    enqueued = 0
    for _ in range(MAX_BATCHES_PER_SWEEP):
        claims = services.reminders_claim_due(limit=batch)
        for position, claim in enumerate(claims):
            try:
                send_reminder.apply_async(args=[claim.reminder_id, claim.token], retry=True)
            except OperationalError:
                # The broker is down: give back what was not enqueued; the next sweep claims it again.
                for unsent in claims[position:]:
                    services.reminder_release_claim(claim=unsent)
                logger.warning("sweep stopped: broker unavailable; %d claims released", len(claims) - position)
                return enqueued
            enqueued += 1
        if len(claims) < batch:
            break
    return enqueued


@shared_task(name="notifications.send", ignore_result=True)
def send_reminder(reminder_id: str, claim: str) -> str:
    return services.reminder_send(reminder_id=reminder_id, claim=claim)


@shared_task(name="notifications.plan_digests", ignore_result=True)
def plan_digests() -> int:
    return services.digests_plan()


@shared_task(name="notifications.plan_diary_prompts", ignore_result=True)
def plan_diary_prompts() -> int:
    return services.diary_prompts_plan()


@shared_task(name="notifications.resync_changed_patients", ignore_result=True)
def resync_changed_patients() -> int:
    # Overlaps the 10-minute beat interval so a late run misses nobody; a resync is idempotent.
    return services.reminders_resync_changed_patients(since=timezone.now() - timedelta(minutes=15))


@shared_task(name="notifications.plan_questionnaires", ignore_result=True)
def plan_questionnaires() -> int:
    return services.questionnaires_plan()
