"""Creating and rotating integrations' API keys (the keys themselves are shown once, never stored in clear)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from pathway.models import Clinic

from .models import ClinicAPIKey


def api_key_create(*, clinic: Clinic, role: str, name: str,
                   expires_at: datetime | None = None) -> tuple[ClinicAPIKey, str]:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry is in the past.")
    return ClinicAPIKey.objects.create_key(clinic=clinic, role=role, name=name, expiry_date=expires_at)


@transaction.atomic
def api_key_rotate(*, api_key: ClinicAPIKey, grace: timedelta,
                   expires_at: datetime | None = None) -> tuple[ClinicAPIKey, str]:
    """A successor with the same clinic, role and name; the old key keeps working for `grace` (no longer than
    it would have anyway), or is revoked at once when `grace` is zero."""
    old = ClinicAPIKey.objects.select_for_update().get(pk=api_key.pk)
    if old.revoked or old.has_expired:
        raise ValueError(f"Key {old.prefix} is already revoked or expired; create a new one instead.")
    if hasattr(old, "replaced_by"):
        raise ValueError(f"Key {old.prefix} was already rotated (to {old.replaced_by.prefix}).")
    new, key = api_key_create(clinic=old.clinic, role=old.role, name=old.name, expires_at=expires_at)
    new.replaces = old
    new.save(update_fields=["replaces"])
    if grace <= timedelta(0):
        old.revoked = True
    else:
        ends = timezone.now() + grace
        old.expiry_date = min(old.expiry_date, ends) if old.expiry_date else ends
    old.save(update_fields=["revoked", "expiry_date"])
    return new, key


def expiry_parse(text: str) -> datetime:
    """`90d` (days from now), `2027-03-01` (00:00 UTC that day) or an ISO date-time with its offset."""
    text = text.strip()
    if text.endswith("d") and text[:-1].isdigit():
        return timezone.now() + timedelta(days=int(text[:-1]))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a number of days (90d), a date (2027-03-01) or an ISO date-time.') from None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
