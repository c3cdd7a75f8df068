"""Real Celery worker and beat delivering webhooks to a real receiver; a worker killed mid-delivery loses nothing.

Run alone, on a calm machine (it starts subprocesses): the workers' harness is tests/notifications/test_workers.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from pathway import services
from pathway.stages import AppointmentKind, Role
from tests.factories import ClinicFactory, PatientFactory, actor
from tests.notifications.test_workers import Cluster
from webhooks import services as webhooks
from webhooks.models import DeliveryStatus, EndpointRole, WebhookDelivery

from .conftest import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def wait_for(condition, timeout: float, cluster: Cluster, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    counts = list(WebhookDelivery.objects.values_list("status", "attempts", "last_error"))
    pytest.fail(f"timed out waiting for {what}: {counts}\n{cluster.logs()}")


def test_a_worker_killed_mid_delivery_loses_no_event(tmp_path, shared_broker, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_PRIVATE_ADDRESSES": ["127.0.0.1"]}  # the workers: env below
    receiver = Receiver()
    slow = receiver.server.RequestHandlerClass.do_POST

    def do_post(handler):
        time.sleep(1.5)  # long enough for the kill to land while deliveries are in flight
        slow(handler)

    receiver.server.RequestHandlerClass.do_POST = do_post
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    clinic = ClinicFactory(slug="north")
    desk = actor(clinic, Role.FRONT_DESK)
    _, receiver.secret = webhooks.endpoint_create(clinic=clinic, url=receiver.url, role=EndpointRole.FRONT_DESK,
                                                  event_types=["appointment.booked"])
    start = timezone.now() + timedelta(days=4)
    for _ in range(12):
        services.appointment_book(patient=PatientFactory(clinic=clinic), actor=desk, kind=AppointmentKind.CONSULTATION,
                                  starts_at=start, ends_at=start + timedelta(minutes=30))
    cluster = Cluster(tmp_path, shared_broker, "unused")
    cluster.env.update({"WEBHOOKS_SWEEP_INTERVAL_SECONDS": "1", "WEBHOOKS_LEASE_SECONDS": "6",
                        "WEBHOOKS_BACKOFF_BASE_SECONDS": "1", "WEBHOOKS_ALLOWED_PRIVATE_ADDRESSES": "127.0.0.1"})
    try:
        cluster.worker("w1", concurrency=2)
        cluster.beat("beat")
        wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SENDING).exists() and receiver.hits > 0,
                 60, cluster, "deliveries in flight")
        cluster.kill("w1")
        assert WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()  # the kill left work undone
        cluster.worker("w2", concurrency=2)
        wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 12, 120, cluster,
                 "every delivery to succeed")
    finally:
        cluster.stop()
        receiver.server.shutdown()
        receiver.server.server_close()
    expected = {f"msg_{d.external_id.hex}" for d in WebhookDelivery.objects.all()}
    assert set(receiver.ids) == expected  # at least once each; a retry after the kill reuses the webhook-id


@pytest.fixture
def shared_broker():
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("celery", "unacked", "unacked_index")
    yield settings.REDIS_URL
    client.delete("celery", "unacked", "unacked_index")
