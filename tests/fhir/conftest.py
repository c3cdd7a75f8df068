"""FHIR callers: the clinic's integrations by key (front desk and clinical), its people, another clinic's."""

import pytest
from rest_framework.test import APIClient

from api.models import ClinicAPIKey
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, staff

BASE = "/fhir/r4/"


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="north", name="North Pain Clinic", time_zone="America/Chicago")


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(slug="south", name="South Pain Clinic")


@pytest.fixture
def physician(clinic):
    return staff(clinic, Role.PHYSICIAN, username="doc", first_name="Dana", last_name="Okafor")


@pytest.fixture
def coordinator(clinic):
    return staff(clinic, Role.COORDINATOR, username="coord")


def key_client(clinic, role, scheme="Bearer") -> APIClient:
    api_key, key = ClinicAPIKey.objects.create_key(clinic=clinic, role=role, name=f"{role} FHIR client")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    client.api_key = api_key
    return client


def user_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def ehr(clinic):
    """The clinic's EHR, holding a coordinator's key: sees clinical resources."""
    return key_client(clinic, Role.COORDINATOR)


@pytest.fixture
def desk(clinic):
    """The practice-management system, holding a front-desk key."""
    return key_client(clinic, Role.FRONT_DESK)


@pytest.fixture
def other_ehr(other_clinic):
    return key_client(other_clinic, Role.COORDINATOR)


@pytest.fixture
def patient(clinic, physician):
    return PatientFactory(clinic=clinic, given_name="Ada", family_name="Lovelace", mrn="MRN-1",
                          primary_physician=physician)


@pytest.fixture
def episode(patient, physician):
    return EpisodeFactory(patient=patient, physician=physician, icd10_code="G90.521")


def fhir_get(client, path: str, expect: int = 200, **params) -> dict:
    response = client.get(BASE + path, params)
    assert response.status_code == expect, (response.status_code, response.content[:800])
    assert response["Content-Type"].startswith("application/fhir+json")
    return response.json()


def outcome(client, path: str, expect: int, **params) -> dict:
    body = fhir_get(client, path, expect, **params)
    assert body["resourceType"] == "OperationOutcome", body
    return body
