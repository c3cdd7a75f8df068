"""Two people pressing the same button at once: exactly one transition happens, the other gets a conflict."""

import threading

import pytest
from django.db import connection, transaction
from django_fsm import ConcurrentTransition

from pathway import services
from pathway.actors import Actor
from pathway.errors import Conflict, TransitionRefused
from pathway.models import Appointment, Episode, TransitionLog
from pathway.stages import Stage
from tests.factories import AppointmentFactory, EpisodeFactory, advance_to

from .pathway_table import PATHWAY, TODAY


def press_at_once(episode_pk: int, name: str, actors: list[Actor], data: dict) -> list:
    """Each actor, on its own thread and connection, runs `name` on its own copy of the episode at once."""
    barrier = threading.Barrier(len(actors))
    outcomes: list = [None] * len(actors)

    def press(i: int, actor: Actor) -> None:
        try:
            episode = Episode.objects.get(pk=episode_pk)
            barrier.wait(timeout=10)
            outcomes[i] = services.episode_transition(episode=episode, name=name, actor=actor, data=data)
        except Exception as error:  # the outcome, whatever it is, is what the test inspects
            outcomes[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(i, actor)) for i, actor in enumerate(actors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("name", "stage"), [("approve_implant", "trial_review"), ("withdraw", "evaluation"),
                                             ("record_implant", "implant")])
def test_the_same_transition_pressed_twice_at_once_runs_once(clinic, people, name, stage):
    for _ in range(3):  # a few rounds, so an unlocked read-check-write would show
        episode = advance_to(EpisodeFactory(patient__clinic=clinic), stage)
        actors = [people["physician"], Actor.for_user(episode.physician)]

        outcomes = press_at_once(episode.pk, name, actors, PATHWAY[name][3])

        succeeded = [o for o in outcomes if isinstance(o, TransitionLog)]
        refused = [o for o in outcomes if isinstance(o, Conflict | TransitionRefused)]
        assert (len(succeeded), len(refused)) == (1, 1), outcomes
        assert TransitionLog.objects.filter(episode=episode, transition=name).count() == 1
        assert Episode.objects.get(pk=episode.pk).stage == PATHWAY[name][1]


@pytest.mark.django_db
def test_a_stale_episode_is_a_conflict_and_writes_nothing(clinic, people):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic), Stage.TRIAL_REVIEW)
    stale = Episode.objects.get(pk=episode.pk)
    services.episode_transition(episode=episode, name="fail_trial", actor=people["physician"],
                                data={"reason": "Relief faded"})
    before = Episode.objects.filter(pk=episode.pk).values().get()
    logs = TransitionLog.objects.count()

    with pytest.raises(Conflict) as conflict:
        services.episode_transition(episode=stale, name="approve_implant", actor=people["physician"])

    assert conflict.value.stage == Stage.TRIAL_FAILED
    assert "Trial failed" in conflict.value.detail
    assert Episode.objects.filter(pk=episode.pk).values().get() == before
    assert TransitionLog.objects.count() == logs


@pytest.mark.django_db
def test_the_state_machine_refuses_to_save_over_a_transition_it_did_not_see(clinic, now):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic), Stage.FOLLOW_UP)
    first, second = Episode.objects.get(pk=episode.pk), Episode.objects.get(pk=episode.pk)
    first.end_reason = "Moved abroad"
    first.discharge(today=TODAY)
    first.save()

    second.end_reason = "Device infection"
    second.ended_on = TODAY
    second.explant(today=TODAY)
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    assert Episode.objects.get(pk=episode.pk).stage == Stage.DISCHARGED


@pytest.mark.django_db
def test_an_appointment_refuses_to_save_over_a_status_change_it_did_not_see(clinic):
    appointment = AppointmentFactory(patient__clinic=clinic)
    first, second = Appointment.objects.get(pk=appointment.pk), Appointment.objects.get(pk=appointment.pk)
    first.check_in()
    first.save()
    second.no_show()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    assert Appointment.objects.get(pk=appointment.pk).status == "arrived"


@pytest.mark.django_db
def test_the_callers_episode_is_current_after_a_transition(clinic, people):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic), Stage.IMPLANT)
    assert episode.stage == Stage.IMPLANT
    episode.save()  # the caller's copy knows the stage it moved to, so the state machine's check passes
    services.episode_transition(episode=episode, name="withdraw", actor=people["coordinator"],
                                data={"reason": "Chose not to proceed"})
    assert episode.stage == Stage.WITHDRAWN
    assert Episode.objects.get(pk=episode.pk).stage == Stage.WITHDRAWN


@pytest.mark.django_db
def test_the_callers_appointment_is_current_after_a_status_change(clinic, people):
    appointment = AppointmentFactory(patient__clinic=clinic)
    services.appointment_check_in(appointment=appointment, actor=people["front_desk"])
    appointment.save()
    services.appointment_complete(appointment=appointment, actor=people["front_desk"])
    assert Appointment.objects.get(pk=appointment.pk).status == appointment.status == "fulfilled"
