"""What each message says. Minimal by rule (DOMAIN.md "Reminders"): clinic name and phone, date and time in
the clinic's zone, how to confirm or opt out. No diagnosis, procedure name or pain details."""

from __future__ import annotations

from datetime import date, datetime
from string import Formatter

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.urls import reverse

from pathway.clinic_time import clinic_zone

from .channels import Message
from .models import DIARY_PURPOSES, Purpose, Reminder, ReminderChannel

DIARY_SALT = "notifications.diary-link"
QUESTIONNAIRE_SALT = "notifications.questionnaire-link"


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


def questionnaire_token(*, questionnaire_external_id) -> str:
    """Signed and timestamped; it names the questionnaire's UUID only."""
    return signing.dumps({"q": str(questionnaire_external_id)}, salt=QUESTIONNAIRE_SALT, compress=False)


def read_questionnaire_token(token: str) -> str:
    """Raises signing.SignatureExpired for an old link and signing.BadSignature for an altered one."""
    max_age = settings.OUTCOMES["QUESTIONNAIRE_LINK_MAX_AGE_DAYS"] * 86400
    return signing.loads(token, salt=QUESTIONNAIRE_SALT, max_age=max_age)["q"]


def questionnaire_link(*, questionnaire_external_id) -> str:
    path = reverse("notifications:questionnaire",
                   kwargs={"token": questionnaire_token(questionnaire_external_id=questionnaire_external_id)})
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


def questionnaire(reminder: Reminder) -> Message:
    from .services import questionnaire_for_reminder

    clinic = reminder.clinic
    link = questionnaire_link(questionnaire_external_id=questionnaire_for_reminder(reminder).external_id)
    again = reminder.purpose == Purpose.QUESTIONNAIRE_REMINDER
    lead = "a reminder: please answer" if again else "please answer"
    return _to_patient(
        reminder, context={"clinic": clinic, "link": link, "again": again},
        subject=f"A short follow-up questionnaire — {clinic.name}", template="notifications/email/questionnaire",
        sms_text=(f"{clinic.name}: {lead} 5 short questions about how you are doing: {link} "
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


# --- Replies from the inbox -----------------------------------------------------------------------

REPLY_PLACEHOLDERS = frozenset({"clinic", "phone"})
SMS_MAX_LENGTH = 320  # two SMS segments


def reply_templates() -> dict[str, tuple[str, str]]:
    """key -> (label, text) from settings.NOTIFICATIONS["REPLY_TEMPLATES"]."""
    return {key: (value[0], value[1]) for key, value in settings.NOTIFICATIONS["REPLY_TEMPLATES"].items()}


def reply_template_problems() -> list[str]:
    """What is wrong with the configured templates: a text that names anything but the clinic could carry
    patient data, so only {clinic} and {phone} are allowed."""
    problems = []
    raw = settings.NOTIFICATIONS["REPLY_TEMPLATES"]
    if not isinstance(raw, dict):
        return ["NOTIFICATIONS_REPLY_TEMPLATES must be a JSON object: key -> [label, text]."]
    for key, value in raw.items():
        if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            problems.append(f"Reply template {key!r}: give [label, text].")
            continue
        try:
            names = {name for _, name, _, _ in Formatter().parse(value[1]) if name is not None}
        except ValueError as error:
            problems.append(f"Reply template {key!r}: {error}.")
            continue
        if names - REPLY_PLACEHOLDERS:
            problems.append(f"Reply template {key!r} may name only {{clinic}} and {{phone}}, not "
                            f"{', '.join(sorted(names - REPLY_PLACEHOLDERS))}.")
        elif len(value[1].format(clinic="x" * 40, phone="x" * 20)) > SMS_MAX_LENGTH:
            problems.append(f"Reply template {key!r} is longer than {SMS_MAX_LENGTH} characters.")
    return problems


def reply_text(clinic, template: str) -> str:
    return reply_templates()[template][1].format(clinic=clinic.name, phone=clinic.phone)


def reply(reminder: Reminder) -> Message:
    return Message(to=reminder.patient.phone, text=reply_text(reminder.clinic, reminder.template),
                   reference=str(reminder.external_id))


def build(reminder: Reminder, digest_contents=None) -> Message:
    if reminder.purpose in DIARY_PURPOSES:
        return diary_prompt(reminder)
    if reminder.purpose == Purpose.REPLY:
        return reply(reminder)
    if reminder.purpose in (Purpose.QUESTIONNAIRE, Purpose.QUESTIONNAIRE_REMINDER):
        return questionnaire(reminder)
    if reminder.purpose == Purpose.DIGEST:
        return digest(reminder, digest_contents)
    return appointment_reminder(reminder)
