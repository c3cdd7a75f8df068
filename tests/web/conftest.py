import pytest
from django.test import Client

from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, staff


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="north", name="North Pain Clinic")


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(slug="south", name="South Pain Clinic")


@pytest.fixture
def coordinator(clinic):
    return staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Ordinator")


@pytest.fixture
def physician(clinic):
    return staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hysician")


@pytest.fixture
def front_desk(clinic):
    return staff(clinic, Role.FRONT_DESK, username="desk")


@pytest.fixture
def outsider(other_clinic):
    return staff(other_clinic, Role.COORDINATOR, username="stranger")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def coordinator_client(coordinator):
    return signed_in(coordinator)


@pytest.fixture
def physician_client(physician):
    return signed_in(physician)


@pytest.fixture
def episode(clinic, physician):
    return EpisodeFactory(patient__clinic=clinic, physician=physician)
