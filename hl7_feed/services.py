"""One inbound HL7 v2 message in, one stored outcome and its ACK out.

`inbound_message_receive` records the message and applies it through the same pathway services the v1 API
and FHIR use, in one transaction: the record and the change commit together or not at all, and the listener
answers only after that commit. A control id the sender already used (MSH-4 + MSH-6 + MSH-10) is a resend:
it changes nothing and gets the first answer again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import hl7
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from pathway import services
from pathway.actors import Actor
from pathway.errors import DomainError
from pathway.models import Appointment, Clinic, Patient
from pathway.stages import AppointmentStatus, Role

from . import mapping
from .mapping import MappingProblem, Unreadable
from .models import ClinicFeedSettings, InboundHL7Message, MessageStatus

logger = logging.getLogger(__name__)

# What a sender may write in MSA-3 is 80 characters in v2.5.1 (ST); ours are kept short and whole here.
REASON_LENGTH = 500


@dataclass(frozen=True)
class Received:
    record: InboundHL7Message
    ack: str  # the ACK message, \r-separated, ready to frame
    duplicate: bool = False


def feed_actor(clinic: Clinic) -> Actor:
    """The interface engine books and registers as the front desk does: no clinical decision is open to it."""
    return Actor(roles={clinic.pk: Role.FRONT_DESK})


def inbound_message_receive(*, raw: str) -> Received:
    try:
        return _receive(raw)
    except Exception as exc:
        # A fault of ours (not of the message): keep the message for a person and say so. The exception's
        # text may quote the message's values, so only its type is logged.
        logger.error("HL7 message could not be applied: %s", type(exc).__name__)
        record = InboundHL7Message.objects.create(
            status=MessageStatus.NEEDS_ATTENTION, raw=raw,
            reason=f"Could not be applied because of an error on our side ({type(exc).__name__}); a coordinator "
                   "will resolve it.",
        )
        return Received(record=record, ack=_ack(_parsed_or_none(raw), record))


def _parsed_or_none(raw: str) -> hl7.Message | None:
    try:
        return mapping.parse(raw)
    except Unreadable:
        return None


def _receive(raw: str) -> Received:
    try:
        message = mapping.parse(raw)
    except Unreadable as problem:
        record = InboundHL7Message.objects.create(status=MessageStatus.REJECTED, reason=str(problem), raw=raw)
        _log(record)
        return Received(record=record, ack=_ack(None, record))
    head = mapping.header(message)
    clinic = mapping.clinic_for(head)
    record = InboundHL7Message(
        clinic=clinic, sending_facility=head.sending_facility[:227], receiving_facility=head.receiving_facility[:227],
        control_id=head.control_id[:199], message_type=head.message_type[:20], raw=raw,
        status=MessageStatus.REJECTED,
    )
    with transaction.atomic():
        if record.control_id:
            try:
                with transaction.atomic():
                    record.save()
            except IntegrityError:
                first = InboundHL7Message.objects.get(
                    sending_facility=record.sending_facility, receiving_facility=record.receiving_facility,
                    control_id=record.control_id,
                )
                logger.info("HL7 message %s (%s) is a resend of #%s", first.control_id, first.message_type, first.pk)
                return Received(record=first, ack=_ack(message, first), duplicate=True)
        record.status, record.reason = _apply(message, head, clinic, record)
        record.reason = record.reason[:REASON_LENGTH]
        record.save()
    _log(record)
    return Received(record=record, ack=_ack(message, record))


def _apply(message: hl7.Message, head: mapping.Header, clinic: Clinic | None,
           record: InboundHL7Message) -> tuple[str, str]:
    if not head.control_id:
        return MessageStatus.REJECTED, "MSH-10 (message control ID) is missing."
    if head.action is None:
        return MessageStatus.REJECTED, (f"{head.message_type or 'This message type'} is not taken here: send SIU "
                                        "S12/S13/S14/S15/S26 or ADT A04/A08.")
    if clinic is None:
        return MessageStatus.REJECTED, "MSH-6 (receiving facility) does not name a clinic here (use its slug)."
    try:
        # A savepoint: a refusal halfway through leaves none of the message's changes behind.
        with transaction.atomic():
            note = APPLY[head.action](message, clinic, record)
    except MappingProblem as problem:
        return MessageStatus.NEEDS_ATTENTION, str(problem)
    except DomainError as refused:
        return MessageStatus.NEEDS_ATTENTION, refused.detail
    return MessageStatus.APPLIED, note or ""


# --- What each message does -----------------------------------------------------------------------


def _patient(message: hl7.Message, clinic: Clinic) -> Patient:
    mrn = mapping.mrn(message)
    patient = Patient.objects.filter(clinic=clinic, mrn=mrn).first()
    if patient is None:
        raise MappingProblem("No patient with this MRN (PID-3) in this clinic: register them (ADT A04) and "
                             "resend, or resolve this message by hand.")
    return patient


def _register(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> str:
    mrn = mapping.mrn(message)
    existing = Patient.objects.filter(clinic=clinic, mrn=mrn).first()
    if existing is not None:  # a registration of someone we know updates them, as an A08 would
        record.patient = services.patient_update(patient=existing, actor=feed_actor(clinic),
                                                 **mapping.demographics(message, complete=False))
        return "The patient was already registered; their demographics were updated."
    record.patient = services.patient_create(clinic=clinic, actor=feed_actor(clinic), mrn=mrn,
                                             **mapping.demographics(message, complete=True))
    return ""


def _update_patient(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> str:
    patient = _patient(message, clinic)
    record.patient = patient
    services.patient_update(patient=patient, actor=feed_actor(clinic), **mapping.demographics(message, complete=False))
    return ""


def _kind_codes(clinic: Clinic) -> dict:
    feed = ClinicFeedSettings.objects.filter(clinic=clinic).first()
    return feed.kind_codes if feed is not None else {}


def _book(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> str:
    patient = _patient(message, clinic)
    record.patient = patient
    ref = mapping.appointment_ref(message)
    kind = mapping.kind(message, kind_codes=_kind_codes(clinic))
    starts_at, ends_at = mapping.window(message, clinic=clinic)
    record.appointment = services.appointment_book(
        patient=patient, actor=feed_actor(clinic), kind=kind, starts_at=starts_at, ends_at=ends_at, external_ref=ref,
    )
    return ""


def _appointment(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> Appointment:
    patient = _patient(message, clinic)
    record.patient = patient
    appointment = Appointment.objects.filter(clinic=clinic, external_ref=mapping.appointment_ref(message)).first()
    if appointment is None:
        raise MappingProblem("No appointment with this ID (SCH-2/SCH-1) in this clinic: was its S12 received?")
    if appointment.patient_id != patient.pk:
        raise MappingProblem("The appointment (SCH-2) belongs to another patient than PID-3 names.")
    record.appointment = appointment
    return appointment


def _reschedule(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> str:
    appointment = _appointment(message, clinic, record)
    starts_at, ends_at = mapping.window(message, clinic=clinic)
    if (starts_at, ends_at) == (appointment.starts_at, appointment.ends_at):
        return "The appointment was already at this time."
    services.appointment_reschedule(appointment=appointment, actor=feed_actor(clinic), starts_at=starts_at,
                                    ends_at=ends_at)
    return ""


def _modify(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> str:
    """S14: what may change on a booked appointment here is its time; another kind is a new booking."""
    appointment = _appointment(message, clinic, record)
    if mapping.kind(message, kind_codes=_kind_codes(clinic)) != appointment.kind:
        raise MappingProblem("The kind of appointment (AIS-3) cannot change: cancel it (S15) and book anew (S12).")
    return _reschedule(message, clinic, record)


def _cancel(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> str:
    appointment = _appointment(message, clinic, record)
    if appointment.status == AppointmentStatus.CANCELLED:
        return "The appointment was already cancelled."
    reason = mapping.event_reason(message) or f"Cancelled by the scheduling system ({record.message_type})."
    services.appointment_cancel(appointment=appointment, actor=feed_actor(clinic), reason=reason[:300])
    return ""


def _no_show(message: hl7.Message, clinic: Clinic, record: InboundHL7Message) -> str:
    appointment = _appointment(message, clinic, record)
    if appointment.status == AppointmentStatus.NOSHOW:
        return "The appointment was already marked a no-show."
    services.appointment_no_show(appointment=appointment, actor=feed_actor(clinic))
    return ""


APPLY = {
    "book": _book,
    "reschedule": _reschedule,
    "modify": _modify,
    "cancel": _cancel,
    "no_show": _no_show,
    "register": _register,
    "update_patient": _update_patient,
}


# --- The answer -----------------------------------------------------------------------------------

# An MSH the library can answer from when the message had none it could read (MSH-9 needs its components).
_NO_HEADER = "MSH|^~\\&|||||||ACK^^ACK|||2.5.1"


def _ack(message: hl7.Message | None, record: InboundHL7Message) -> str:
    try:
        return _ack_from(message, record) if message is not None else _ack_from(hl7.parse(_NO_HEADER), record)
    except (TypeError, IndexError, KeyError):  # an MSH too broken for the library to answer from
        return _ack_from(hl7.parse(_NO_HEADER), record)


def _ack_from(source: hl7.Message, record: InboundHL7Message) -> str:
    ack = source.create_ack(ack_code=record.ack_code, message_id=f"ACK{record.pk}",
                            application=settings.HL7_APPLICATION)
    # The library stamps MSH-7 in UTC without an offset, which a receiver would read as its local time.
    ack.segment("MSH").assign_field(timezone.now().strftime("%Y%m%d%H%M%S+0000"), 7)
    msa = ack.segment("MSA")
    msa.assign_field(source.escape(record.control_id), 2)  # also when answering from the stand-in header
    if record.reason:
        msa.assign_field(source.escape(record.reason[:REASON_LENGTH]), 3)
    return str(ack)


def _log(record: InboundHL7Message) -> None:
    # Ids and outcomes only: the message itself and the reason's context stay in the database.
    logger.info("HL7 message #%s %s %s: %s", record.pk, record.message_type or "-", record.control_id or "-",
                record.status)


def inbound_message_resolve(*, record: InboundHL7Message, note: str) -> InboundHL7Message:
    """A coordinator has dealt with a message that needed attention (by hand, or by a later resend)."""
    InboundHL7Message.objects.filter(pk=record.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolution_note=note[:500]
    )
    record.refresh_from_db(fields=["resolved_at", "resolution_note"])
    return record


def inbound_message_retry(*, record: InboundHL7Message, note: str) -> InboundHL7Message:
    """Apply a kept message again, as the listener would (the same mapping, the same savepoint), after a
    coordinator fixed what stopped it (e.g. registered the patient). Applied: resolved with `note`; still
    refused: kept, with the new reason. A message already resolved or applied meanwhile is left as it is."""
    with transaction.atomic():
        locked = InboundHL7Message.objects.select_for_update().get(pk=record.pk)
        if locked.status != MessageStatus.NEEDS_ATTENTION or locked.resolved_at is not None:
            return locked
        message = mapping.parse(locked.raw)
        status, reason = _apply(message, mapping.header(message), locked.clinic, locked)
        locked.status, locked.reason = status, reason[:REASON_LENGTH]
        if status == MessageStatus.APPLIED:
            locked.resolved_at, locked.resolution_note = timezone.now(), note[:500]
        locked.save()
    _log(locked)
    return locked
