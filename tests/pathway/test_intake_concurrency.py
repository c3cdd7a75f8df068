"""A referral saved twice at once (a double click, two coordinators): one episode, one conflict."""

import threading

import pytest
from django.db import connection

from pathway import services
from pathway.actors import Actor
from pathway.errors import Conflict
from pathway.models import Episode, Patient
from tests.factories import PatientFactory


def send_twice_at_once(patient_pk: int, actor: Actor, physician) -> list:
    """Two threads, each on its own connection and its own copy of the patient, send the same referral."""
    barrier = threading.Barrier(2)
    outcomes: list = [None, None]

    def send(i: int) -> None:
        try:
            copy = Patient.objects.select_related("clinic").get(pk=patient_pk)
            barrier.wait(timeout=10)
            outcomes[i] = services.episode_create_for_referral(
                patient=copy, actor=actor, open_episodes_seen=0, physician=physician, referral_source="Dr Lee",
            )
        except Exception as error:  # the outcome, whatever it is, is what the test inspects
            outcomes[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_referral_for_a_patient_on_file_sent_twice_at_once_opens_one_episode(clinic, people):
    for _ in range(3):  # a few rounds, so an unlocked count-then-create would show
        patient = PatientFactory(clinic=clinic)
        outcomes = send_twice_at_once(patient.pk, people["coordinator"], people["physician"].user)
        assert sorted(type(o).__name__ for o in outcomes) == sorted([Episode.__name__, Conflict.__name__]), outcomes
        assert patient.episodes.count() == 1
