"""Reads of calendar feeds: a feed by its token, the appointments it shows, the feeds a page lists.

A feed shows the appointments of its owner only: a clinic feed those of its clinic, a physician's feed those
of which they are the physician (the episode's, else the patient's primary physician, as the schedule decides)
in the clinics where they are still a physician. One query whatever the number of appointments.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from pathway.actors import Actor
from pathway.models import Appointment, Clinic, Patient
from pathway.stages import AppointmentStatus, Role

from .models import CalendarFeed
from .services import feed_may_manage, token_hash

UPCOMING_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)


def feed_by_token(*, token: str) -> CalendarFeed | None:
    """The live feed the token opens, or None (unknown, revoked, or its physician no longer one)."""
    feed = (CalendarFeed.objects.filter(token_hash=token_hash(token), revoked_at__isnull=True)
            .select_related("physician", "clinic").first())
    if feed is None or feed.clinic_id is not None:
        return feed
    if not feed.physician.is_active or not Actor.for_user(feed.physician).clinic_ids_for(Role.PHYSICIAN):
        return None
    return feed


def feed_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return (now - timedelta(days=settings.CALENDARS["PAST_DAYS"]),
            now + timedelta(days=settings.CALENDARS["FUTURE_DAYS"]))


def feed_appointments(*, feed: CalendarFeed, now: datetime | None = None) -> QuerySet[Appointment]:
    start, end = feed_window(now)
    appointments = Appointment.objects.filter(starts_at__gte=start, starts_at__lt=end)
    if feed.clinic_id is not None:
        appointments = appointments.filter(clinic_id=feed.clinic_id)
    else:
        physician = feed.physician
        appointments = appointments.filter(
            Q(episode__physician=physician) | Q(episode__isnull=True, patient__primary_physician=physician),
            clinic_id__in=Actor.for_user(physician).clinic_ids_for(Role.PHYSICIAN),
        )
    return appointments.select_related("clinic", "patient").order_by("starts_at", "pk")


def patient_upcoming_appointments(*, patient: Patient, now: datetime | None = None) -> QuerySet[Appointment]:
    """What a patient takes home: their booked (or checked-in) appointments from now on."""
    return (Appointment.objects.filter(patient=patient, starts_at__gte=now or timezone.now(),
                                       status__in=UPCOMING_STATUSES)
            .select_related("clinic", "patient").order_by("starts_at", "pk"))


def feeds_for(*, actor: Actor, clinics: list[Clinic]) -> dict:
    """The feed page's lists: the physician's own feeds, and each clinic's where the user coordinates it
    (newest first, the live one and the few revoked before it)."""
    user = actor.user
    own = list(CalendarFeed.objects.filter(physician=user).select_related("created_by", "revoked_by")[:5]) \
        if actor.clinic_ids_for(Role.PHYSICIAN) else None
    managed = [c for c in clinics if actor.role_in(c.pk) in (Role.COORDINATOR, Role.ADMIN)]
    by_clinic: dict[int, list[CalendarFeed]] = {c.pk: [] for c in managed}
    rows = (CalendarFeed.objects.filter(clinic__in=managed).select_related("clinic", "created_by", "revoked_by")
            if managed else [])
    for feed in rows:
        if len(by_clinic[feed.clinic_id]) < 5:
            by_clinic[feed.clinic_id].append(feed)
    return {"own": own, "clinics": [(c, by_clinic[c.pk]) for c in managed]}


def feed_for(*, actor: Actor, external_id) -> CalendarFeed | None:
    """A feed the actor may manage (others are absent, so the page answers "not found")."""
    feed = CalendarFeed.objects.filter(external_id=external_id).select_related("physician", "clinic").first()
    if feed is None or not feed_may_manage(actor=actor, physician=feed.physician, clinic=feed.clinic):
        return None
    return feed
