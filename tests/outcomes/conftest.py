import pytest

from pathway.stages import Role
from tests.factories import ClinicFactory, staff


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="north", name="North Pain Clinic", time_zone="America/Chicago")


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
def clinic_admin(clinic):
    return staff(clinic, Role.ADMIN, username="clinic-admin")


@pytest.fixture
def outsider(other_clinic):
    return staff(other_clinic, Role.COORDINATOR, username="stranger")
