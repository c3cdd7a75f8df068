"""Two coordinators (or one double click on two connections) at once: one reply, one resend, one handling."""

import threading
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from notifications import services
from notifications.models import InboundMessage, Reminder
from pathway.actors import Actor
from pathway.errors import Conflict
from tests.factories import EpisodeFactory, PatientFactory, advance_to

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NOON = datetime(2026, 3, 5, 12, 0, tzinfo=ZoneInfo("America/Chicago"))


@pytest.fixture(autouse=True)
def noon():
    with time_machine.travel(NOON, tick=True):
        yield


def at_once(calls) -> list:
    """Each call on its own thread and database connection, released together."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = call()
        except Exception as error:  # the outcome, whatever it is, is what the test inspects
            outcomes[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def a_message(clinic) -> InboundMessage:
    patient = PatientFactory(clinic=clinic, sms_consent=True)
    return services.inbound_sms_receive(provider_message_id=f"SM{uuid.uuid4().hex[:20]}", from_phone=patient.phone,
                                        to_phone=clinic.phone, body="Can I come later?")


@pytest.mark.parametrize("same_key", [True, False])
def test_the_same_reply_sent_twice_at_once_is_queued_once(clinic, coordinator, same_key):
    actor = Actor.for_user(coordinator)
    for _ in range(3):
        message = a_message(clinic)
        keys = [uuid.uuid4()] * 2 if same_key else [uuid.uuid4(), uuid.uuid4()]
        outcomes = at_once([
            lambda key=key, pk=message.pk: services.inbound_reply_queue(message=InboundMessage.objects.get(pk=pk),
                                                         actor=actor, template="call_us", request_key=key)
            for key in keys
        ])
        assert sorted(created for _, created in outcomes) == [False, True], outcomes
        assert Reminder.objects.filter(reply_to=message).count() == 1


def test_handling_at_once_records_one_and_refuses_the_other(clinic, coordinator, physician):
    message = a_message(clinic)
    outcomes = at_once([
        lambda who=who: services.inbound_message_handle(message=InboundMessage.objects.get(pk=message.pk),
                                                        actor=Actor.for_user(who), note=f"done by {who}")
        for who in (coordinator, physician)
    ])
    assert sum(isinstance(o, InboundMessage) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1, outcomes


def test_a_double_click_on_resend_sends_the_diary_link_once(clinic, coordinator, physician):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, patient__sms_consent=True,
                                        patient__diary_consent=True, physician=physician), "trial")
    actor = Actor.for_user(coordinator)
    for _ in range(3):
        key = uuid.uuid4()
        outcomes = at_once([lambda key=key: services.diary_link_resend(episode=episode, actor=actor,
                                                                       request_key=key)] * 2)
        assert not any(isinstance(o, Exception) for o in outcomes), outcomes
        assert len({row.pk for row, _ in outcomes}) == 1  # both clicks answered with the one message
        assert sorted(created for _, created in outcomes)[0] is False
    # Round 1 brought today's prompt forward, round 2 queued one more, round 3 found that one still on its way.
    assert Reminder.objects.filter(episode=episode, purpose="diary_resend").count() == 1
