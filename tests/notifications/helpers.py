from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from notifications import services
from notifications.models import Reminder

CHICAGO = ZoneInfo("America/Chicago")


def chicago(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def book(patient, front_desk, kind: str, starts_at: datetime, minutes: int = 30):
    from pathway.services import appointment_book

    return appointment_book(patient=patient, actor=front_desk, kind=kind, starts_at=starts_at,
                            ends_at=starts_at + timedelta(minutes=minutes))


def send_due(now: datetime | None = None) -> list[str]:
    """One sweep and the sends it enqueues, in process: what a worker does."""
    return [services.reminder_send(reminder_id=c.reminder_id, claim=c.token)
            for c in services.reminders_claim_due(now=now)]


def rows(appointment) -> dict[str, Reminder]:
    return {r.purpose: r for r in Reminder.objects.filter(appointment=appointment, status__in=["pending", "skipped"])}
