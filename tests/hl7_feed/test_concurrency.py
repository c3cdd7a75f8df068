"""Two links of an interface engine delivering the same message at once: one booking, the same answer twice."""

import threading

import hl7
import pytest
from django.db import connections

from hl7_feed.models import InboundHL7Message
from hl7_feed.services import inbound_message_receive
from pathway.models import Appointment

from .conftest import siu, ts

RACERS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_delivered_simultaneously_books_once(patient, day):
    raw = siu("S12", start=ts(day, "0900"), control_id="RACE-1")
    barrier = threading.Barrier(RACERS)
    answers: list[tuple[str, bool]] = []

    def deliver():
        try:
            barrier.wait()
            received = inbound_message_receive(raw=raw)
            answers.append((str(hl7.parse(received.ack)["MSA.F1"]), received.duplicate))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(answers) == [("AA", False)] + [("AA", True)] * (RACERS - 1)
    assert Appointment.objects.filter(external_ref="APT-1").count() == 1
    assert InboundHL7Message.objects.count() == 1
