"""Every transition from every stage by every role: the allowed ones run, all others are refused, writing nothing."""

import pytest

from pathway import services
from pathway.errors import NotPermitted, TransitionRefused
from pathway.models import Episode, TransitionLog
from pathway.stages import ENDED_STAGES, Stage

from .conftest import NOW
from .pathway_table import PATHWAY, episode_in, snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]

ROLES = ["coordinator", "physician", "front_desk", "admin", "other_clinic"]


def test_the_table_names_every_transition_of_the_model():
    assert set(PATHWAY) == set(services.TRANSITION_NAMES)
    for name, (sources, target, roles, _) in PATHWAY.items():
        transitions = getattr(Episode, name)._django_fsm.transitions
        assert {str(source) for source in transitions} == sources
        assert {str(t.target) for t in transitions.values()} == {target}
        assert services.transition_roles(name) == roles


def expected(name: str, stage: str, role: str) -> type[Exception] | str:
    sources, target, roles, _ = PATHWAY[name]
    if role not in roles:
        return NotPermitted
    if stage not in sources:
        return TransitionRefused
    return target


ALLOWED = [
    pytest.param(name, stage, role, id=f"{name}-from-{stage}-by-{role}")
    for name in PATHWAY for stage in Stage.values for role in ROLES
    if isinstance(expected(name, stage, role), str)
]
# Refusals write nothing, so the roles refused one (transition, stage) pair share one episode.
REFUSED = [pytest.param(name, stage, id=f"{name}-from-{stage}") for name in PATHWAY for stage in Stage.values]


def test_the_allowed_cases_are_exactly_those_of_domain_md():
    assert len(ALLOWED) == 2 + 1 + 2 + 1 + 1 + 1 + 2 + 1 + 2 + 5 * 2


@pytest.mark.parametrize(("name", "stage", "role"), ALLOWED)
def test_allowed_transition_runs_and_is_logged(clinic, people, name, stage, role):
    episode = episode_in(clinic, stage)
    logs_before = TransitionLog.objects.count()
    actor = people[role]
    target = expected(name, stage, role)

    log = services.episode_transition(episode=episode, name=name, actor=actor, data=PATHWAY[name][3])

    assert Episode.objects.get(pk=episode.pk).stage == target == episode.stage
    assert TransitionLog.objects.count() == logs_before + 1
    assert (log.transition, log.from_stage, log.to_stage) == (name, stage, target)
    assert (log.actor_user, log.actor_label, log.at) == (actor.user, actor.user.username, NOW)


@pytest.mark.parametrize(("name", "stage"), REFUSED)
def test_refused_transition_writes_nothing(clinic, people, name, stage):
    episode = episode_in(clinic, stage)
    before, logs_before = snapshot(episode), TransitionLog.objects.count()
    refusals = {role: expected(name, stage, role) for role in ROLES}
    refusals = {role: outcome for role, outcome in refusals.items() if not isinstance(outcome, str)}
    assert refusals, "every pair is refused to someone (at least front desk, admin and other clinics)"

    for role, outcome in refusals.items():
        with pytest.raises(outcome) as refused:
            services.episode_transition(episode=episode, name=name, actor=people[role], data=PATHWAY[name][3])
        assert snapshot(episode) == before, role
        assert TransitionLog.objects.count() == logs_before, role
        assert episode.stage == stage, role
        if outcome is TransitionRefused:
            error = refused.value
            assert (error.transition, error.stage, error.unmet) == (name, stage, [])
            assert error.allowed == [
                n for n in services.TRANSITION_NAMES if stage in PATHWAY[n][0] and role in PATHWAY[n][2]
            ]
            assert f"{name} is not possible from {Stage(stage).label}" in error.detail
            assert ("The episode has ended; nothing changes it." in error.detail) == (stage in ENDED_STAGES)
