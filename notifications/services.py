"""Every write of the notifications app: planning reminders, the sweep's claim, sending, replies, the diary.

Delivery is at most once. The sweep claims due rows under `select_for_update(skip_locked=True)` with a lease
token; the send task acts only while its token is on the row, stamps `send_started_at` before it calls the
provider and holds the row's lock while it sends, so a slow send or a paused worker keeps its row. A claim
whose lease ran out (its worker died) goes back to the sweep. If its send had started, or an answer left the
outcome unknown, the next attempt first asks the provider what went out (`find_sent`); a backend that cannot
answer that gets the row marked failed ("outcome unknown") rather than risk sending it twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from events.bus import record as record_event
from events.models import EventType
from pathway.clinic_time import clinic_today, clinic_zone
from pathway.errors import Conflict, InvalidInput
from pathway.models import Appointment, Clinic, Episode, PainEntry, Patient
from pathway.stages import AppointmentStatus, PainPhase, PainSource, Role, Stage

from . import messages, scheduling
from .channels import EmailChannel, PermanentSendError, TransientSendError, UnknownOutcomeError, get_sms_backend
from .models import (
    DIARY_PURPOSES,
    OPEN_STATUSES,
    InboundAction,
    InboundMessage,
    Purpose,
    Reminder,
    ReminderChannel,
    ReminderStatus,
    appointment_purpose,
)
from .selectors import digest_for_clinic

logger = logging.getLogger(__name__)


def _config() -> dict:
    return settings.NOTIFICATIONS


def _close(queryset, *, status: str, reason: str) -> int:
    """Cancel or skip open rows whose send has not started (a started send is left to finish)."""
    return queryset.filter(status__in=OPEN_STATUSES, send_started_at__isnull=True).update(
        status=status, reason=reason, lease_token=None, lease_expires_at=None, updated_at=timezone.now()
    )


# --- Planning -------------------------------------------------------------------------------------


def reminders_sync_for_appointment(*, appointment: Appointment) -> None:
    """Make the appointment's reminder rows match it; run inside the transaction that changed it.

    A booked appointment gets one row per offset at its current start; rows for an older start (a reschedule)
    or for a channel no longer allowed are cancelled; any other status cancels every open row.
    """
    now = timezone.now()
    rows = Reminder.objects.filter(appointment=appointment)
    if appointment.status != AppointmentStatus.BOOKED:
        _close(rows, status=ReminderStatus.CANCELLED,
               reason=f"appointment {AppointmentStatus(appointment.status).label.lower()}")
        return
    patient = Patient.objects.select_related("clinic").get(pk=appointment.patient_id)
    clinic = patient.clinic
    zone = clinic_zone(clinic)
    _close(rows.exclude(appointment_starts_at=appointment.starts_at), status=ReminderStatus.CANCELLED,
           reason="appointment rescheduled")
    channel, no_channel_reason = scheduling.patient_channel(patient)
    if channel is None and patient.preferred_channel == "none":
        _close(rows, status=ReminderStatus.CANCELLED, reason=no_channel_reason)
        return
    row_channel = channel or ReminderChannel(patient.preferred_channel)
    _close(rows.filter(appointment_starts_at=appointment.starts_at).exclude(channel=row_channel),
           status=ReminderStatus.CANCELLED, reason="the patient's channel changed")
    existing = {
        (r.purpose, r.channel): r
        for r in rows.filter(appointment_starts_at=appointment.starts_at, channel=row_channel)
    }
    new_rows = []
    for hours in scheduling.offsets_for_kind(appointment.kind):
        plan = scheduling.plan_appointment_reminder(starts_at=appointment.starts_at, hours=hours, zone=zone, now=now)
        reason = no_channel_reason or plan.skip_reason
        status = ReminderStatus.SKIPPED if reason else ReminderStatus.PENDING
        purpose = appointment_purpose(hours)
        row = existing.get((purpose, row_channel))
        if row is None:
            new_rows.append(Reminder(
                clinic=clinic, patient=patient, appointment=appointment, episode_id=appointment.episode_id,
                purpose=purpose, channel=row_channel, appointment_starts_at=appointment.starts_at,
                scheduled_for=plan.due_at, due_at=plan.due_at, status=status, reason=reason,
            ))
        elif row.send_started_at is None and (
            row.status == ReminderStatus.CANCELLED
            or (row.status == ReminderStatus.SKIPPED and row.reason == scheduling.NO_CHANNEL)
        ):
            # Moved back to a start it had before, or consent came: the same row plans again.
            row.scheduled_for = row.due_at = plan.due_at
            row.status, row.reason, row.attempts = status, reason, 0
            row.save(update_fields=["scheduled_for", "due_at", "status", "reason", "attempts", "updated_at"])
    Reminder.objects.bulk_create(new_rows)


def reminders_resync_changed_patients(*, since: datetime) -> int:
    """Patients changed since `since` (consent, channel, phone, email): their upcoming appointments' reminders
    are planned again, so consent given after booking still brings reminders (beat, every 10 minutes)."""
    count = 0
    appointments = Appointment.objects.filter(
        patient__updated_at__gte=since, status=AppointmentStatus.BOOKED, starts_at__gt=timezone.now()
    ).values_list("pk", flat=True)
    for pk in appointments:
        with transaction.atomic():
            appointment = Appointment.objects.select_for_update().filter(pk=pk).first()
            if appointment is not None:
                reminders_sync_for_appointment(appointment=appointment)
                count += 1
    return count


def reminders_cancel_sms_for_patient(*, patient: Patient, reason: str = "the patient replied STOP") -> int:
    return _close(Reminder.objects.filter(patient=patient, channel=ReminderChannel.SMS),
                  status=ReminderStatus.CANCELLED, reason=reason)


def diary_prompts_schedule(*, episode: Episode) -> int:
    """One prompt a day from lead placement to the trial's expected end, at the clinic's diary time."""
    patient = episode.patient
    if not patient.diary_consent:
        return 0
    channel, _ = scheduling.patient_channel(patient)
    if channel is None:
        return 0
    clinic = episode.clinic
    zone = clinic_zone(clinic)
    now = timezone.now()
    clock = scheduling.parse_clock(_config()["DIARY_PROMPT_TIME"])
    first = max(episode.trial_lead_placement_date or clinic_today(clinic, now), clinic_today(clinic, now))
    last = episode.trial_expected_end or first
    rows = []
    day = first
    while day <= last:
        due = scheduling.out_of_quiet_hours(scheduling.at_local(day, clock, zone), zone)
        if due >= now:
            rows.append(Reminder(
                clinic=clinic, patient=patient, episode=episode, purpose=Purpose.DIARY_PROMPT, channel=channel,
                for_date=day, scheduled_for=due, due_at=due,
            ))
        day += timedelta(days=1)
    return len(Reminder.objects.bulk_create(rows, ignore_conflicts=True))


def diary_prompts_plan(*, now: datetime | None = None) -> int:
    """Today's prompt for every episode in trial whose patient consents and has no prompt planned for today:
    covers a trial running past its expected end and consent given after the trial started (beat, every 10 min)."""
    now = now or timezone.now()
    clock = scheduling.parse_clock(_config()["DIARY_PROMPT_TIME"])
    rows = []
    for episode in Episode.objects.filter(stage=Stage.TRIAL, patient__diary_consent=True).select_related(
        "clinic", "patient"
    ):
        channel, _ = scheduling.patient_channel(episode.patient)
        if channel is None:
            continue
        zone = clinic_zone(episode.clinic)
        today = clinic_today(episode.clinic, now)
        due = scheduling.out_of_quiet_hours(scheduling.at_local(today, clock, zone), zone)
        if due >= now:
            rows.append(Reminder(
                clinic=episode.clinic, patient=episode.patient, episode=episode, purpose=Purpose.DIARY_PROMPT,
                channel=channel, for_date=today, scheduled_for=due, due_at=due,
            ))
    return len(Reminder.objects.bulk_create(rows, ignore_conflicts=True))


def diary_prompts_cancel(*, episode: Episode, reason: str = "the trial ended") -> int:
    return _close(Reminder.objects.filter(episode=episode, purpose=Purpose.DIARY_PROMPT),
                  status=ReminderStatus.CANCELLED, reason=reason)


def digests_plan(*, now: datetime | None = None) -> int:
    """Once a clinic's digest time has passed today, one row per coordinator with an email address.

    A day with nothing to say gets skipped rows (so coordinators can see the digest ran) and no email.
    """
    now = now or timezone.now()
    digest_clock = scheduling.parse_clock(_config()["DIGEST_TIME"])
    User = get_user_model()
    created = 0
    for clinic in Clinic.objects.all():
        local = now.astimezone(clinic_zone(clinic))
        if local.time() < digest_clock:
            continue
        today = local.date()
        if Reminder.objects.filter(clinic=clinic, purpose=Purpose.DIGEST, for_date=today).exists():
            continue
        coordinators = User.objects.filter(
            clinic_memberships__clinic=clinic, clinic_memberships__role=Role.COORDINATOR, is_active=True
        ).exclude(email="")
        has_news = digest_for_clinic(clinic=clinic, now=now).count > 0
        rows = [
            Reminder(
                clinic=clinic, recipient_user=user, purpose=Purpose.DIGEST, channel=ReminderChannel.EMAIL,
                for_date=today, scheduled_for=now, due_at=now,
                status=ReminderStatus.PENDING if has_news else ReminderStatus.SKIPPED,
                reason="" if has_news else "nothing to report",
            )
            for user in coordinators
        ]
        created += len(Reminder.objects.bulk_create(rows, ignore_conflicts=True))
    return created


# --- The sweep ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    reminder_id: str
    token: str


def _reclaim_expired_leases(now: datetime, limit: int) -> None:
    expired = list(
        Reminder.objects.select_for_update(skip_locked=True)
        .filter(status=ReminderStatus.SENDING, lease_expires_at__lt=now)
        .values_list("pk", "send_started_at")[:limit]
    )
    never_started = [pk for pk, started in expired if started is None]
    started = [pk for pk, started in expired if started is not None]
    Reminder.objects.filter(pk__in=never_started).update(
        status=ReminderStatus.PENDING, lease_token=None, lease_expires_at=None, updated_at=now
    )
    # `send_started_at` stays set: the next attempt checks with the provider before sending again.
    Reminder.objects.filter(pk__in=started).update(
        status=ReminderStatus.PENDING, lease_token=None, lease_expires_at=None, updated_at=now,
        reason="the worker stopped while sending; the provider is asked before any resend",
    )


def reminders_claim_due(*, now: datetime | None = None, limit: int | None = None) -> list[Claim]:
    """Claim up to `limit` due rows for this sweep; rows locked by a concurrent sweep are skipped, not waited on."""
    now = now or timezone.now()
    limit = limit or _config()["SWEEP_BATCH_SIZE"]
    token = uuid.uuid4()
    with transaction.atomic():
        _reclaim_expired_leases(now, limit)
        due = list(
            Reminder.objects.select_for_update(skip_locked=True)
            .filter(status=ReminderStatus.PENDING, due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", "external_id", "scheduled_for", "appointment_starts_at", "send_started_at")[:limit]
        )
        claimed, late = [], {}
        for pk, external_id, scheduled_for, starts_at, started in due:
            problem = scheduling.lateness_problem(scheduled_for=scheduled_for, appointment_starts_at=starts_at, now=now)
            # A row whose earlier attempt may have gone out is claimed anyway: the send task asks the provider.
            if problem and started is None:
                late.setdefault(problem, []).append(pk)
            else:
                claimed.append((pk, external_id))
        for reason, pks in late.items():
            Reminder.objects.filter(pk__in=pks).update(status=ReminderStatus.SKIPPED, reason=reason, updated_at=now)
        Reminder.objects.filter(pk__in=[pk for pk, _ in claimed]).update(
            status=ReminderStatus.SENDING, lease_token=token,
            lease_expires_at=now + timedelta(seconds=_config()["LEASE_SECONDS"]), updated_at=now,
        )
    return [Claim(str(external_id), str(token)) for _, external_id in claimed]


def reminder_release_claim(*, claim: Claim) -> None:
    """The send task could not be enqueued (broker down): hand the row back to the next sweep."""
    Reminder.objects.filter(
        external_id=claim.reminder_id, lease_token=claim.token, status=ReminderStatus.SENDING,
        send_started_at__isnull=True,
    ).update(status=ReminderStatus.PENDING, lease_token=None, lease_expires_at=None, updated_at=timezone.now())


# --- Sending --------------------------------------------------------------------------------------


def _why_not_now(reminder: Reminder, now: datetime) -> tuple[str, str]:
    """(status, reason) when the message must not go out any more, else ('', '')."""
    problem = scheduling.lateness_problem(
        scheduled_for=reminder.scheduled_for, appointment_starts_at=reminder.appointment_starts_at, now=now
    )
    if problem:
        return ReminderStatus.SKIPPED, problem
    if reminder.purpose == Purpose.DIGEST:
        return "", ""
    appointment, patient = reminder.appointment, reminder.patient
    if appointment is not None:
        if appointment.status != AppointmentStatus.BOOKED:
            return ReminderStatus.CANCELLED, f"appointment {AppointmentStatus(appointment.status).label.lower()}"
        if appointment.starts_at != reminder.appointment_starts_at:
            return ReminderStatus.CANCELLED, "appointment rescheduled"
    diary = reminder.purpose in DIARY_PURPOSES
    if reminder.purpose == Purpose.REPLY and reminder.template not in messages.reply_templates():
        return ReminderStatus.CANCELLED, "its reply template is no longer configured"
    if diary and (reminder.episode.stage != Stage.TRIAL or not patient.diary_consent):
        return ReminderStatus.CANCELLED, "the trial ended or diary consent was withdrawn"
    questionnaire = reminder.purpose in (Purpose.QUESTIONNAIRE, Purpose.QUESTIONNAIRE_REMINDER)
    if questionnaire and (why := questionnaire_why_not(reminder, now)):
        return ReminderStatus.CANCELLED, why
    if reminder.channel == ReminderChannel.SMS and not (patient.sms_consent and patient.phone):
        return ReminderStatus.CANCELLED, "no SMS consent or phone number on file any more"
    if reminder.channel == ReminderChannel.EMAIL and not (patient.email_consent and patient.email):
        return ReminderStatus.CANCELLED, "no email consent or address on file any more"
    if scheduling.in_quiet_hours(now, clinic_zone(reminder.clinic)):
        return ReminderStatus.SKIPPED, "quiet hours had begun before it could be sent"
    return "", ""


def _record(reminder: Reminder, claim: str, **values) -> int:
    """Write an outcome if the claim is still ours (see `_reclaim_expired_leases` for why not the status)."""
    with transaction.atomic():
        updated = Reminder.objects.filter(pk=reminder.pk, lease_token=claim).update(updated_at=timezone.now(),
                                                                                   **values)
        if updated and values.get("status") == ReminderStatus.FAILED:
            _announce_failed(reminder)
    return updated


def _announce_failed(reminder: Reminder) -> None:
    """The `reminder.failed` event, in the transaction that marks the row failed (no reason text: it may quote
    the provider)."""
    record_event(EventType.REMINDER_FAILED, clinic_id=reminder.clinic_id, patient=reminder.patient,
                 appointment=reminder.appointment, episode=reminder.episode, subject=reminder,
                 payload={"reminder_id": str(reminder.external_id), "purpose": reminder.purpose,
                          "channel": reminder.channel})


def _record_sent(reminder: Reminder, claim: str, message_id: str) -> None:
    """A message that went out is recorded even when its claim has passed on meanwhile: a late but real
    "sent" replaces "outcome unknown" or a pending retry (whose next attempt then finds the row is not its own)."""
    values = {"status": ReminderStatus.SENT, "sent_at": timezone.now(), "reason": "",
              "provider_message_id": message_id[:200], "lease_expires_at": None}
    if _record(reminder, claim, **values):
        return
    if Reminder.objects.filter(pk=reminder.pk).exclude(status=ReminderStatus.SENT).update(
        lease_token=None, updated_at=timezone.now(), **values
    ):
        logger.warning("reminder %s: sent after its claim had passed on; the late outcome is recorded",
                       reminder.external_id)


def _first_unrecorded(found: list, reminder: Reminder):
    """The earliest send the provider reports that no other row has recorded as its own (two reminders with
    the same text to one number, e.g. family members sharing a phone, are told apart by count)."""
    if not found:
        return None
    taken = set(
        Reminder.objects.filter(provider_message_id__in=[f.message_id for f in found]).exclude(pk=reminder.pk)
        .values_list("provider_message_id", flat=True)
    )
    return next((f for f in found if f.message_id not in taken), None)


def reminder_send(*, reminder_id: str, claim: str) -> str:
    """Send one claimed reminder; returns its final (or retry) status. Safe to run twice: once is a no-op.

    Two transactions. The first checks the claim, stamps `send_started_at` and renews the lease, and commits:
    from then on a worker that dies leaves a row the next attempt resolves with the provider first. The second
    re-checks the claim with an UPDATE, which row-locks it until the outcome is written: the sweep skips locked
    rows, so however long the send takes, or this worker is paused, its row is not handed to another worker;
    a worker that dies loses its connection and the lock with it.
    """
    now = timezone.now()
    digest_contents = None
    with transaction.atomic():
        reminder = (
            Reminder.objects.select_for_update(of=("self",))
            .select_related("clinic", "patient", "appointment", "episode", "recipient_user")
            .filter(external_id=reminder_id).first()
        )
        if reminder is None or reminder.status != ReminderStatus.SENDING or str(reminder.lease_token) != claim:
            return "not-claimed"
        if reminder.lease_expires_at <= now:
            return "lease-expired"
        status, reason = _why_not_now(reminder, now)
        if not status and reminder.purpose == Purpose.DIGEST:
            digest_contents = digest_for_clinic(clinic=reminder.clinic, now=now)
            if digest_contents.count == 0:
                status, reason = ReminderStatus.SKIPPED, "nothing to report"
        channel = get_sms_backend() if reminder.channel == ReminderChannel.SMS else EmailChannel()
        # Set when an earlier attempt may have gone out: the worker died mid-send, or the answer was unclear.
        earlier = reminder.send_started_at
        message = messages.build(reminder, digest_contents) if earlier is not None or not status else None
        can_ask = earlier is not None and hasattr(channel, "find_sent") and bool(message.to)
        if status and not can_ask:
            if earlier is not None:
                reason = f"{reason}; an earlier attempt may have been sent"[:500]
            reminder.status, reminder.reason = status, reason
            reminder.lease_token = reminder.lease_expires_at = None
            reminder.save(update_fields=["status", "reason", "lease_token", "lease_expires_at", "updated_at"])
            return status
        if earlier is not None and not can_ask:
            reminder.status, reminder.lease_expires_at = ReminderStatus.FAILED, None
            reminder.reason = ("outcome unknown: an earlier attempt may have been sent; not retried so it is never "
                               "sent twice")
            reminder.save(update_fields=["status", "reason", "lease_expires_at", "updated_at"])
            _announce_failed(reminder)
            return ReminderStatus.FAILED
        # Past this point with a `status`: the row is closed, but only once the provider has said whether an
        # earlier attempt went out (then it was sent, whatever happened since).
        reminder.attempts += 1
        reminder.send_started_at = earlier or now  # the earliest unresolved attempt: the lookup reads from there
        reminder.lease_expires_at = now + timedelta(seconds=_config()["LEASE_SECONDS"])
        reminder.save(update_fields=["attempts", "send_started_at", "lease_expires_at", "updated_at"])
    delivered = []  # what the provider answered, kept in case the transaction holding the row is lost
    try:
        with transaction.atomic():
            if not Reminder.objects.filter(pk=reminder.pk, lease_token=claim, status=ReminderStatus.SENDING).update(
                updated_at=timezone.now()
            ):
                return "not-claimed"  # the lease ran out between the stamp and the lock: nothing was sent
            return _deliver(reminder, claim, channel, message, earlier, delivered,
                            close_with=(status, reason) if status else None)
    except DatabaseError:
        if not delivered:
            raise
        # The message went out but the database connection broke before its outcome was committed.
        connection.close()
        _record_sent(reminder, claim, delivered[0].message_id)
        return ReminderStatus.SENT


def _deliver(reminder: Reminder, claim: str, channel, message, earlier: datetime | None, delivered: list,
             close_with: tuple[str, str] | None = None) -> str:
    """Ask the provider about an earlier attempt (if any); unless it went out, close the row with `close_with`
    or send; write the outcome."""
    checked = earlier is None
    try:
        if not checked:
            found = _first_unrecorded(channel.find_sent(message, since=earlier), reminder)
            checked = True
            if found is not None:
                delivered.append(found)
                _record_sent(reminder, claim, found.message_id)
                logger.info("reminder %s: an earlier attempt had gone out; recorded, not sent again",
                            reminder.external_id)
                return ReminderStatus.SENT
        if close_with is not None:
            _record(reminder, claim, status=close_with[0], reason=close_with[1], lease_token=None,
                    lease_expires_at=None)
            return close_with[0]
        result = channel.send(message)
    except TransientSendError as error:
        return _after_transient_failure(reminder, claim, error.reason, unsure=not checked)
    except UnknownOutcomeError as error:
        if hasattr(channel, "find_sent"):
            return _after_transient_failure(reminder, claim, error.reason, unsure=True)
        _record(reminder, claim, status=ReminderStatus.FAILED, reason=error.reason[:500], lease_expires_at=None)
        logger.warning("reminder %s failed: %s", reminder.external_id, type(error).__name__)
        return ReminderStatus.FAILED
    except PermanentSendError as error:
        _record(reminder, claim, status=ReminderStatus.FAILED, reason=error.reason[:500], lease_expires_at=None)
        logger.warning("reminder %s failed: %s", reminder.external_id, type(error).__name__)
        return ReminderStatus.FAILED
    delivered.append(result)
    _record_sent(reminder, claim, result.message_id)
    return ReminderStatus.SENT


def _after_transient_failure(reminder: Reminder, claim: str, reason: str, unsure: bool = False) -> str:
    """`unsure`: the message may have gone out (an unclear answer, or the provider could not be asked about an
    earlier attempt), so `send_started_at` stays and the next attempt asks the provider before any resend."""
    backoff = _config()["RETRY_BACKOFF_SECONDS"]
    if reminder.attempts >= _config()["MAX_ATTEMPTS"]:
        outcome = "; the message may have been sent" if unsure else ""
        _record(reminder, claim, status=ReminderStatus.FAILED, lease_expires_at=None,
                reason=f"gave up after {reminder.attempts} attempts: {reason}{outcome}"[:500])
        return ReminderStatus.FAILED
    wait = backoff[min(reminder.attempts - 1, len(backoff) - 1)]
    # Back to the sweep with a later due time: a retry is a row, not a Celery countdown.
    if unsure:
        reason = f"attempt {reminder.attempts} may have been sent; the provider is asked in {wait} s: {reason}"
    else:
        reason = f"attempt {reminder.attempts} failed, retrying in {wait} s: {reason}"
    _record(reminder, claim, status=ReminderStatus.PENDING, due_at=timezone.now() + timedelta(seconds=wait),
            send_started_at=reminder.send_started_at if unsure else None, lease_token=None, lease_expires_at=None,
            reason=reason[:500])
    return ReminderStatus.PENDING


# --- Replies by SMS -------------------------------------------------------------------------------

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
CONFIRM_WORDS = frozenset({"C", "YES", "CONFIRM"})


def _keyword(body: str) -> str:
    return body.strip().strip(".!").strip().upper()


def inbound_sms_receive(
    *, provider_message_id: str, from_phone: str, to_phone: str, body: str, now: datetime | None = None
) -> InboundMessage:
    """A patient's reply: STOP revokes SMS consent, C / YES confirms the next appointment, the rest waits for a
    coordinator. The same provider message twice is handled once."""
    from pathway.services import appointment_confirm, patient_revoke_sms_consent

    now = now or timezone.now()
    word = _keyword(body)
    patients = list(Patient.objects.filter(phone=from_phone).select_related("clinic"))
    if len(patients) > 1 and any(p.clinic.phone == to_phone for p in patients):
        patients = [p for p in patients if p.clinic.phone == to_phone]
    clinic_ids = {p.clinic_id for p in patients}
    message = InboundMessage(
        provider_message_id=provider_message_id, from_phone=from_phone, received_at=now,
        clinic_id=next(iter(clinic_ids)) if len(clinic_ids) == 1 else None,
        patient=patients[0] if len(patients) == 1 else None,
    )
    with transaction.atomic():
        seen = InboundMessage.objects.select_for_update().filter(provider_message_id=provider_message_id).first()
        if seen is not None:
            return seen
        if word in STOP_WORDS:
            for patient in patients:
                # Consent already off (changed on a page, not yet re-planned): the event does not fire, so the
                # SMS still planned are cancelled here.
                if not patient_revoke_sms_consent(patient=patient):
                    reminders_cancel_sms_for_patient(patient=patient)
            message.action = InboundAction.STOP
            message.needs_attention = not patients
            message.note = "" if patients else "no patient has this number"
        elif word in CONFIRM_WORDS and patients:
            appointment = (
                Appointment.objects.filter(patient__in=patients, status=AppointmentStatus.BOOKED, starts_at__gt=now)
                .order_by("starts_at").first()
            )
            if appointment is not None:
                appointment_confirm(appointment=appointment)
                message.action, message.appointment = InboundAction.CONFIRM, appointment
                message.clinic_id, message.patient_id = appointment.clinic_id, appointment.patient_id
            else:
                message.action, message.needs_attention, message.body = InboundAction.OTHER, True, body[:1600]
                message.note = "confirmation with no upcoming appointment"
        else:
            message.action, message.needs_attention, message.body = InboundAction.OTHER, True, body[:1600]
            message.note = "" if patients else "no patient has this number"
        message.save()
        if message.needs_attention and message.clinic_id is not None:
            # A number no clinic knows (or several clinics share) has nobody to tell but the shared inbox.
            record_event(EventType.INBOUND_SMS_NEEDS_ATTENTION, clinic_id=message.clinic_id, patient=message.patient,
                         subject=message, occurred_at=message.received_at,
                         payload={"message_id": str(message.external_id), "action": message.action})
    logger.info("inbound SMS %s handled as %s", message.external_id, message.action)
    return message


def _who(actor) -> tuple[object, str]:
    """(user, label) of the person acting, for the columns that record who did it."""
    return actor.user, actor.label


def _next_allowed(moment: datetime, clinic: Clinic) -> datetime:
    """`moment`, or the end of the quiet hours it falls in: a reply asked for at night goes out in the morning."""
    zone = clinic_zone(clinic)
    if not scheduling.in_quiet_hours(moment, zone):
        return moment
    end = scheduling.parse_clock(_config()["QUIET_END"])
    local = moment.astimezone(zone)
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return scheduling.at_local(day, end, zone)


def _requested(request_key: uuid.UUID, **scope) -> Reminder | None:
    """The message a form with this key already queued (a double click), or None; a key used elsewhere is refused."""
    found = Reminder.objects.filter(request_key=request_key).first()
    if found is not None and any(getattr(found, f"{name}_id") != value.pk for name, value in scope.items()):
        raise InvalidInput({"request_key": ["This form was already used for something else: reload the page."]})
    return found


def inbound_message_handle(*, message: InboundMessage, actor, note: str, now: datetime | None = None
                           ) -> InboundMessage:
    """A coordinator has dealt with a patient's message: it leaves the inbox and the worklist, with who, when
    and what was done. Handling it twice is a conflict, not a second record."""
    note = note.strip()
    if not note:
        raise InvalidInput({"note": ["Say what was done (e.g. \"called back, moved the appointment\")."]})
    if len(note) > 500:
        raise InvalidInput({"note": ["Keep the note to 500 characters."]})
    with transaction.atomic():
        locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
        if not locked.needs_attention:
            raise InvalidInput("This message was handled automatically; there is nothing to mark.")
        if locked.handled_at is not None:
            raise Conflict(f"Already marked handled by {locked.handled_by_label} at "
                           f"{timezone.localtime(locked.handled_at):%d %b %H:%M}.")
        locked.handled_by, locked.handled_by_label = _who(actor)
        locked.handled_at, locked.handled_note = now or timezone.now(), note
        locked.save(update_fields=["handled_by", "handled_by_label", "handled_at", "handled_note"])
    logger.info("inbound SMS %s marked handled", locked.external_id)
    return locked


def inbound_reply_queue(*, message: InboundMessage, actor, template: str, request_key: uuid.UUID,
                        now: datetime | None = None) -> tuple[Reminder, bool]:
    """Queue one of the clinic's reply templates to the patient who wrote, as a Reminder row the sweep sends
    once (after quiet hours if asked at night). Returns (row, created): the same form twice queues one."""
    if template not in messages.reply_templates():
        raise InvalidInput({"template": ["Choose one of the clinic's reply templates."]})
    now = now or timezone.now()
    with transaction.atomic():
        # Only the message's row is locked (PostgreSQL refuses to lock the nullable side of the joins).
        locked = (InboundMessage.objects.select_for_update(of=("self",)).select_related("clinic", "patient")
                  .get(pk=message.pk))
        if (existing := _requested(request_key, reply_to=locked)) is not None:
            return existing, False
        patient = locked.patient
        if patient is None or locked.clinic is None:
            raise InvalidInput("No single patient has this number, so no text can be sent: call them instead.")
        if not (patient.sms_consent and patient.phone):
            raise InvalidInput("The patient has no SMS consent on file (or replied STOP): call them instead.")
        waiting = locked.replies.filter(template=template, status__in=OPEN_STATUSES).first()
        if waiting is not None:
            return waiting, False  # the same answer is already on its way
        due = _next_allowed(now, locked.clinic)
        user, _ = _who(actor)
        reply = Reminder.objects.create(
            clinic=locked.clinic, patient=patient, purpose=Purpose.REPLY, channel=ReminderChannel.SMS,
            scheduled_for=due, due_at=due, reply_to=locked, template=template, requested_by=user,
            request_key=request_key,
        )
    logger.info("reply %s queued to inbound SMS %s", reply.external_id, locked.external_id)
    return reply, True


def diary_link_resend(*, episode: Episode, actor, request_key: uuid.UUID, now: datetime | None = None
                      ) -> tuple[Reminder, bool]:
    """Send today's diary link now, at a coordinator's explicit request: today's planned prompt is brought
    forward if it has not gone out, else a second message is queued. Only with diary consent, a channel and
    outside quiet hours. Returns (row, created); the same form twice (a double click) queues one."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Episode.objects.select_for_update(of=("self",)).select_related("clinic", "patient").get(pk=episode.pk)
        if (existing := _requested(request_key, episode=locked)) is not None:
            return existing, False
        if locked.stage != Stage.TRIAL:
            raise InvalidInput("The diary is open only during the trial.")
        patient, clinic = locked.patient, locked.clinic
        if not patient.diary_consent:
            raise InvalidInput("The patient has not consented to diary prompts.")
        channel, why_not = scheduling.patient_channel(patient)
        if channel is None:
            raise InvalidInput(f"The link cannot be sent: {why_not}.")
        if scheduling.in_quiet_hours(now, clinic_zone(clinic)):
            raise InvalidInput(f"Quiet hours ({_config()['QUIET_START']}–{_config()['QUIET_END']}): nothing is "
                               "sent to patients now.")
        today = clinic_today(clinic, now)
        user, _ = _who(actor)
        planned = (
            Reminder.objects.select_for_update()
            .filter(episode=locked, purpose=Purpose.DIARY_PROMPT, for_date=today, channel=channel,
                    status=ReminderStatus.PENDING, send_started_at__isnull=True, due_at__gt=now)
            .first()
        )
        waiting = Reminder.objects.filter(episode=locked, purpose=Purpose.DIARY_RESEND, for_date=today,
                                          status__in=OPEN_STATUSES).first()
        if waiting is not None:
            return waiting, False  # asked again before the last one went out: that one is still on its way
        if planned is not None:
            planned.scheduled_for = planned.due_at = now
            planned.request_key, planned.requested_by = request_key, user
            planned.save(update_fields=["scheduled_for", "due_at", "request_key", "requested_by", "updated_at"])
            return planned, True
        row = Reminder.objects.create(
            clinic=clinic, patient=patient, episode=locked, purpose=Purpose.DIARY_RESEND, channel=channel,
            for_date=today, scheduled_for=now, due_at=now, requested_by=user, request_key=request_key,
        )
    return row, True


