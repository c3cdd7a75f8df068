"""What each message says. Minimal by rule (DOMAIN.md "Reminders"): clinic name and phone, date and time in
the clinic's zone, how to confirm or opt out. No diagnosis, procedure name or pain details."""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.urls import reverse

from pathway.clinic_time import clinic_zone

from .channels import Message
from .models import Purpose, Reminder, ReminderChannel

DIARY_SALT = "notifications.diary-link"


def local_when(clinic, moment: datetime) -> str:
    """'Tue 10 Mar at 9:30 AM CDT' in the clinic's zone."""
    local = moment.astimezone(clinic_zone(clinic))
    return f"{local:%a} {local.day} {local:%b} at {local.hour % 12 or 12}:{local:%M} {local:%p} {local:%Z}"


def diary_token(*, episode_external_id, day: date) -> str:
    """Signed and timestamped; it names the episode's UUID and the day, nothing about the patient."""
    return signing.dumps({"e": str(episode_external_id), "d": day.isoformat()}, salt=DIARY_SALT, compress=False)


def read_diary_token(token: str) -> tuple[str, date]:
    """Raises signing.SignatureExpired for an old link and signing.BadSignature for an altered one."""
    max_age = settings.NOTIFICATIONS["DIARY_LINK_MAX_AGE_HOURS"] * 3600
    payload = signing.loads(token, salt=DIARY_SALT, max_age=max_age)
    return payload["e"], date.fromisoformat(payload["d"])


def diary_link(*, episode_external_id, day: date) -> str:
    path = reverse("notifications:diary", kwargs={"token": diary_token(episode_external_id=episode_external_id,
                                                                          day=day)})
    return settings.NOTIFICATIONS["PUBLIC_BASE_URL"].rstrip("/") + path


def _to_patient(reminder: Reminder, *, sms_text: str, subject: str, template: str, context: dict) -> Message:
    """The SMS text, or the e-mail from `template`.txt and .html, by the reminder's channel."""
    reference = str(reminder.external_id)
    if reminder.channel == ReminderChannel.SMS:
        return Message(to=reminder.patient.phone, text=sms_text, reference=reference)
    return Message(
        to=reminder.patient.email, subject=subject,
        text=render_to_string(f"{template}.txt", context), html=render_to_string(f"{template}.html", context),
        reference=reference,
    )


def appointment_reminder(reminder: Reminder) -> Message:
    clinic = reminder.clinic
    context = {"clinic": clinic, "when": local_when(clinic, reminder.appointment_starts_at)}
    return _to_patient(
        reminder, context=context, subject=f"Your appointment at {clinic.name}",
        template="notifications/email/appointment_reminder",
        sms_text=(f"{clinic.name}: reminder of your appointment on {context['when']}. Reply C to confirm. "
                  f"To change it call {clinic.phone}. Reply STOP to opt out."),
    )


def diary_prompt(reminder: Reminder) -> Message:
    clinic = reminder.clinic
    link = diary_link(episode_external_id=reminder.episode.external_id, day=reminder.for_date)
    hours = settings.NOTIFICATIONS["DIARY_LINK_MAX_AGE_HOURS"]
    return _to_patient(
        reminder, context={"clinic": clinic, "link": link, "hours": hours},
        subject=f"Today's diary — {clinic.name}", template="notifications/email/diary_prompt",
        sms_text=(f"{clinic.name}: please fill in today's diary: {link} (link works for {hours} h). "
                  f"Questions: {clinic.phone}. Reply STOP to opt out."),
    )


def digest(reminder: Reminder, contents) -> Message:
    context = {"clinic": reminder.clinic, "digest": contents, "day": reminder.for_date,
               "base_url": settings.NOTIFICATIONS["PUBLIC_BASE_URL"].rstrip("/")}
    return Message(
        to=reminder.recipient_user.email,
        subject=f"{reminder.clinic.name}: {contents.count} item(s) need attention today",
        text=render_to_string("notifications/email/digest.txt", context),
        html=render_to_string("notifications/email/digest.html", context),
        reference=str(reminder.external_id),
    )


def build(reminder: Reminder, digest_contents=None) -> Message:
    if reminder.purpose == Purpose.DIARY_PROMPT:
        return diary_prompt(reminder)
    if reminder.purpose == Purpose.DIGEST:
        return digest(reminder, digest_contents)
    return appointment_reminder(reminder)
