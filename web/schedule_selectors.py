"""The schedule's reads: one clinic's appointments over a day or a week, cut into the clinic's slots.

Two queries whatever the number of appointments: the appointments (with patient, episode and physician joined)
and one aggregate of their reminders' outcomes. Times are the clinic's own (pathway.clinic_time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from notifications.models import Reminder, ReminderStatus
from pathway import selectors
from pathway.actors import Actor
from pathway.clinic_time import clinic_zone, start_of_day
from pathway.models import Appointment, Clinic, Episode
from pathway.stages import CLINICAL_ROLES, OPEN_STAGES, AppointmentStatus

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A cancelled appointment stays on the list (the desk sees what happened) but leaves its slot free.
FREEING_STATUSES = frozenset({AppointmentStatus.CANCELLED, AppointmentStatus.ENTERED_IN_ERROR})
# The order a summary names reminders' outcomes in: what needs a person first.
REMINDER_ORDER = (ReminderStatus.FAILED, ReminderStatus.SENT, ReminderStatus.SENDING, ReminderStatus.PENDING,
                  ReminderStatus.SKIPPED)


@dataclass(frozen=True)
class Hours:
    """The clinic's opening hours as minutes after local midnight, its open weekdays and its slot length."""

    opens: int
    closes: int
    slot: int
    days: frozenset[int]

    @classmethod
    def from_settings(cls) -> Hours:
        def minutes(text: str) -> int:
            parsed = time.fromisoformat(text)
            return parsed.hour * 60 + parsed.minute

        return cls(opens=minutes(settings.WEB_SCHEDULE_OPENS), closes=minutes(settings.WEB_SCHEDULE_CLOSES),
                   slot=settings.WEB_SCHEDULE_SLOT_MINUTES,
                   days=frozenset(WEEKDAYS.index(d.strip().lower()[:3]) for d in settings.WEB_SCHEDULE_DAYS))

    def is_open(self, day: date) -> bool:
        return day.weekday() in self.days


@dataclass(frozen=True)
class Reminders:
    """What an appointment's reminders came to: "1 sent, 1 pending"; failed ones flagged."""

    text: str
    failed: bool


@dataclass
class Entry:
    appointment: Appointment
    physician: object | None
    reminders: Reminders

    @property
    def active(self) -> bool:
        return self.appointment.status not in FREEING_STATUSES


@dataclass
class Slot:
    starts_at: datetime
    ends_at: datetime
    entries: list[Entry] = field(default_factory=list)
    busy: bool = False
    bookable: bool = False

    @property
    def minute(self) -> int:
        return self.starts_at.hour * 60 + self.starts_at.minute


@dataclass
class Day:
    date: date
    is_open: bool
    slots: list[Slot]
    url: str = ""

    @property
    def entries(self) -> list[Entry]:
        return [entry for slot in self.slots for entry in slot.entries]


def appointment_physician(appointment: Appointment):
    """Appointments have no physician of their own: the episode's, else the patient's primary physician."""
    if appointment.episode_id is not None:
        return appointment.episode.physician
    return appointment.patient.primary_physician


def schedule_appointments(*, actor: Actor, clinic: Clinic, start: datetime, end: datetime,
                          physician=None) -> QuerySet[Appointment]:
    appointments = (
        selectors.appointments_for(actor=actor)
        .filter(clinic_id=clinic.pk, starts_at__gte=start, starts_at__lt=end)
        .filter(clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES))
        .exclude(status=AppointmentStatus.ENTERED_IN_ERROR)
        .select_related("episode__physician", "patient__primary_physician")
    )
    if physician is not None:
        appointments = appointments.filter(
            Q(episode__physician=physician) | Q(episode__isnull=True, patient__primary_physician=physician)
        )
    return appointments.order_by("starts_at", "pk")


def reminder_summaries(appointment_ids: list[int]) -> dict[int, Reminders]:
    counts: dict[int, dict[str, int]] = {pk: {} for pk in appointment_ids}
    rows = (
        Reminder.objects.filter(appointment_id__in=appointment_ids).order_by()
        .values("appointment_id", "status").annotate(n=Count("pk"))
    ) if appointment_ids else []
    for row in rows:
        counts[row["appointment_id"]][row["status"]] = row["n"]
    return {pk: _summary(by_status) for pk, by_status in counts.items()}


