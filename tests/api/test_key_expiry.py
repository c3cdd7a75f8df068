"""API keys expire when told to, say so clearly, and rotate: a new key, the old one ending on schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from api.models import ClinicAPIKey
from pathway.management.staff_access import staff_access_sync
from pathway.stages import Role
from tests.api.conftest import problem
from tests.factories import staff
from tests.mfa import verified_client

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def create_key(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


def calling(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def new_key(clinic, *extra: str) -> str:
    return create_key("--clinic", clinic.slug, "--role", "front_desk", "--name", "Scheduler", *extra)[0]


def test_a_key_without_expiry_keeps_working(clinic, _frozen):
    key = new_key(clinic)
    assert ClinicAPIKey.objects.get().expiry_date is None
    _frozen.shift(timedelta(days=3650))
    assert calling(key).get("/api/v1/patients/").status_code == 200


@pytest.mark.parametrize(("expires", "ends"), [
    ("90d", NOW + timedelta(days=90)),
    ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
    ("2026-06-01T12:00:00+02:00", datetime(2026, 6, 1, 10, tzinfo=UTC)),
])
def test_expires_takes_days_a_date_or_a_moment(clinic, expires, ends):
    key, said = create_key("--clinic", clinic.slug, "--role", "front_desk", "--name", "Scheduler", "--expires", expires)
    assert ClinicAPIKey.objects.get().expiry_date == ends
    assert f"valid until {ends:%Y-%m-%d %H:%M} UTC" in said
    assert calling(key).get("/api/v1/patients/").status_code == 200


@pytest.mark.parametrize("expires", ["2026-01-01", "soon", "-3d"])
def test_expires_refuses_the_past_and_nonsense(clinic, expires):
    with pytest.raises(CommandError):
        new_key(clinic, "--expires", expires)
    assert not ClinicAPIKey.objects.exists()


def test_an_expired_key_is_refused_with_a_clear_problem(clinic, _frozen):
    key = new_key(clinic, "--expires", "30d")
    _frozen.shift(timedelta(days=30, seconds=1))
    response = calling(key).get("/api/v1/patients/")
    body = problem(response, 401, "api_key_expired")
    assert body["type"] == "urn:drg-pathway:problem:api_key_expired"
    assert body["detail"] == ("This API key expired at 2026-06-03 09:30 UTC. Ask the clinic administrator for its "
                              "replacement.")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_rotation_gives_a_new_key_and_the_old_one_a_day(clinic, _frozen):
    old_key = new_key(clinic)
    old = ClinicAPIKey.objects.get()
    new_key_text, said = create_key("--rotate", old.prefix)
    new = ClinicAPIKey.objects.exclude(pk=old.pk).get()
    old.refresh_from_db()
    assert new.replaces == old and (new.clinic, new.role, new.name) == (old.clinic, old.role, old.name)
    assert new_key_text.startswith(new.prefix + ".")
    assert old.expiry_date == NOW + timedelta(hours=24) and not old.revoked
    assert f"replacing {old.prefix}, which works until 2026-05-05 09:30 UTC" in said

    assert calling(old_key).get("/api/v1/patients/").status_code == 200
    _frozen.shift(timedelta(hours=24, seconds=1))
    problem(calling(old_key).get("/api/v1/patients/"), 401, "api_key_expired")
    assert calling(new_key_text).get("/api/v1/patients/").status_code == 200


def test_rotation_with_no_grace_revokes_at_once(clinic):
    old_key = new_key(clinic)
    old = ClinicAPIKey.objects.get()
    new_key_text, said = create_key("--rotate", old.prefix, "--grace-hours", "0", "--expires", "365d")
    old.refresh_from_db()
    assert old.revoked and "is revoked" in said
    problem(calling(old_key).get("/api/v1/patients/"), 401, "authentication_failed")
    assert ClinicAPIKey.objects.get(replaces=old).expiry_date == NOW + timedelta(days=365)
    assert calling(new_key_text).get("/api/v1/patients/").status_code == 200


def test_rotation_never_lengthens_the_old_keys_life(clinic):
    new_key(clinic, "--expires", "2026-05-04T12:00:00+00:00")
    old = ClinicAPIKey.objects.get()
    create_key("--rotate", old.prefix)
    old.refresh_from_db()
    assert old.expiry_date == datetime(2026, 5, 4, 12, tzinfo=UTC)


def test_a_key_rotates_once(clinic):
    new_key(clinic)
    old = ClinicAPIKey.objects.get()
    create_key("--rotate", old.prefix)
    with pytest.raises(CommandError, match="already rotated"):
        create_key("--rotate", old.prefix)
    with pytest.raises(CommandError, match="No API key"):
        create_key("--rotate", "nope")


def test_the_admin_shows_expiry_and_rotates_for_the_clinic_administrator(clinic, _frozen):
    new_key(clinic, "--expires", "90d")
    old = ClinicAPIKey.objects.get()
    administrator = staff(clinic, Role.ADMIN, username="north-admin")
    staff_access_sync(user=administrator)
    admin_client = verified_client(administrator)

    listing = admin_client.get("/admin/api/clinicapikey/").content.decode()
    assert "Expires" in listing and "Aug. 2, 2026" in listing

    response = admin_client.post("/admin/api/clinicapikey/", {"action": "rotate", "_selected_action": [old.pk]},
                                 follow=True)
    new = ClinicAPIKey.objects.get(replaces=old)
    shown = response.content.decode()
    assert f"The new API key for Scheduler is: {new.prefix}." in shown
    old.refresh_from_db()
    assert old.expiry_date == NOW + timedelta(hours=24)
