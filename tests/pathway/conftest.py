from datetime import UTC, datetime

import pytest

from pathway.actors import Actor
from pathway.stages import Role
from tests.factories import ClinicFactory, staff

# 09:00 in Chicago, the factories' clinic zone: the clinic's date and UTC's agree, away from midnight.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="riverside")


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(slug="north")


@pytest.fixture
def people(clinic, other_clinic) -> dict[str, Actor]:
    """One actor per role in `clinic`, and a physician of another clinic."""
    actors = {role: Actor.for_user(staff(clinic, role, username=f"riverside-{role}")) for role in Role.values}
    actors["other_clinic"] = Actor.for_user(staff(other_clinic, Role.PHYSICIAN, username="north-physician"))
    return actors
