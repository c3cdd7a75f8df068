"""Signing in: lockout per username and per address on both sign-in pages, the administrator's unlock, and the
second factor (enrolment, codes, recovery codes, the admin, the API)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from pathway.management.staff_access import staff_access_sync
from pathway.stages import Role
from tests.factories import UserFactory, staff
from tests.mfa import authenticator, key_from_secret, totp_code, verified_client

PASSWORD = "pass-word-123"
WRONG = "not-the-password-7"
LIMIT = 5
NOW = datetime(2026, 3, 2, 15, 0, 7, tzinfo=UTC)
LOGIN_PAGES = ["/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def _policy(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def cora(coordinator):
    staff_access_sync(user=coordinator)  # staff status, so the admin's login accepts her too
    return coordinator


def post_login(client, page, username, password, address="10.0.0.1"):
    return client.post(page, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Lockout --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_right_password_still_works_below_the_limit(cora, page):
    client = Client()
    form = client.get(page)
    assert form.status_code == 200 and 'name="password"' in form.content.decode()
    for _ in range(LIMIT - 1):
        assert post_login(client, page, "cora", WRONG).status_code == 200
    assert post_login(client, page, "cora", PASSWORD).status_code == 302
    assert signed_in(client)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_username_locks_after_the_limit_whatever_the_address(cora, page):
    client = Client()
    responses = [post_login(client, page, "cora", WRONG, address=f"10.0.1.{n}") for n in range(LIMIT)]
    assert [r.status_code for r in responses] == [200] * (LIMIT - 1) + [429]

    locked = post_login(Client(), page, "cora", PASSWORD, address="10.9.9.9")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts for this account or from this network" in locked.content.decode()
    assert "paused for 30 minutes" in locked.content.decode()
    assert "clinic administrator can unlock" in locked.content.decode()
    assert not signed_in(client)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_an_address_locks_after_the_limit_whatever_the_username(cora, page):
    for n in range(LIMIT):
        post_login(Client(), page, f"guess{n}", WRONG, address="10.0.2.2")

    assert post_login(Client(), page, "cora", PASSWORD, address="10.0.2.2").status_code == 429
    elsewhere = Client()
    assert post_login(elsewhere, page, "cora", PASSWORD, address="10.0.2.3").status_code == 302
    assert signed_in(elsewhere)


def test_both_pages_share_one_count(cora):
    for n in range(LIMIT):
        post_login(Client(), LOGIN_PAGES[n % 2], "cora", WRONG, address=f"10.0.3.{n}")
    assert post_login(Client(), "/login/", "cora", PASSWORD, address="10.0.3.99").status_code == 429


def test_a_lock_lifts_after_the_cool_off(cora, _frozen):
    for _ in range(LIMIT):
        post_login(Client(), "/login/", "cora", WRONG)
    _frozen.shift(timedelta(minutes=29))
    assert post_login(Client(), "/login/", "cora", PASSWORD).status_code == 429
    _frozen.shift(timedelta(minutes=2))
    assert post_login(Client(), "/login/", "cora", PASSWORD).status_code == 302


def test_tries_while_locked_do_not_extend_the_lock(cora, _frozen):
    for _ in range(LIMIT):
        post_login(Client(), "/login/", "cora", WRONG)
    for _ in range(20):
        _frozen.shift(timedelta(minutes=1))
        post_login(Client(), "/login/", "cora", WRONG)
    _frozen.shift(timedelta(minutes=11))
    assert post_login(Client(), "/login/", "cora", PASSWORD).status_code == 302


def test_failed_attempts_keep_no_password_and_log_no_username(cora, caplog):
    secret_typo = "Hunter2-my-password-in-the-username-box"
    with caplog.at_level(logging.DEBUG):
        post_login(Client(), "/login/", "cora", WRONG)
        post_login(Client(), "/login/", secret_typo, WRONG)
    stored = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert WRONG not in stored and "cora" not in stored and secret_typo not in stored
    assert "csrfmiddlewaretoken" not in stored or "********" in stored
    logged = caplog.text
    assert WRONG not in logged and secret_typo not in logged and "cora" not in logged
    assert "AXES" in logged  # the attempts were logged, just without those


# --- Unlock by the clinic administrator ------------------------------------------------------------


@pytest.fixture
def north_admin(clinic):
    user = staff(clinic, Role.ADMIN, username="north-admin")
    staff_access_sync(user=user)
    return verified_client(user)


@pytest.fixture
def south_admin(other_clinic):
    user = staff(other_clinic, Role.ADMIN, username="south-admin")
    staff_access_sync(user=user)
    return verified_client(user)


def lock(username: str) -> None:
    for n in range(LIMIT):
        post_login(Client(), "/login/", username, WRONG, address=f"10.0.4.{n}")


def unlock(admin_client, usernames):
    ids = [str(pk) for pk in AccessAttempt.objects.filter(username__in=usernames).values_list("pk", flat=True)]
    return admin_client.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": ids})


def test_the_clinic_administrator_unlocks_their_own_staff(cora, north_admin):
    lock("cora")
    listing = north_admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "cora" in listing.content.decode()

    assert unlock(north_admin, ["cora"]).status_code == 302
    assert not AccessAttempt.objects.filter(username="cora").exists()
    assert post_login(Client(), "/login/", "cora", PASSWORD, address="10.0.4.1").status_code == 302


def test_another_clinics_administrator_neither_sees_nor_unlocks(cora, outsider, south_admin):
    lock("cora")
    lock("stranger")
    listing = south_admin.get("/admin/axes/accessattempt/").content.decode()
    assert "stranger" in listing and "cora" not in listing

    unlock(south_admin, ["cora", "stranger"])
    assert AccessAttempt.objects.filter(username="cora").exists()
    assert not AccessAttempt.objects.filter(username="stranger").exists()
    assert post_login(Client(), "/login/", "cora", PASSWORD, address="10.0.4.200").status_code == 429


def test_coordinators_cannot_open_the_lockout_list(cora):
    lock("drphys")
    assert verified_client(cora).get("/admin/axes/accessattempt/").status_code == 403


# --- Second factor ---------------------------------------------------------------------------------


@pytest.fixture
def mfa_on(settings):
    settings.AUTH_MFA_REQUIRED = True


def test_production_requires_the_second_factor_by_default():
    from tests.test_settings import PRODUCTION  # a production environment that passes its start-up checks

    env = {k: v for k, v in os.environ.items() if k != "AUTH_MFA_REQUIRED"}
    env.update(PRODUCTION)
    code = "import django; django.setup(); from django.conf import settings; print(settings.AUTH_MFA_REQUIRED)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            cwd=settings.BASE_DIR, check=True)
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_without_the_setting_a_password_signs_in(cora):
    client = Client()
    assert post_login(client, "/login/", "cora", PASSWORD).status_code == 302
    assert signed_in(client)


def test_first_sign_in_enrols_an_authenticator_then_shows_recovery_codes_once(mfa_on, cora, _frozen):
    client = Client()
    response = post_login(client, "/login/?next=/board/", "cora", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/login/authenticator/"
    assert not signed_in(client)
    assert client.get("/worklist/").status_code == 302  # still signed out

    page = client.get("/login/authenticator/")
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and "otpauth://totp/" in html
    device = TOTPDevice.objects.get(user=cora, confirmed=False)
    secret = html.split('id="totp-secret">')[1].split("<")[0]
    assert key_from_secret(secret) == device.bin_key

    assert client.post("/login/authenticator/", {"code": "000000"}).status_code == 422
    _frozen.shift(timedelta(seconds=5))
    response = client.post("/login/authenticator/", {"code": totp_code(device.bin_key)})
    assert response["Location"] == "/login/recovery-codes/"
    assert signed_in(client)

    codes_page = client.get("/login/recovery-codes/").content.decode()
    codes = list(StaticToken.objects.filter(device__user=cora).values_list("token", flat=True))
    assert len(codes) == 10 and all(code in codes_page for code in codes)
    assert 'href="/board/"' in codes_page
    assert client.get("/login/recovery-codes/").status_code == 302  # shown once
    assert client.get("/board/").status_code == 200


def test_a_enrolled_user_signs_in_with_the_current_code(mfa_on, cora, _frozen):
    device = authenticator(cora)
    client = Client()
    assert post_login(client, "/login/", "cora", PASSWORD)["Location"] == "/login/code/"
    assert client.get("/login/code/").status_code == 200

    wrong = client.post("/login/code/", {"code": "123456"})
    assert wrong.status_code == 422 and "That code is not right" in wrong.content.decode()
    assert not signed_in(client)

    _frozen.shift(timedelta(seconds=5))  # django-otp slows down guessing: one second after a wrong code
    response = client.post("/login/code/", {"code": totp_code(device.bin_key)})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_used_code_does_not_work_twice(mfa_on, cora):
    device = authenticator(cora)
    code = totp_code(device.bin_key)
    first = Client()
    post_login(first, "/login/", "cora", PASSWORD)
    assert first.post("/login/code/", {"code": code}).status_code == 302
    second = Client()
    post_login(second, "/login/", "cora", PASSWORD, address="10.0.5.5")
    assert second.post("/login/code/", {"code": code}).status_code == 422


def test_a_recovery_code_signs_in_once(mfa_on, cora, _frozen):
    authenticator(cora)
    from web.signin import recovery_codes_replace

    code = recovery_codes_replace(user=cora)[0]
    client = Client()
    post_login(client, "/login/", "cora", PASSWORD)
    assert client.post("/login/code/", {"code": code.upper()}).status_code == 302
    again = Client()
    post_login(again, "/login/", "cora", PASSWORD)
    assert again.post("/login/code/", {"code": code}).status_code == 422


def test_wrong_codes_count_towards_the_lockout(mfa_on, cora, _frozen):
    authenticator(cora)
    client = Client()
    post_login(client, "/login/", "cora", PASSWORD)
    for _ in range(LIMIT):
        _frozen.shift(timedelta(minutes=1))
        client.post("/login/code/", {"code": "000000"}, REMOTE_ADDR="10.0.0.1")
    assert post_login(Client(), "/login/", "cora", PASSWORD, address="10.0.6.6").status_code == 429
    assert "000000" not in " ".join(AccessAttempt.objects.values_list("post_data", flat=True))


def test_a_lock_that_starts_after_the_password_stops_the_code_step(mfa_on, cora, _frozen):
    device = authenticator(cora)
    client = Client()
    post_login(client, "/login/", "cora", PASSWORD)
    lock("cora")  # someone else, elsewhere, meanwhile
    response = client.post("/login/code/", {"code": totp_code(device.bin_key)})
    assert response.status_code == 429 and "Sign-in is paused" in response.content.decode()
    assert not signed_in(client)


def test_the_code_step_expires(mfa_on, cora, _frozen):
    device = authenticator(cora)
    client = Client()
    post_login(client, "/login/", "cora", PASSWORD)
    _frozen.shift(timedelta(minutes=settings.AUTH_MFA_STEP_MINUTES, seconds=1))
    response = client.post("/login/code/", {"code": totp_code(device.bin_key)})
    assert response["Location"] == "/login/?expired=1"
    assert not signed_in(client)


def test_the_code_step_does_not_redirect_off_site(mfa_on, cora):
    device = authenticator(cora)
    client = Client()
    post_login(client, "/login/?next=https://evil.example/", "cora", PASSWORD)
    assert client.post("/login/code/", {"code": totp_code(device.bin_key)})["Location"] == "/"


def test_the_admin_login_asks_for_the_code_too(mfa_on, cora):
    device = authenticator(cora)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "cora", "password": PASSWORD})
    assert response["Location"] == "/login/code/"
    assert client.get("/admin/").status_code == 302
    assert client.post("/login/code/", {"code": totp_code(device.bin_key)})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_session_without_the_second_factor_counts_as_signed_out(mfa_on, cora):
    client = Client()
    client.force_login(cora)
    assert client.get("/worklist/").status_code == 302
    assert client.get("/admin/").status_code == 302
    assert client.get("/api/v1/patients/").status_code in (401, 403)
    verified = verified_client(cora)
    assert verified.get("/worklist/").status_code == 200
    assert verified.get("/api/v1/patients/").status_code == 200


def test_front_desk_needs_no_second_factor(mfa_on, front_desk):
    client = Client()
    assert post_login(client, "/login/", "desk", PASSWORD)["Location"] == "/"
    assert signed_in(client)


# --- Lost authenticator: reset by the clinic administrator -----------------------------------------


def reset_devices(admin_client, user):
    ids = [str(pk) for pk in TOTPDevice.objects.filter(user=user).values_list("pk", flat=True)]
    return admin_client.post("/admin/otp_totp/totpdevice/", {"action": "reset", "_selected_action": ids})


def test_the_clinic_administrator_resets_a_lost_authenticator(mfa_on, cora, north_admin):
    from web.signin import recovery_codes_replace

    authenticator(cora)
    recovery_codes_replace(user=cora)
    listing = north_admin.get("/admin/otp_totp/totpdevice/").content.decode()
    assert "cora" in listing and "north-admin" in listing  # the administrator's own device is theirs too
    assert reset_devices(north_admin, cora).status_code == 302
    assert not TOTPDevice.objects.filter(user=cora).exists()
    assert not StaticToken.objects.filter(device__user=cora).exists()
    assert post_login(Client(), "/login/", "cora", PASSWORD)["Location"] == "/login/authenticator/"


def test_another_clinics_administrator_cannot_reset_an_authenticator(mfa_on, cora, south_admin):
    authenticator(cora)
    assert "cora" not in south_admin.get("/admin/otp_totp/totpdevice/").content.decode()
    reset_devices(south_admin, cora)
    assert TOTPDevice.objects.filter(user=cora).exists()


def test_the_admin_never_shows_an_authenticators_secret(cora):
    device = authenticator(cora)
    superuser = verified_client(UserFactory(username="root", is_superuser=True, is_staff=True))
    page = superuser.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page and "qrcode" not in page


def test_the_admin_login_shows_its_form_to_someone_the_admin_refuses(front_desk, cora):
    client = Client()
    client.force_login(front_desk)
    assert client.get("/admin/login/?next=/admin/").status_code == 200  # no loop back to /admin/
    assert verified_client(cora).get("/admin/login/")["Location"] == "/admin/"
