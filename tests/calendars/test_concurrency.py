"""Two "new link" presses at once for the same owner: never two live links; each press either makes the live
one or is told to reload."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from calendars import services
from calendars.models import CalendarFeed
from pathway.actors import Actor
from pathway.errors import InvalidInput


def press_at_once(user_pk: int, times: int) -> list:
    from django.contrib.auth import get_user_model

    barrier = threading.Barrier(times)
    outcomes: list = [None] * times

    def press(i: int) -> None:
        try:
            physician = get_user_model().objects.get(pk=user_pk)
            actor = Actor.for_user(physician)
            barrier.wait(timeout=10)
            outcomes[i] = services.calendar_feed_create(actor=actor, physician=physician)
        except Exception as error:  # the outcome, whatever it is, is what the test inspects
            outcomes[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_new_links_pressed_at_once_leave_one_live_link(physician):
    services.calendar_feed_create(actor=Actor.for_user(physician), physician=physician)
    for _ in range(3):
        outcomes = press_at_once(physician.pk, 3)
        made = [o for o in outcomes if isinstance(o, tuple)]
        refused = [o for o in outcomes if isinstance(o, InvalidInput)]
        assert made and len(made) + len(refused) == 3, outcomes
        live = CalendarFeed.objects.get(physician=physician, revoked_at__isnull=True)
        assert live.token_hash in {services.token_hash(token) for _, token in made}
