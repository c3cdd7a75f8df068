"""What notifications does when the pathway announces a change (events.bus): subscribed in NotificationsConfig.

Each runs inside the transaction of the change, so reminders re-planned for a booking commit with it (the
exactly-once guarantees of docs/reminders.md rest on that).
"""

from __future__ import annotations

from events.bus import Occurrence, subscribe
from events.models import EventType
from pathway.stages import Stage

from . import services

APPOINTMENT_EVENTS = (
    EventType.APPOINTMENT_BOOKED, EventType.APPOINTMENT_RESCHEDULED, EventType.APPOINTMENT_CANCELLED,
    EventType.APPOINTMENT_CHECKED_IN, EventType.APPOINTMENT_COMPLETED, EventType.APPOINTMENT_NO_SHOW,
    EventType.APPOINTMENT_ENTERED_IN_ERROR,
)


def replan_reminders(occurrence: Occurrence) -> None:
    services.reminders_sync_for_appointment(appointment=occurrence.appointment)


def diary_prompts_follow_the_trial(occurrence: Occurrence) -> None:
    payload = occurrence.event.payload
    if payload["transition"] == "start_trial":
        services.diary_prompts_schedule(episode=occurrence.episode)
    elif payload["from_stage"] == Stage.TRIAL:
        services.diary_prompts_cancel(episode=occurrence.episode)


def stop_sms_on_stop_reply(occurrence: Occurrence) -> None:
    """A STOP reply cancels the SMS not yet sent at once; consent changed on a page is re-planned by the
    resync job (reminders_resync_changed_patients), as before."""
    payload = occurrence.event.payload
    if payload.get("method") == "sms_reply" and payload["consents"].get("sms") is False:
        services.reminders_cancel_sms_for_patient(patient=occurrence.patient)


def connect() -> None:
    for event_type in APPOINTMENT_EVENTS:
        subscribe(event_type, replan_reminders)
    subscribe(EventType.EPISODE_TRANSITIONED, diary_prompts_follow_the_trial)
    subscribe(EventType.PATIENT_CONSENT_CHANGED, stop_sms_on_stop_reply)
