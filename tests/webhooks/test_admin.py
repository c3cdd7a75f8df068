"""The clinic administrator's webhook admin: their clinics only, the secret shown once, failed deliveries replayed."""

import json

from django.contrib.messages import get_messages
from django.test import Client

from pathway.management.staff_access import staff_access_sync
from pathway.stages import Role
from tests.factories import ClinicFactory, staff
from webhooks.models import DeliveryStatus, EndpointRole, WebhookDelivery, WebhookEndpoint

from .test_webhooks import book, register, run_deliveries


def signed_in(user) -> Client:
    staff_access_sync(user=user)
    client = Client()
    client.force_login(user)
    return client


def form(clinic, url):
    return {"clinic": clinic.pk, "url": url, "role": EndpointRole.FRONT_DESK,
            "event_types": json.dumps(["appointment.booked"]), "enabled": "on"}


def test_a_clinic_administrator_registers_an_endpoint_and_sees_its_secret_once(clinic, receiver):
    client = signed_in(staff(clinic, Role.ADMIN))
    answer = client.post("/admin/webhooks/webhookendpoint/add/", form(clinic, receiver.url))
    assert answer.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert [m.message for m in get_messages(answer.wsgi_request) if "whsec_" in m.message]
    assert "whsec_" in client.get("/admin/webhooks/webhookendpoint/").content.decode()  # the message, shown once
    assert "whsec_" not in client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()

    refused = client.post("/admin/webhooks/webhookendpoint/add/", form(clinic, "http://10.0.0.1/hook"))
    assert refused.status_code == 302
    assert WebhookEndpoint.objects.count() == 1  # rolled back, with the reason shown


def test_only_their_clinics_deliveries_are_listed_and_a_failed_one_is_replayed(clinic, receiver, front_desk,
                                                                                patient):
    register(clinic, receiver)
    book(patient, front_desk)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    other = signed_in(staff(ClinicFactory(slug="south"), Role.ADMIN))
    assert list(other.get("/admin/webhooks/webhookdelivery/").context["cl"].result_list) == []
    assert other.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]}
                      ).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED  # another clinic's administrator cannot replay it

    mine = signed_in(staff(clinic, Role.ADMIN))
    assert list(mine.get("/admin/webhooks/webhookdelivery/").context["cl"].result_list) == [delivery]
    mine.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]})
    run_deliveries()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert receiver.types() == ["appointment.booked"]


def test_the_api_lists_cost_the_same_queries_for_one_row_or_many(client, clinic, receiver, front_desk, patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff(clinic, Role.ADMIN))

    def cost(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    register(clinic, receiver)
    book(patient, front_desk)
    WebhookDelivery.objects.update(status=DeliveryStatus.FAILED)
    # Pinned: the same 7 queries (sign-in, memberships, audit, the rows) whatever the number of rows.
    one = (cost("/api/v1/webhooks/"), cost("/api/v1/webhooks/deliveries/failed/"))
    register(clinic, receiver)
    register(clinic, receiver)
    book(patient, front_desk)
    WebhookDelivery.objects.update(status=DeliveryStatus.FAILED)
    assert WebhookDelivery.objects.count() == 4
    assert (cost("/api/v1/webhooks/"), cost("/api/v1/webhooks/deliveries/failed/")) == one == (7, 7)
