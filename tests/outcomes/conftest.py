import pytest

from pathway.stages import Role
from tests.factories import ClinicFactory, staff
from tests.web.conftest import coordinator, front_desk, other_clinic, outsider, physician  # noqa: F401 (fixtures)


@pytest.fixture
def clinic(db):
    """The web tests' clinic, on a clock with a time zone: report days are the clinic's own."""
    return ClinicFactory(slug="north", name="North Pain Clinic", time_zone="America/Chicago")


@pytest.fixture
def clinic_admin(clinic):
    return staff(clinic, Role.ADMIN, username="clinic-admin")
