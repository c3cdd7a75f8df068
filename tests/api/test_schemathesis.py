"""Property-based conformance: generated requests against the live server and its own schema.

A front-desk key and a coordinator's session (with CSRF) each call every operation with a few generated
inputs, valid (positive) and invalid (negative), and every check schemathesis has runs on each answer (the
CLI's `--checks all`): no 5xx; status, content type, headers and body as documented; what the schema allows
is accepted (2xx, or 401/403/404/409), what it forbids is refused (4xx); a missing required header or an
undocumented method is refused. The coverage phase adds the boundary values (empty strings, nulls, types
swapped, the method not offered) that random generation rarely reaches.
"""

import uuid

import pytest
import schemathesis
from django.contrib.auth import SESSION_KEY
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from api.idempotency import _VALID_KEY
from api.models import ClinicAPIKey
from api.pagination import CursorPage
from pathway.stages import Role
from tests.factories import AppointmentFactory, ClinicFactory, EpisodeFactory, PatientFactory, staff

# Cursors are signed: no generated string is one, so every request pages from the start with a genuine one
# (tests/api/test_conventions.py covers forged cursors).
FIRST_PAGE_CURSOR = CursorPage._signer.sign("")
def _config(*, coverage: bool) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "parameters": {"query.cursor": FIRST_PAGE_CURSOR},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": coverage},
                   "stateful": {"enabled": False}},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
    })


MAX_EXAMPLES = 3
load_all_checks()
ALL_CHECKS = CHECKS.get_all()


def _served_schema() -> dict:
    """The document /api/schema/ serves, generated the same way (collection happens before the live server)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


# The boundary cases of the coverage phase (missing required headers, methods not offered, every enum value,
# empty and null values) do not depend on who calls: they run once, as the coordinator, who may call every
# operation. The front desk gets the generated cases, where its narrower role matters.
schema = schemathesis.openapi.from_dict(_served_schema(), config=_config(coverage=False))
schema_with_coverage = schemathesis.openapi.from_dict(_served_schema(), config=_config(coverage=True))


@pytest.fixture
def clinic_data(transactional_db):
    clinic = ClinicFactory(slug="fuzz")
    patient = PatientFactory(clinic=clinic)
    AppointmentFactory(patient=patient)
    EpisodeFactory(patient=patient, physician=staff(clinic, Role.PHYSICIAN, username="fuzz-doc"))
    return clinic


@pytest.fixture
def front_desk_key(clinic_data):
    _, key = ClinicAPIKey.objects.create_key(clinic=clinic_data, role=Role.FRONT_DESK, name="fuzz")
    return {"headers": {"Authorization": f"Api-Key {key}"}, "cookies": {}}


@pytest.fixture
def coordinator_session(clinic_data):
    coordinator = staff(clinic_data, Role.COORDINATOR, username="fuzz-coord")
    client = Client()
    client.force_login(coordinator)
    assert client.session[SESSION_KEY] == str(coordinator.pk)
    token = _get_new_csrf_string()
    return {"headers": {"X-CSRFToken": token},
            "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": token}}


HYPOTHESIS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.filter_too_much])


def call_and_check(case, caller, base_url):
    headers = {**(case.headers or {}), **caller["headers"]}
    # Generated keys repeat across cases; a repeat with another body is rightly a 422. A valid key is made
    # unique (still valid); an invalid one is kept, so that its refusal is still checked.
    if _VALID_KEY.match(headers.get("Idempotency-Key", "")):
        headers["Idempotency-Key"] = uuid.uuid4().hex
    response = case.call(base_url=base_url, headers=headers, cookies=caller["cookies"])
    case.validate_response(response, checks=ALL_CHECKS, headers=headers)


@schema.parametrize()
@HYPOTHESIS
def test_front_desk_key_gets_conforming_answers(case, front_desk_key, live_server):
    call_and_check(case, front_desk_key, live_server.url)


@schema_with_coverage.parametrize()
@HYPOTHESIS
def test_coordinator_session_gets_conforming_answers(case, coordinator_session, live_server):
    call_and_check(case, coordinator_session, live_server.url)


def test_the_fuzzed_schema_is_the_one_the_server_serves(live_server, front_desk_key):
    import requests

    served = requests.get(f"{live_server.url}/api/schema/?format=json", headers=front_desk_key["headers"],
                          timeout=10).json()
    assert served == _served_schema()