# --- The patient's diary --------------------------------------------------------------------------

DIARY_FIELDS = ("percent_relief", "sleep_quality", "activity_limitation", "medication_use")


def _local_day_bounds(clinic: Clinic, day: date) -> tuple[datetime, datetime]:
    zone = clinic_zone(clinic)
    return (scheduling.at_local(day, time.min, zone), scheduling.at_local(day + timedelta(days=1), time.min, zone))


def diary_entry_save(*, episode: Episode, day: date, nrs: int, **optional) -> tuple[PainEntry, bool]:
    """The patient's entry for `day` from the signed link: the first creates a trial-phase PainEntry (source
    patient link), a later one for the same day replaces it. Returns (entry, created)."""
    from pathway.services import pain_entry_record

    unknown = set(optional) - set(DIARY_FIELDS)
    if unknown:
        raise InvalidInput({name: ["This field cannot be set here."] for name in sorted(unknown)})
    start, end = _local_day_bounds(episode.clinic, day)
    now = timezone.now()
    recorded_at = now if start <= now < end else end - timedelta(minutes=1)
    with transaction.atomic():
        # The episode's row lock serialises two submissions of the same day.
        locked = Episode.objects.select_for_update().select_related("clinic").get(pk=episode.pk)
        if locked.stage != Stage.TRIAL:
            raise InvalidInput("The trial diary is closed: the trial has ended.")
        existing = (
            PainEntry.objects.select_for_update()
            .filter(Q(recorded_at__gte=start, recorded_at__lt=end), episode=locked, phase=PainPhase.TRIAL,
                    source=PainSource.PATIENT_LINK)
            .order_by("recorded_at").first()
        )
        if existing is None:
            values = {k: v for k, v in optional.items() if v not in (None, "")}
            entry = pain_entry_record(episode=locked, actor=None, nrs=nrs, phase=PainPhase.TRIAL,
                                      source=PainSource.PATIENT_LINK, recorded_at=recorded_at, **values)
            return entry, True
        existing.nrs = nrs
        for name in DIARY_FIELDS:
            value = optional.get(name)
            setattr(existing, name, "" if name == "medication_use" and value is None else value)
        existing.recorded_at = recorded_at
        try:
            existing.full_clean(exclude=["episode", "entered_by"])
        except ValidationError as error:
            raise InvalidInput(error.message_dict) from None
        existing.save()
        Episode.objects.filter(pk=locked.pk).update(updated_at=now)
    return existing, False


