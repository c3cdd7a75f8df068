import ast
import pathlib
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from events.models import Event, EventType
from notifications import services as notifications
from notifications.models import Reminder, ReminderStatus
from pathway import services
from pathway.errors import InvalidInput
from pathway.stages import AppointmentKind, Role
from tests.factories import EpisodeFactory, staff
from webhooks import services as webhooks
from webhooks.models import DeliveryStatus, EndpointRole, WebhookAttempt, WebhookDelivery, WebhookEndpoint

ROOT = pathlib.Path(__file__).resolve().parents[2]


def register(clinic, receiver, role=EndpointRole.CLINICAL, types=None):
    endpoint, secret = webhooks.endpoint_create(clinic=clinic, url=receiver.url, role=role,
                                                event_types=types or webhooks.event_types_for(role))
    receiver.secret = secret
    return endpoint


def run_deliveries(now=None, rounds=50) -> int:
    """What the worker does: sweep, then one send per claim, until nothing is due."""
    sent = 0
    for _ in range(rounds):
        claims = webhooks.deliveries_claim_due(now=now)
        if not claims:
            return sent
        for delivery_id, token in claims:
            webhooks.delivery_send(delivery_id=delivery_id, token=token)
            sent += 1
    return sent


def book(patient, who, **kwargs):
    start = timezone.now() + timedelta(days=5)
    return services.appointment_book(patient=patient, actor=who, kind=AppointmentKind.CONSULTATION,
                                     starts_at=start, ends_at=start + timedelta(minutes=30), **kwargs)


def test_pathway_does_not_import_notifications_or_webhooks():
    for path in (ROOT / "pathway").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("notifications", "webhooks")), f"{path} imports {name}"


def test_every_event_type_is_delivered_signed(clinic, receiver, coordinator, front_desk, patient):
    register(clinic, receiver)
    episode = EpisodeFactory(patient=patient)
    first = book(patient, front_desk, episode=episode)
    services.appointment_reschedule(appointment=first, actor=front_desk, starts_at=first.starts_at + timedelta(hours=1),
                                    ends_at=first.ends_at + timedelta(hours=1))
    services.appointment_check_in(appointment=first, actor=front_desk)
    services.appointment_complete(appointment=first, actor=front_desk)
    for change in ("cancel", "no_show", "enter_in_error"):
        other = book(patient, front_desk, external_ref=change)
        if change == "cancel":
            services.appointment_cancel(appointment=other, actor=front_desk, reason="the patient asked")
        else:
            getattr(services, f"appointment_{change}")(appointment=other, actor=front_desk)
    services.episode_hold(episode=episode, actor=coordinator, reason="insurance")
    services.episode_release(episode=episode, actor=coordinator)
    services.patient_update(patient=patient, actor=front_desk, email_consent=True)
    upcoming = book(patient, front_desk, external_ref="reminded")
    reminder = Reminder.objects.filter(appointment=upcoming, status=ReminderStatus.PENDING).first()
    Reminder.objects.filter(pk=reminder.pk).update(status=ReminderStatus.SENDING, lease_token=reminder.external_id)
    notifications._record(reminder, str(reminder.external_id), status=ReminderStatus.FAILED, reason="test")
    notifications.inbound_sms_receive(provider_message_id="SM1", from_phone=patient.phone, to_phone=clinic.phone,
                                      body="my back hurts")
    services.episode_transition(episode=episode, name="withdraw", actor=coordinator, data={"reason": "Moved away"})

    run_deliveries()

    assert set(receiver.types()) == set(EventType.values)
    assert WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).count() == 0
    transitioned = next(b for b in receiver.received if b["type"] == EventType.EPISODE_TRANSITIONED)
    assert transitioned["data"]["transition"] == "withdraw"
    assert transitioned["data"]["episode_id"] == str(episode.external_id)
    assert "my back hurts" not in str(receiver.received)
    # An episode's events arrive in their sequence.
    mine = str(episode.external_id)
    sequences = [b["data"]["sequence"] for b in receiver.received if b["data"]["episode_id"] == mine]
    assert sequences == sorted(sequences)


def test_a_rolled_back_change_announces_nothing(clinic, receiver, front_desk, patient):
    register(clinic, receiver)
    with pytest.raises(RuntimeError), transaction.atomic():
        book(patient, front_desk)
        raise RuntimeError("the rest of the request failed")
    assert Event.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert Reminder.objects.count() == 0
    assert run_deliveries() == 0
    assert receiver.hits == 0


def test_a_front_desk_endpoint_never_gets_clinical_details(clinic, receiver, coordinator, front_desk, patient):
    endpoint = register(clinic, receiver, role=EndpointRole.FRONT_DESK)
    assert EventType.EPISODE_HELD not in endpoint.event_types
    with pytest.raises(InvalidInput):
        webhooks.endpoint_create(clinic=clinic, url=receiver.url, role=EndpointRole.FRONT_DESK,
                                 event_types=[EventType.EPISODE_HELD])
    Event.objects.all().delete()
    episode = EpisodeFactory(patient=patient)
    book(patient, front_desk, episode=episode)
    services.episode_hold(episode=episode, actor=coordinator, reason="insurance")
    services.episode_release(episode=episode, actor=coordinator)
    services.episode_transition(episode=episode, name="withdraw", actor=coordinator, data={"reason": "Moved away"})
    run_deliveries()
    assert receiver.types() == [EventType.APPOINTMENT_BOOKED, EventType.EPISODE_TRANSITIONED]
    closed = receiver.received[1]["data"]
    assert closed["episode_status"] == "closed"
    assert not {"transition", "from_stage", "to_stage"} & set(closed)


