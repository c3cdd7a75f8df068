"""What coordinators see of the outcomes: the selector behind the API read and the read-only admin."""

import pytest
import time_machine
from django.urls import reverse

from notifications.selectors import REMINDER_FIELDS, reminders_for_appointment
from pathway import services as pathway_services
from pathway.stages import AppointmentKind
from tests.factories import UserFactory

from .helpers import book, chicago, utc

pytestmark = pytest.mark.django_db


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_an_appointments_reminders_include_the_cancelled_ones_in_time_order(patient, front_desk,
                                                                             django_assert_num_queries):
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    pathway_services.appointment_reschedule(appointment=appointment, actor=front_desk,
                                            starts_at=chicago(2026, 3, 13, 10, 0), ends_at=chicago(2026, 3, 13, 11, 0))
    with django_assert_num_queries(1):
        rows = [(r.purpose, r.status, r.scheduled_for, r.reason) for r in reminders_for_appointment(
            appointment=appointment)]
    assert rows == [
        ("appointment_72h", "cancelled", chicago(2026, 3, 9, 10, 0), "appointment rescheduled"),
        ("appointment_72h", "pending", chicago(2026, 3, 10, 10, 0), ""),
        ("appointment_24h", "cancelled", chicago(2026, 3, 11, 10, 0), "appointment rescheduled"),
        ("appointment_24h", "pending", chicago(2026, 3, 12, 10, 0), ""),
    ]
    assert "patient" not in REMINDER_FIELDS


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_the_admin_shows_reminders_and_replies_read_only(client, patient, front_desk):
    book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(reverse("admin:notifications_reminder_changelist"))
    assert page.status_code == 200 and b"appointment_24h" in page.content
    assert client.get(reverse("admin:notifications_reminder_add")).status_code == 403
    assert client.get(reverse("admin:notifications_inboundmessage_changelist")).status_code == 200