# --- The follow-up questionnaire (outcomes.OutcomeQuestionnaire) ------------------------------------
# Consent: the questionnaire is a patient-reported diary-like form, so it follows the diary's rule: diary
# consent plus a channel the patient consented to (scheduling.patient_channel). STOP revokes SMS consent, which
# cancels open SMS rows (reminders_cancel_sms_for_patient) and is checked again before every send.


def _outcomes_config() -> dict:
    return settings.OUTCOMES


def _questionnaire_due(clinic: Clinic, now: datetime) -> datetime:
    """Today's send time in the clinic (out of quiet hours); once it has passed, now (or after quiet hours)."""
    zone = clinic_zone(clinic)
    clock = scheduling.parse_clock(_outcomes_config()["QUESTIONNAIRE_SEND_TIME"])
    planned = scheduling.out_of_quiet_hours(scheduling.at_local(clinic_today(clinic, now), clock, zone), zone)
    return planned if planned >= now else _next_allowed(now, clinic)


def _unanswered_in_window(milestone, today: date) -> bool:
    """The window is open and nobody has answered for it: neither the patient's link nor staff at a visit (a
    follow-up score with the PGIC inside the window)."""
    if milestone.window_end < today:
        return False
    zone = clinic_zone(milestone.episode.clinic)
    return not PainEntry.objects.filter(
        episode_id=milestone.episode_id, phase=PainPhase.FOLLOW_UP, pgic__isnull=False,
        recorded_at__gte=scheduling.at_local(milestone.window_start, time.min, zone),
        recorded_at__lt=scheduling.at_local(milestone.window_end + timedelta(days=1), time.min, zone),
    ).exists()