def test_a_receiver_failing_twice_then_answering_gets_each_event_once(clinic, receiver, front_desk, patient):
    register(clinic, receiver)
    receiver.answers = [500, 503]
    appointment = book(patient, front_desk)
    services.appointment_check_in(appointment=appointment, actor=front_desk)
    for hour in range(6):
        run_deliveries(now=timezone.now() + timedelta(hours=hour))
        if len(receiver.received) == 2:
            break
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        run_deliveries()
    assert receiver.types() == [EventType.APPOINTMENT_BOOKED, EventType.APPOINTMENT_CHECKED_IN]
    assert len(set(receiver.ids)) == 2
    attempts = list(WebhookAttempt.objects.order_by("id").values_list("status_code", "error_class"))
    assert attempts == [(500, "HTTP 500"), (503, "HTTP 503"), (204, ""), (204, "")]


def test_the_next_event_of_an_episode_waits_for_the_one_before(clinic, receiver, front_desk, patient):
    register(clinic, receiver)
    receiver.always = 503
    appointment = book(patient, front_desk)
    services.appointment_check_in(appointment=appointment, actor=front_desk)
    assert len(webhooks.deliveries_claim_due(now=timezone.now() + timedelta(days=2))) == 1


def test_a_receiver_down_for_the_whole_window_ends_failed_and_is_replayable(client, clinic, receiver, front_desk,
                                                                            patient):
    register(clinic, receiver)
    receiver.always = 503
    book(patient, front_desk)
    delivery = WebhookDelivery.objects.get()
    moment = timezone.now()
    for _ in range(100):
        delivery.refresh_from_db()
        if delivery.status == DeliveryStatus.FAILED:
            break
        moment = max(moment, delivery.next_attempt_at)
        with time_machine.travel(moment, tick=False):
            run_deliveries()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.finished_at - delivery.created_at <= timedelta(days=1)
    assert delivery.attempts > 5 and receiver.received == []

    admin = staff(clinic, Role.ADMIN)
    client.force_login(admin)
    failed = client.get("/api/v1/webhooks/deliveries/failed/").json()["results"]
    assert [row["id"] for row in failed] == [str(delivery.external_id)]
    receiver.always = None
    with time_machine.travel(moment + timedelta(hours=1), tick=False):
        client.force_login(admin)  # the first session idled out while the clock moved a day on
        assert client.post(f"/api/v1/webhooks/deliveries/{delivery.external_id}/replay/").status_code == 202
        run_deliveries()
    assert receiver.types() == [EventType.APPOINTMENT_BOOKED]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


@pytest.mark.parametrize("url", ["http://10.1.2.3/hook", "http://192.168.1.10/hook", "http://169.254.169.254/x",
                                 "http://[::1]/hook", "http://localhost/hook", "http://127.0.0.2/hook"])
def test_private_addresses_are_refused(clinic, url):
    with pytest.raises(InvalidInput) as refused:
        webhooks.endpoint_create(clinic=clinic, url=url, role=EndpointRole.FRONT_DESK,
                                 event_types=["appointment.booked"])
    assert "url" in refused.value.args[0] or "url" in str(refused.value)


def test_plain_http_is_refused_unless_a_setting_allows_it(clinic, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_SCHEMES": ["https"]}
    with pytest.raises(InvalidInput, match="https"):
        webhooks.endpoint_create(clinic=clinic, url="http://93.184.215.14/hook", role=EndpointRole.FRONT_DESK,
                                 event_types=["appointment.booked"])
    assert not WebhookEndpoint.objects.exists()


def test_an_address_allowed_at_registration_is_checked_again_at_delivery(clinic, receiver, front_desk, patient,
                                                                         settings):
    register(clinic, receiver)
    book(patient, front_desk)
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_PRIVATE_ADDRESSES": []}
    run_deliveries()
    assert receiver.hits == 0
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    assert WebhookAttempt.objects.get().error_class == "RefusedAddress"


def test_a_clinic_administrator_registers_an_endpoint_through_the_api(client, clinic, receiver, front_desk):
    client.force_login(staff(clinic, Role.ADMIN))
    answer = client.post("/api/v1/webhooks/", {"url": receiver.url, "role": "front_desk",
                                               "event_types": ["appointment.booked"]}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks/").json()["results"]
    assert "secret" not in listed[0]
    refused = client.post("/api/v1/webhooks/", {"url": "http://10.0.0.1/", "role": "front_desk",
                                                "event_types": ["appointment.booked"]},
                          content_type="application/json")
    assert refused.status_code == 400
    client.force_login(front_desk.user)
    assert client.get("/api/v1/webhooks/").status_code == 403
