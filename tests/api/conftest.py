"""Callers of the API: a front-desk key and a coordinator, physician and front-desk person per clinic."""

import pytest
from rest_framework.test import APIClient

from api.models import ClinicAPIKey
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, staff


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="north")


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(slug="south")


@pytest.fixture
def coordinator(clinic):
    return staff(clinic, Role.COORDINATOR, username="coord")


@pytest.fixture
def physician(clinic):
    return staff(clinic, Role.PHYSICIAN, username="doc")


@pytest.fixture
def front_desk_user(clinic):
    return staff(clinic, Role.FRONT_DESK, username="desk")


def key_client(clinic, role=Role.FRONT_DESK) -> APIClient:
    api_key, key = ClinicAPIKey.objects.create_key(clinic=clinic, role=role, name=f"{role} integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    client.api_key = api_key
    return client


def user_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def desk(clinic):
    """The front desk's scheduling system, with a key."""
    return key_client(clinic)


@pytest.fixture
def coord(coordinator):
    return user_client(coordinator)


@pytest.fixture
def doc(physician):
    return user_client(physician)


@pytest.fixture
def other_coord(other_clinic):
    return user_client(staff(other_clinic, Role.COORDINATOR, username="south-coord"))


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic, given_name="Ada", family_name="Lovelace", mrn="MRN-1")


@pytest.fixture
def episode(patient, physician):
    return EpisodeFactory(patient=patient, physician=physician)


def problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def queries_of(fetch) -> int:
    """How many queries one call costs (the session write of SESSION_SAVE_EVERY_REQUEST included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fetch()
    return len(captured.captured_queries)