def questionnaires_plan(*, now: datetime | None = None) -> int:
    """Beat, every 10 minutes: each follow-up milestone whose window is open gets its questionnaire sent once
    (patient with diary consent and a channel), and one unanswered for QUESTIONNAIRE_REMINDER_DAYS its one
    reminder. Each step happens under the questionnaire's row lock with its timestamp, so two passes at once
    plan one message. Returns the messages planned."""
    from outcomes.models import OutcomeQuestionnaire
    from pathway.models import FollowUpMilestone

    now = now or timezone.now()
    planned = 0
    candidates = (
        FollowUpMilestone.objects.filter(
            key__in=_outcomes_config()["QUESTIONNAIRE_MILESTONES"], episode__stage=Stage.FOLLOW_UP,
            episode__patient__diary_consent=True,
            window_start__lte=now.date() + timedelta(days=1), window_end__gte=now.date() - timedelta(days=1),
        ).filter(Q(questionnaire__isnull=True) | Q(questionnaire__sent_at__isnull=True))
        .select_related("episode__clinic", "episode__patient")
    )
    for milestone in candidates:
        episode = milestone.episode
        today = clinic_today(episode.clinic, now)
        if not (milestone.window_start <= today <= milestone.window_end):
            continue
        channel, _ = scheduling.patient_channel(episode.patient)
        if channel is None or not _unanswered_in_window(milestone, today):
            continue
        OutcomeQuestionnaire.objects.get_or_create(milestone=milestone)
        with transaction.atomic():
            locked = OutcomeQuestionnaire.objects.select_for_update().get(milestone=milestone)
            if locked.sent_at is not None or locked.answered_at is not None:
                continue
            due = _questionnaire_due(episode.clinic, now)
            Reminder.objects.create(
                clinic=episode.clinic, patient=episode.patient, episode=episode, purpose=Purpose.QUESTIONNAIRE,
                channel=channel, for_date=milestone.due_on, scheduled_for=due, due_at=due,
            )
            locked.sent_at = due
            locked.save(update_fields=["sent_at"])
            planned += 1
    waited = timedelta(days=_outcomes_config()["QUESTIONNAIRE_REMINDER_DAYS"])
    for questionnaire in OutcomeQuestionnaire.objects.filter(
        sent_at__lte=now - waited, reminded_at__isnull=True, answered_at__isnull=True,
        milestone__episode__stage=Stage.FOLLOW_UP, milestone__episode__patient__diary_consent=True,
    ).select_related("milestone__episode__clinic", "milestone__episode__patient"):
        milestone = questionnaire.milestone
        episode = milestone.episode
        channel, _ = scheduling.patient_channel(episode.patient)
        if channel is None or not _unanswered_in_window(milestone, clinic_today(episode.clinic, now)):
            continue
        with transaction.atomic():
            locked = OutcomeQuestionnaire.objects.select_for_update().get(pk=questionnaire.pk)
            if locked.reminded_at is not None or locked.answered_at is not None:
                continue
            due = _questionnaire_due(episode.clinic, now)
            Reminder.objects.create(
                clinic=episode.clinic, patient=episode.patient, episode=episode,
                purpose=Purpose.QUESTIONNAIRE_REMINDER, channel=channel, for_date=milestone.due_on,
                scheduled_for=due, due_at=due,
            )
            locked.reminded_at = due
            locked.save(update_fields=["reminded_at"])
            planned += 1
    return planned


