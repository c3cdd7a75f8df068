"""A scheduling system's FHIR Appointment, read into the same services the v1 API books and changes through.

`booking_from` checks the resource (fhir.resources' R4 model, then what this clinic can book) and names the
objects it refers to through the scoped selectors; `appointment_update_from_fhir` turns a changed resource into
the service calls (reschedule, then the status change), each under the services' own row locks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from pydantic import ValidationError

from api.errors import UnknownReference
from pathway import selectors, services
from pathway.actors import Actor
from pathway.errors import InvalidInput
from pathway.models import Appointment, Episode, Patient
from pathway.stages import AppointmentKind, AppointmentStatus

from . import codes

# Appointment.status a PUT may ask for -> the service that gets it there
STATUS_CHANGES = {
    AppointmentStatus.ARRIVED: services.appointment_check_in,
    AppointmentStatus.FULFILLED: services.appointment_complete,
    AppointmentStatus.NOSHOW: services.appointment_no_show,
    AppointmentStatus.ENTERED_IN_ERROR: services.appointment_enter_in_error,
}


@dataclass(frozen=True)
class Booking:
    patient: Patient
    episode: Episode | None
    kind: str
    starts_at: object
    ends_at: object
    status: str
    external_ref: str | None
    cancellation_reason: str


def _id_of(reference: str | None, resource_type: str) -> uuid.UUID | None:
    kind, _, rest = (reference or "").rpartition("/")
    if not kind.endswith(resource_type):
        return None
    try:
        return uuid.UUID(rest)
    except ValueError:
        return None


def _parsed(data) -> FhirAppointment:
    if not isinstance(data, dict) or data.get("resourceType") != "Appointment":
        raise InvalidInput({"resourceType": ["Send an Appointment resource."]})
    try:
        return FhirAppointment.model_validate(data)
    except ValidationError as exc:
        # The messages only: pydantic's own text quotes the input, which may be patient data.
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            errors.setdefault(".".join(str(p) for p in error["loc"]) or "Appointment", []).append(error["msg"])
        raise InvalidInput(errors, detail="The Appointment is not valid FHIR R4.") from None


def booking_from(data, *, actor: Actor) -> Booking:
    resource = _parsed(data)
    patient_ids = [pid for p in resource.participant or [] if p.actor is not None
                   if (pid := _id_of(p.actor.reference, "Patient")) is not None]
    if len(patient_ids) != 1:
        raise InvalidInput({"participant": ["Name exactly one participant Patient/<id>."]})
    patient = selectors.patients_for(actor=actor).filter(external_id=patient_ids[0]).select_related("clinic").first()
    if patient is None:
        raise UnknownReference({"participant": ["No such patient."]})

    episode = None
    for extension in resource.extension or []:
        if extension.url == codes.EPISODE_OF_CARE_EXTENSION and extension.valueReference is not None:
            episode_id = _id_of(extension.valueReference.reference, "EpisodeOfCare")
            episode = selectors.episodes_for(actor=actor).filter(external_id=episode_id).first() if episode_id else None
            if episode is None:
                raise UnknownReference({"extension": ["No such EpisodeOfCare."]})

    kinds = [c.code for t in resource.serviceType or [] for c in t.coding or []
             if c.system == codes.code_system("appointment-kind") and c.code in AppointmentKind.values]
    if not kinds:
        raise InvalidInput({"serviceType": [f"Give the kind as a coding of {codes.code_system('appointment-kind')}: "
                                            f"{', '.join(AppointmentKind.values)}."]})
    if resource.start is None or resource.end is None:
        raise InvalidInput({"start": ["Give start and end, with their offset."]})
    if resource.start.tzinfo is None or resource.end.tzinfo is None:
        raise InvalidInput({"start": ["Give start and end with their offset (…T09:30:00-06:00)."]})
    identifiers = [i.value for i in resource.identifier or [] if i.value]
    reason = resource.cancelationReason.text if resource.cancelationReason and resource.cancelationReason.text else ""
    return Booking(patient=patient, episode=episode, kind=kinds[0], starts_at=resource.start, ends_at=resource.end,
                   status=resource.status, external_ref=identifiers[0] if identifiers else None,
                   cancellation_reason=reason)


def appointment_book_from_fhir(*, booking: Booking, actor: Actor) -> Appointment:
    if booking.status != AppointmentStatus.BOOKED:
        raise InvalidInput({"status": ["A new appointment is booked: send status \"booked\"."]})
    return services.appointment_book(patient=booking.patient, episode=booking.episode, actor=actor,
                                     kind=booking.kind, starts_at=booking.starts_at, ends_at=booking.ends_at,
                                     external_ref=booking.external_ref)


def appointment_update_from_fhir(*, appointment: Appointment, booking: Booking, actor: Actor) -> Appointment:
    """Move and/or change the status of `appointment` (locked by the caller) as the resource asks."""
    unchanged = {
        "participant": booking.patient.pk == appointment.patient_id,
        "serviceType": booking.kind == appointment.kind,
        "extension": (booking.episode.pk if booking.episode else None) == appointment.episode_id,
        "identifier": booking.external_ref in (None, appointment.external_ref),
    }
    if changed := [name for name, same in unchanged.items() if not same]:
        raise InvalidInput({name: ["This cannot change on a booked appointment: cancel it and book anew."]
                            for name in changed})
    if booking.status not in (appointment.status, AppointmentStatus.CANCELLED, *STATUS_CHANGES):
        raise InvalidInput({"status": [f"Give one of {', '.join(AppointmentStatus.values)}."]})
    if (booking.starts_at, booking.ends_at) != (appointment.starts_at, appointment.ends_at):
        appointment = services.appointment_reschedule(appointment=appointment, actor=actor,
                                                      starts_at=booking.starts_at, ends_at=booking.ends_at)
    if booking.status == appointment.status:
        return appointment
    if booking.status == AppointmentStatus.CANCELLED:
        if not booking.cancellation_reason:
            raise InvalidInput({"cancelationReason": ["Say why it is cancelled (cancelationReason.text)."]})
        return services.appointment_cancel(appointment=appointment, actor=actor, reason=booking.cancellation_reason)
    return STATUS_CHANGES[booking.status](appointment=appointment, actor=actor)
