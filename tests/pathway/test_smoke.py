import pytest

from pathway import services
from pathway.models import TransitionLog
from tests.factories import EpisodeFactory, advance_to

pytestmark = pytest.mark.django_db


def test_happy_path_reaches_follow_up_with_milestones():
    episode = EpisodeFactory()
    advance_to(episode, "follow_up")
    episode.refresh_from_db()
    assert episode.stage == "follow_up"
    assert list(TransitionLog.objects.filter(episode=episode).values_list("transition", flat=True)) == [
        "start_trial", "end_trial", "approve_implant", "record_implant",
    ]
    assert episode.milestones.count() == 2 + 4 + 4
    approve = TransitionLog.objects.get(episode=episode, transition="approve_implant")
    assert approve.figures["relief_percent"] == "62.5"
    assert services.allowed_transitions(episode=episode, actor=services.Actor.for_user(episode.physician)) == [
        "explant", "discharge", "withdraw",
    ]