def questionnaire_for_reminder(reminder: Reminder):
    """The questionnaire a questionnaire message is about: its episode's milestone due on `for_date`."""
    from outcomes.models import OutcomeQuestionnaire

    return (OutcomeQuestionnaire.objects.select_related("milestone")
            .filter(milestone__episode_id=reminder.episode_id, milestone__due_on=reminder.for_date).first())


def questionnaire_why_not(reminder: Reminder, now: datetime) -> str:
    """Why a questionnaire message must not go out any more, or ''."""
    questionnaire = questionnaire_for_reminder(reminder)
    if questionnaire is None:
        return "its questionnaire no longer exists"
    if questionnaire.answered_at is not None:
        return "the questionnaire was answered"
    if reminder.episode.stage != Stage.FOLLOW_UP or not reminder.patient.diary_consent:
        return "the follow-up ended or diary consent was withdrawn"
    if questionnaire.milestone.window_end < clinic_today(reminder.clinic, now):
        return "the milestone's window has closed"
    return ""


QUESTIONNAIRE_FIELDS = ("nrs", "sleep_quality", "activity_limitation", "medication_use", "pgic")


def questionnaire_answer_save(*, questionnaire_external_id, nrs: int, sleep_quality: int | None,
                              activity_limitation: int | None, medication_use: str | None, pgic: int,
                              now: datetime | None = None):
    """The patient's one answer from the signed link: a follow-up PainEntry (source patient link) recorded now,
    linked to the questionnaire. A second answer is refused (Conflict), nothing changed."""
    from outcomes.models import OutcomeQuestionnaire
    from pathway.services import pain_entry_record

    now = now or timezone.now()
    with transaction.atomic():
        locked = (OutcomeQuestionnaire.objects.select_for_update(of=("self",))
                  .select_related("milestone__episode__clinic").filter(external_id=questionnaire_external_id)
                  .first())
        if locked is None:
            raise InvalidInput("This questionnaire does not exist.")
        if locked.answered_at is not None:
            raise Conflict("This questionnaire was already answered. Thank you.")
        episode = locked.milestone.episode
        if episode.stage != Stage.FOLLOW_UP:
            raise InvalidInput("The follow-up has ended, so the questionnaire no longer takes answers.")
        values = {"sleep_quality": sleep_quality, "activity_limitation": activity_limitation,
                  "medication_use": medication_use, "pgic": pgic}
        entry = pain_entry_record(
            episode=episode, actor=None, nrs=nrs, phase=PainPhase.FOLLOW_UP, source=PainSource.PATIENT_LINK,
            recorded_at=now, **{k: v for k, v in values.items() if v not in (None, "")},
        )
        locked.answered_at, locked.answer = now, entry
        locked.save(update_fields=["answered_at", "answer"])
        _close(Reminder.objects.filter(episode=episode,
                                       purpose__in=(Purpose.QUESTIONNAIRE, Purpose.QUESTIONNAIRE_REMINDER),
                                       for_date=locked.milestone.due_on),
               status=ReminderStatus.CANCELLED, reason="the questionnaire was answered")
    logger.info("questionnaire %s answered", locked.external_id)
    return entry
