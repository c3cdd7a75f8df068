"""Making and revoking calendar feeds. Who may do either is decided here, in `feed_may_manage`, for the pages and
the admin alike: a physician their own feed; a clinic's coordinators and administrators its clinic feed; a
clinic's administrators the feeds of its physicians; superusers any."""

from __future__ import annotations

import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from pathway.actors import Actor
from pathway.errors import InvalidInput, NotPermitted
from pathway.models import Clinic
from pathway.stages import Role

from .models import CalendarFeed

TOKEN_BYTES = 32  # 43 URL-safe characters


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_may_manage(*, actor: Actor, physician=None, clinic: Clinic | None = None) -> bool:
    user = actor.user
    if user is None or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if clinic is not None:
        return actor.role_in(clinic.pk) in (Role.COORDINATOR, Role.ADMIN)
    if physician is None:
        return False
    physician_clinics = set(Actor.for_user(physician).clinic_ids_for(Role.PHYSICIAN))
    if physician.pk == user.pk:
        return bool(physician_clinics)
    return bool(physician_clinics & set(actor.clinic_ids_for(Role.ADMIN)))


def calendar_feed_create(*, actor: Actor, physician=None, clinic: Clinic | None = None) -> tuple[CalendarFeed, str]:
    """A new feed for the owner, and its token (returned once, never stored); the owner's live feed, if any,
    is revoked in the same transaction, so a "new link" is also how a leaked one is replaced."""
    if (physician is None) == (clinic is None):
        raise InvalidInput({"owner": ["Choose a physician or a clinic, not both."]})
    if physician is not None and not Actor.for_user(physician).clinic_ids_for(Role.PHYSICIAN):
        raise InvalidInput({"physician": ["Only a physician has a personal calendar feed."]})
    if not feed_may_manage(actor=actor, physician=physician, clinic=clinic):
        raise NotPermitted("Your role may not manage this calendar feed.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    owner = {"physician": physician} if physician is not None else {"clinic": clinic}
    with transaction.atomic():
        # Two "new link" presses at once: the one-live-feed constraints let exactly one through.
        live = CalendarFeed.objects.select_for_update().filter(revoked_at__isnull=True, **owner)
        live.update(revoked_at=now, revoked_by=actor.user)
        try:
            with transaction.atomic():
                feed = CalendarFeed.objects.create(token_hash=token_hash(token), created_by=actor.user,
                                                   created_at=now, **owner)
        except IntegrityError as error:
            raise InvalidInput({"owner": ["Someone made a new link at the same moment; reload the page."]}) \
                from error
    return feed, token


def calendar_feed_revoke(*, actor: Actor, feed: CalendarFeed) -> CalendarFeed:
    if not feed_may_manage(actor=actor, physician=feed.physician, clinic=feed.clinic):
        raise NotPermitted("Your role may not manage this calendar feed.")
    CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor.user)
    feed.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return feed


def calendar_feed_note_use(*, feed: CalendarFeed) -> None:
    now = timezone.now()
    CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    feed.last_used_at = now
