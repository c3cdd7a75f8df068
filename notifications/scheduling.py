"""When a message may go out: offsets, quiet hours and daylight saving, as pure functions of time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from pathway.stages import PROCEDURE_KINDS, Channel

from .models import ReminderChannel


def _config() -> dict:
    return settings.NOTIFICATIONS


def parse_clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def offsets_for_kind(kind: str) -> list[int]:
    """Hours before the appointment, largest first."""
    config = _config()
    if kind in config["OFFSETS_BY_KIND"]:
        hours = list(config["OFFSETS_BY_KIND"][kind])
    else:
        hours = list(config["REMINDER_OFFSETS_HOURS"])
        if kind in PROCEDURE_KINDS:
            hours += list(config["PROCEDURE_EXTRA_OFFSETS_HOURS"])
    return sorted(set(hours), reverse=True)


def at_local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A clinic-local wall time as UTC. A time skipped by a spring-forward change falls after the gap."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def wall_clock_before(starts_at: datetime, hours: int, zone: ZoneInfo) -> datetime:
    """`hours` before `starts_at` on the clinic's wall clock: 24 h before 10:00 is 10:00 the day before,
    even when a daylight-saving change makes that 23 or 25 real hours."""
    local = starts_at.astimezone(zone).replace(tzinfo=None) - timedelta(hours=hours)
    return local.replace(tzinfo=zone).astimezone(UTC)


def in_quiet_hours(moment: datetime, zone: ZoneInfo) -> bool:
    start, end = parse_clock(_config()["QUIET_START"]), parse_clock(_config()["QUIET_END"])
    clock = moment.astimezone(zone).time()
    if start <= end:
        return start <= clock < end
    return clock >= start or clock < end


def out_of_quiet_hours(moment: datetime, zone: ZoneInfo) -> datetime:
    """The moment itself when allowed; else the last allowed time before the quiet period it falls in."""
    if not in_quiet_hours(moment, zone):
        return moment
    start = parse_clock(_config()["QUIET_START"])
    local = moment.astimezone(zone)
    began = local.date() if local.time() >= start else local.date() - timedelta(days=1)
    return at_local(began, start, zone) - timedelta(minutes=_config()["QUIET_MARGIN_MINUTES"])


@dataclass(frozen=True)
class Plan:
    due_at: datetime
    skip_reason: str = ""


def plan_appointment_reminder(*, starts_at: datetime, hours: int, zone: ZoneInfo, now: datetime) -> Plan:
    wanted = wall_clock_before(starts_at, hours, zone)
    due = out_of_quiet_hours(wanted, zone)
    lateness = timedelta(minutes=_config()["MAX_LATENESS_MINUTES"])
    if due >= starts_at:
        return Plan(due, "quiet hours leave no time to send it before the appointment")
    if due < now - lateness:
        if due != wanted:
            return Plan(due, "its time was moved out of quiet hours to a time that had already passed")
        return Plan(due, "the appointment was booked after this reminder's time")
    return Plan(due)


def lateness_problem(*, scheduled_for: datetime, appointment_starts_at: datetime | None, now: datetime) -> str:
    """Why a due message must not go out now, or ''."""
    if appointment_starts_at is not None and now >= appointment_starts_at:
        return "the appointment had started before it could be sent"
    late = now - scheduled_for
    if late > timedelta(minutes=_config()["MAX_LATENESS_MINUTES"]):
        return f"too late to send: {int(late.total_seconds() // 60)} minutes past its time"
    return ""


NO_CHANNEL = "no SMS consent with a phone number, and no email consent with an address"


def patient_channel(patient) -> tuple[str | None, str]:
    """The channel to reach a patient by (preference first, then the other), or None and why not."""
    allowed = {
        ReminderChannel.SMS: bool(patient.sms_consent and patient.phone),
        ReminderChannel.EMAIL: bool(patient.email_consent and patient.email),
    }
    if patient.preferred_channel == Channel.NONE:
        return None, "the patient asked for no reminders"
    preferred = ReminderChannel(patient.preferred_channel)
    other = ReminderChannel.EMAIL if preferred == ReminderChannel.SMS else ReminderChannel.SMS
    for channel in (preferred, other):
        if allowed[channel]:
            return channel, ""
    return None, NO_CHANNEL
