"""Ten scheduling-system retries moving one appointment with the same If-Match: one move, nine 412s."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from api.models import ClinicAPIKey
from pathway.models import Appointment
from pathway.stages import Role
from tests.factories import AppointmentFactory, ClinicFactory, PatientFactory

from .conftest import BASE, key_client

RACERS = 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_updates_of_one_version_change_it_once():
    clinic = ClinicFactory(slug="race-fhir")
    start = timezone.now().replace(microsecond=0) + timedelta(days=4)
    appointment = AppointmentFactory(patient=PatientFactory(clinic=clinic), starts_at=start,
                                     ends_at=start + timedelta(minutes=30))
    reader = key_client(clinic, Role.FRONT_DESK)
    read = reader.get(f"{BASE}Appointment/{appointment.external_id}")
    resource, version = read.json(), read["ETag"]
    _, key = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.FRONT_DESK, name="racer")

    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []

    def move(n: int):
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        later = start + timedelta(days=1, minutes=n)
        body = {**resource, "start": later.isoformat(), "end": (later + timedelta(minutes=30)).isoformat()}
        try:
            barrier.wait()
            response = client.put(f"{BASE}Appointment/{appointment.external_id}", body, format="json",
                                  HTTP_IF_MATCH=version)
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=move, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [412] * (RACERS - 1)
    appointment.refresh_from_db()
    assert appointment.starts_at != start
    assert Appointment.objects.count() == 1
