"""Thin Celery tasks: delivery ids and claim tokens in, nothing about the patient."""

from __future__ import annotations

import logging

from celery import shared_task
from kombu.exceptions import OperationalError

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="webhooks.sweep", ignore_result=True)
def sweep() -> int:
    claims = services.deliveries_claim_due()
    for position, (delivery_id, token) in enumerate(claims):
        try:
            send.apply_async(args=[delivery_id, token], retry=True)
        except OperationalError:
            for unsent_id, unsent_token in claims[position:]:
                services.delivery_release_claim(delivery_id=unsent_id, token=unsent_token)
            logger.warning("webhook sweep stopped: broker unavailable")
            return position
    return len(claims)


@shared_task(name="webhooks.send", ignore_result=True)
def send(delivery_id: str, token: str) -> str:
    return services.delivery_send(delivery_id=delivery_id, token=token)
