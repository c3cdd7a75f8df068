"""Signing in: who must confirm with a one-time code, the half-signed-in step between password and code,
enrolment of an authenticator app, and how a lockout is answered and logged.

A correct password alone never logs a user in who needs a second factor: the session only remembers, for a
few minutes, whose password was right. `auth.login` runs once the code is right, with the device attached,
so every signed-in session of such a user is a verified one (django-otp's `is_verified()`).
`VerifiedSessionMiddleware` enforces that for sessions made any other way (before the setting was turned
on, or by `force_login`): they count as anonymous everywhere, pages, admin and API alike.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from base64 import b32encode
from datetime import datetime, timedelta
from urllib.parse import quote

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.shortcuts import render, resolve_url
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from pathway.models import Membership
from pathway.stages import Role

log = logging.getLogger(__name__)

PENDING_KEY = "signin_pending"
RECOVERY_SHOWN_KEY = "signin_recovery_codes"
MFA_ROLES = (Role.COORDINATOR, Role.PHYSICIAN, Role.ADMIN)


def mfa_required_for(user) -> bool:
    """Clinical staff, clinic administrators and superusers confirm sign-in when AUTH_MFA_REQUIRED is on."""
    if not settings.AUTH_MFA_REQUIRED or not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return Membership.objects.filter(user=user, role__in=MFA_ROLES).exists()


class VerifiedSessionMiddleware:
    """After django-otp's middleware: a session without a verified device is anonymous for a user who needs one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        request.user = SimpleLazyObject(lambda: _verified_or_anonymous(user))
        return self.get_response(request)


def _verified_or_anonymous(user):
    if mfa_required_for(user) and not user.is_verified():
        return AnonymousUser()
    return user


# --- Between password and code --------------------------------------------------------------------


def pending_start(request, *, user, redirect_to: str) -> None:
    """Remember whose password was right; a new session key, so a planted session id learns nothing."""
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        "at": timezone.now().isoformat(),
        "next": redirect_to,
    }


def pending_user(request):
    """The user whose password was right in the last few minutes, or None."""
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return None
    started = datetime.fromisoformat(pending["at"])
    if timezone.now() - started > timedelta(minutes=settings.AUTH_MFA_STEP_MINUTES):
        del request.session[PENDING_KEY]
        return None
    user = auth.get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is not None:
        user.backend = pending["backend"]
    return user


def pending_next(request) -> str:
    return request.session.get(PENDING_KEY, {}).get("next") or resolve_url(settings.LOGIN_REDIRECT_URL)


def pending_finish(request, *, user, device) -> None:
    """The code was right: sign in for real, with the device recorded in the session."""
    del request.session[PENDING_KEY]
    user.otp_device = device  # django-otp's user_logged_in receiver stores it in the session
    auth.login(request, user)


def has_device(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def code_matches(*, user, code: str):
    """The confirmed device (TOTP or recovery codes) that accepts `code`, or None; each device throttles itself."""
    code = "".join(code.split()).lower()
    if not code:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, for_verify=True):
            if device.verify_token(code):
                return device
    return None


# --- Enrolment ------------------------------------------------------------------------------------


def enrolment_device(*, user) -> TOTPDevice:
    """The user's unconfirmed authenticator, made on first sight so a reload shows the same secret."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def enrolment_secret(device: TOTPDevice) -> str:
    """The key as an authenticator app expects it when typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def enrolment_qr_svg(device: TOTPDevice) -> str:
    return segno.make(device.config_url, error="m").svg_inline(scale=4, title="Authenticator set-up code")


@transaction.atomic
def enrolment_confirm(*, user, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the app with one code; returns fresh recovery codes (replacing any old ones), or None."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    if not device.verify_token("".join(code.split())):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return recovery_codes_replace(user=user)


def recovery_codes_replace(*, user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.AUTH_MFA_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return codes


# --- Lockout --------------------------------------------------------------------------------------


def locked_out(request, *, user) -> bool:
    """Whether the username or the address is locked: the code step honours a lock that started after the
    password was accepted (wrong codes, or wrong passwords from elsewhere)."""
    AxesProxyHandler.update_request(request)
    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked username or address: say what happened and who can lift it."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "web/locked_out.html", {"minutes": minutes}, status=429)


def client_str(username, ip_address, user_agent, path_info, request) -> str:
    """What django-axes logs about an attempt: no password ever reaches it, and the typed username (which may
    be a mistyped password) only as a keyed digest that still lets one follow a series of attempts."""
    digest = hmac.new(settings.SECRET_KEY.encode(), (username or "").encode(), hashlib.sha256).hexdigest()[:12]
    return f"{{user: {digest}, address: {ip_address}, path: {quote(path_info or '')}}}"
