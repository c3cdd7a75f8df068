"""Every page and API answer carries a Content-Security-Policy and `Cache-Control: no-store` (docs/security.md)."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import ClinicAPIKey
from notifications.messages import diary_token
from pathway.clinic_time import local_date
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PainEntryFactory, advance_to, staff

pytestmark = pytest.mark.django_db
MOMENT = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)


@pytest.fixture
def clinic():
    return ClinicFactory(slug="north")


@pytest.fixture
def coordinator_client(clinic):
    client = Client()
    client.force_login(staff(clinic, Role.COORDINATOR, username="cora"))
    return client


@pytest.fixture
def key_client(clinic):
    _, key = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.FRONT_DESK, name="desk")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def trial(clinic):
    with time_machine.travel(MOMENT, tick=False):
        episode = advance_to(EpisodeFactory(patient__clinic=clinic), "trial")
        PainEntryFactory(episode=episode, phase="baseline", nrs=7)
    return episode


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_protected(response) -> dict[str, list[str]]:
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    return policy


def nonce_of(policy) -> str:
    (nonce,) = [v for v in policy["style-src-elem"] if v.startswith("'nonce-")]
    return nonce[len("'nonce-"):-1]


def test_a_page_with_the_pain_chart(coordinator_client, trial):
    response = coordinator_client.get(reverse("web:patient", args=[trial.patient.external_id]))
    assert response.status_code == 200
    policy = assert_protected(response)
    page = response.content.decode()
    # The chart's <style> carries this answer's nonce; pygal's inline <script> is gone.
    assert "<svg" in page and f'<style nonce="{nonce_of(policy)}"' in page
    assert "<script" not in page.replace('<script src="/static/web/htmx.min.js" defer></script>', "")
    assert '"includeIndicatorStyles": false' in page


def test_an_api_answer(key_client, trial):
    response = key_client.get("/api/v1/patients/")
    assert response.status_code == 200
    assert_protected(response)


def test_the_diary_form(client, trial):
    with time_machine.travel(MOMENT, tick=False):
        day = local_date(trial.clinic, MOMENT)
        response = client.get(reverse("notifications:diary", kwargs={
            "token": diary_token(episode_external_id=trial.external_id, day=day)}))
    assert response.status_code == 200
    policy = assert_protected(response)
    assert f'<style nonce="{nonce_of(policy)}">' in response.content.decode()
    assert "style=" not in response.content.decode()


def test_the_sign_in_page_and_the_admin(client, coordinator_client):
    assert_protected(client.get(reverse("web:login")))
    assert_protected(client.get("/admin/login/"))


def test_static_files_stay_cacheable(client):
    response = client.get("/static/web/web.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_schema_and_docs_are_for_staff_only(client, key_client, coordinator_client):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code in (401, 403)
    assert key_client.get("/api/schema/?format=json").status_code == 200
    docs = coordinator_client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI's own inline <style> is the one exception; its script still comes from 'self' only.
    policy = assert_protected(docs)
    assert "'unsafe-inline'" in policy["style-src-elem"]
    assert not re.search(r"<script>\s*\S", docs.content.decode())  # the split view serves its script separately


def test_an_admin_without_a_clinic_may_read_the_docs(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/api/docs/").status_code == 200
