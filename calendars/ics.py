"""Appointments as iCalendar (RFC 5545), through the icalendar library.

What an event says: the kind of appointment, the patient's initials and the clinic as its place; never a full
name, an MRN or a diagnosis (a subscribed calendar is synced to phones and third-party servers).
- UID: the appointment's external id @ CALENDARS_UID_DOMAIN, so a reschedule moves the same event.
- SEQUENCE: whole seconds from the appointment's creation to its last change: every saved change (a reschedule,
  a cancellation) raises it, with no counter of its own in the pathway's tables.
- DTSTAMP and LAST-MODIFIED: the last change (a calendar without METHOD takes DTSTAMP as the revision time).
- STATUS: CANCELLED for cancelled and entered-in-error appointments (calendars then remove them), else CONFIRMED.
- Times carry the clinic's TZID with its VTIMEZONE (or are UTC for a clinic on UTC).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta

from django.conf import settings
from icalendar import Calendar, Event, vDuration

from pathway.clinic_time import clinic_zone
from pathway.models import Appointment
from pathway.stages import AppointmentStatus

PRODID = "-//DRG pathway//Calendar feed//EN"
REFRESH = timedelta(hours=1)  # how often a subscribed calendar is asked to read the feed again
REMOVED = frozenset({AppointmentStatus.CANCELLED, AppointmentStatus.ENTERED_IN_ERROR})


def initials(patient) -> str:
    return "".join(f"{name.strip()[0].upper()}." for name in (patient.given_name, patient.family_name)
                   if name.strip())


def appointment_uid(appointment: Appointment) -> str:
    return f"{appointment.external_id}@{settings.CALENDARS['UID_DOMAIN']}"


def appointment_event(appointment: Appointment, *, for_patient: bool = False) -> Event:
    """A staff calendar's event names the patient by initials; the patient's own file names no one and says
    how to reach the clinic."""
    zone = clinic_zone(appointment.clinic)
    zone = UTC if zone.key == "UTC" else zone
    kind = appointment.get_kind_display()
    changed = appointment.updated_at.astimezone(UTC)
    event = Event.new(
        uid=appointment_uid(appointment),
        summary=kind if for_patient else f"{kind} · {initials(appointment.patient)}",
        description=(f"To change or cancel, call {appointment.clinic.name} on {appointment.clinic.phone}."
                     if for_patient else None),
        location=appointment.clinic.name,
        start=appointment.starts_at.astimezone(zone),
        end=appointment.ends_at.astimezone(zone),
        stamp=changed,
        last_modified=changed,
        created=appointment.created_at.astimezone(UTC),
        sequence=max(int((appointment.updated_at - appointment.created_at).total_seconds()), 0),
        status="CANCELLED" if appointment.status in REMOVED else "CONFIRMED",
    )
    event.add("transp", "OPAQUE")
    return event


def calendar_of(appointments: Iterable[Appointment], *, name: str, uid: str, for_patient: bool = False) -> bytes:
    """`uid` names the calendar itself (RFC 7986), the same on every read of one feed."""
    calendar = Calendar.new(prodid=PRODID, name=name, uid=f"{uid}@{settings.CALENDARS['UID_DOMAIN']}",
                            refresh_interval=REFRESH)
    calendar["REFRESH-INTERVAL"].params["VALUE"] = "DURATION"  # RFC 7986 requires it stated
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-published-ttl", vDuration(REFRESH))  # Outlook's and Google's name for the same hint
    for appointment in appointments:
        calendar.add_component(appointment_event(appointment, for_patient=for_patient))
    calendar.add_missing_timezones()
    return calendar.to_ical()
