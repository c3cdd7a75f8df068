"""Who is calling: an integration's API key (`Authorization: Api-Key <key>`) or a signed-in person."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from pathway.actors import Actor

from .audit import api_key_note_address
from .models import ClinicAPIKey


class KeyExpired(AuthenticationFailed):
    default_code = "api_key_expired"


class KeyPrincipal:
    """Stands in for `request.user` when a key authenticates; the key itself is `request.auth`."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    pk = None

    def __init__(self, api_key: ClinicAPIKey):
        self.api_key = api_key

    def get_username(self) -> str:
        return f"API key {self.api_key.prefix}"

    def __str__(self) -> str:
        return self.get_username()


class ClinicAPIKeyAuthentication(BaseAuthentication):
    keyword = "Api-Key"
    # The schemes the key may be sent under; the FHIR interface adds "Bearer", as FHIR clients send.
    keywords: tuple[str, ...] = ("Api-Key",)

    def authenticate(self, request):
        keyword, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if keyword not in self.keywords:
            return None
        key = key.strip()
        try:
            api_key = _checked_key(key) if key else None
        except ClinicAPIKey.DoesNotExist:
            api_key = None
        if api_key is None:
            raise AuthenticationFailed("The API key is unknown or revoked.")
        if api_key.has_expired:
            raise KeyExpired(f"This API key expired at {api_key.expiry_date:%Y-%m-%d %H:%M} UTC. Ask the clinic "
                             "administrator for its replacement.")
        _note_use(api_key)
        api_key_note_address(request=request, api_key=api_key)
        return KeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


# Keys this process has checked: sha256 of the key -> (until, the key's row). Unknown keys are never kept.
_checked: dict[str, tuple[float, ClinicAPIKey]] = {}
_CHECKED_MAX = 1000


def _checked_key(key: str) -> ClinicAPIKey:
    """The usable key's row, from this process's memory for API["KEY_CACHE_SECONDS"] after it was checked
    (the hash and the lookup cost more than the rest of the authentication); raises DoesNotExist."""
    seconds = settings.API["KEY_CACHE_SECONDS"]
    digest = hashlib.sha256(key.encode()).hexdigest()
    now = time.time()
    if seconds > 0 and (kept := _checked.get(digest)) is not None and kept[0] > now:
        return kept[1]
    api_key = ClinicAPIKey.objects.get_from_key(key)
    if seconds > 0:
        if len(_checked) >= _CHECKED_MAX:
            _checked.clear()
        _checked[digest] = (now + seconds, api_key)
    return api_key


@receiver(post_save, sender=ClinicAPIKey, dispatch_uid="api-key-forget-checked")
@receiver(post_delete, sender=ClinicAPIKey, dispatch_uid="api-key-forget-checked-delete")
def _forget_checked(**kwargs) -> None:
    """A key saved here (revoked, rotated, its expiry changed) is checked again by this process at once."""
    _checked.clear()


def _note_use(api_key: ClinicAPIKey) -> None:
    """Record the key's use, writing at most once per resolution window instead of on every request."""
    now = timezone.now()
    resolution = timedelta(seconds=settings.API["KEY_LAST_USED_RESOLUTION_SECONDS"])
    if api_key.last_used_at is None or now - api_key.last_used_at >= resolution:
        ClinicAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def actor_for(request) -> Actor:
    """The pathway Actor of a DRF request, built once per request."""
    actor = getattr(request, "_pathway_actor", None)
    if actor is None:
        if isinstance(request.auth, ClinicAPIKey):
            actor = Actor.for_api_key(request.auth)
        elif request.user is not None and request.user.is_authenticated:
            actor = Actor.for_user(request.user)
        else:
            actor = Actor(roles={})
        request._pathway_actor = actor
    return actor