def _summary(by_status: dict[str, int]) -> Reminders:
    parts = [f"{by_status[s]} {ReminderStatus(s).label.lower()}" for s in REMINDER_ORDER if by_status.get(s)]
    if not parts:
        # Cancelled reminders only matter when nothing else is left (the appointment was cancelled, or moved
        # to a time too close for any reminder).
        return Reminders("all cancelled" if by_status.get(ReminderStatus.CANCELLED) else "none", failed=False)
    return Reminders(", ".join(parts), failed=bool(by_status.get(ReminderStatus.FAILED)))


def entries_for(appointments: list[Appointment]) -> list[Entry]:
    summaries = reminder_summaries([a.pk for a in appointments])
    return [Entry(appointment=a, physician=appointment_physician(a), reminders=summaries[a.pk])
            for a in appointments]


def schedule_entry(*, actor: Actor, appointment: Appointment) -> Entry:
    """One appointment as the schedule shows it (after a check-in from the list)."""
    appointment = (selectors.appointments_for(actor=actor).select_related(
        "episode__physician", "patient__primary_physician").get(pk=appointment.pk))
    return entries_for([appointment])[0]


def schedule_days(
    *, actor: Actor, clinic: Clinic, first: date, days: int, physician=None, kind: str = "",
    hours: Hours | None = None, now: datetime | None = None,
) -> list[Day]:
    """`days` days from `first`, each cut into slots. A slot is busy when an appointment of the chosen physician
    (any kind: a physician busy with imaging is not free for a consultation) overlaps it, and bookable when it
    is free, within opening hours and not yet begun. Only appointments of `kind` are listed."""
    hours = hours or Hours.from_settings()
    now = now or timezone.now()
    zone = clinic_zone(clinic)
    appointments = list(schedule_appointments(
        actor=actor, clinic=clinic, start=start_of_day(clinic, first),
        end=start_of_day(clinic, first + timedelta(days=days)), physician=physician,
    ))
    entries = entries_for(appointments)
    by_day: dict[date, list[Entry]] = {first + timedelta(days=i): [] for i in range(days)}
    for entry in entries:
        by_day[entry.appointment.starts_at.astimezone(zone).date()].append(entry)
    return [_day(clinic, day, day_entries, hours, kind, now) for day, day_entries in by_day.items()]


def _minute(clinic: Clinic, day: date, moment: datetime) -> int:
    """The clinic's wall-clock minute of `moment` on `day` (a whole day's worth if it is past midnight): on the
    day clocks change, 10:00 is still slot 10:00, not the ninth hour after midnight."""
    local = moment.astimezone(clinic_zone(clinic))
    return local.hour * 60 + local.minute if local.date() == day else 24 * 60


def _day(clinic: Clinic, day: date, entries: list[Entry], hours: Hours, kind: str, now: datetime) -> Day:
    is_open = hours.is_open(day)
    begin, finish = (hours.opens, hours.closes) if is_open else (None, None)
    for entry in entries:
        # Slots stay aligned on the opening time; an appointment outside the hours extends the day's grid.
        begun = _minute(clinic, day, entry.appointment.starts_at)
        start = hours.opens + (begun - hours.opens) // hours.slot * hours.slot
        end = min(max(_minute(clinic, day, entry.appointment.ends_at), start + hours.slot), 24 * 60)
        end = hours.opens - (hours.opens - end) // hours.slot * hours.slot  # rounded up to a slot's end
        begin = start if begin is None else min(begin, start)
        finish = end if finish is None else max(finish, end)
    if begin is None:
        return Day(date=day, is_open=False, slots=[])
    zone = clinic_zone(clinic)
    slots = []
    for minute in range(max(begin, 0), min(finish, 24 * 60), hours.slot):
        starts_at = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
        slot_end = minute + hours.slot
        ends_at = (datetime.combine(day, time(slot_end // 60, slot_end % 60), tzinfo=zone) if slot_end < 24 * 60
                   else start_of_day(clinic, day + timedelta(days=1)))
        slot = Slot(starts_at=starts_at, ends_at=ends_at)
        for entry in entries:
            appointment = entry.appointment
            if entry.active and appointment.starts_at < ends_at and appointment.ends_at > starts_at:
                slot.busy = True
            if starts_at <= appointment.starts_at < ends_at and (not kind or appointment.kind == kind):
                slot.entries.append(entry)
        slot.bookable = (is_open and not slot.busy and hours.opens <= minute and slot_end <= hours.closes
                         and starts_at >= now)
        slots.append(slot)
    return Day(date=day, is_open=is_open, slots=slots)


def open_episodes_of(*, actor: Actor, patient) -> list[Episode]:
    """The patient's open episodes, for the booking form's episode choice."""
    return list(selectors.clinical_episodes_for(actor=actor).filter(patient=patient, stage__in=OPEN_STAGES)
                .order_by("-created_at"))
