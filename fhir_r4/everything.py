"""`Patient/[id]/$everything`: the patient and what of theirs the caller's role may see, in a fixed order.

Scoped by the same selectors as read and search: the patient comes from the caller's clinics (else 404), the
clinical resources only where the caller holds a clinical role in the patient's clinic (the front desk gets the
patient, their bookings and the Practitioners these name). A handful of queries, whatever the patient holds.
"""

from __future__ import annotations

from pathway.actors import Actor
from pathway.models import Patient
from pathway.stages import CLINICAL_ROLES

from . import resources as r
from . import selectors as sel


def everything_of(*, actor: Actor, patient: Patient) -> list:
    """The resources, the patient first, then Practitioners, EpisodeOfCares, Conditions, Observations,
    Appointments, each oldest first."""
    clinical = patient.clinic_id in actor.clinic_ids_for(*CLINICAL_ROLES)
    appointments = list(sel.fhir_appointments_for(actor=actor).filter(patient=patient).order_by("created_at", "id"))
    episodes, entries = [], []
    if clinical:
        episodes = list(sel.fhir_episodes_for(actor=actor).filter(patient=patient).select_related(
            "physician", "clinic", "patient").order_by("created_at", "id"))
        entries = list(sel.fhir_pain_entries_for(actor=actor).filter(episode__patient=patient).order_by(
            "recorded_at", "id"))
    physician_ids = {patient.primary_physician_id} | {e.physician_id for e in episodes} | {
        a.episode.physician_id for a in appointments if a.episode_id}
    practitioners = sel.fhir_practitioners_for(actor=actor).filter(pk__in=physician_ids - {None}).order_by(
        "date_joined", "id")
    resources = [r.patient_resource(patient)]
    resources += [r.practitioner_resource(user) for user in practitioners]
    resources += [r.episode_resource(episode) for episode in episodes]
    resources += [r.condition_resource(episode) for episode in episodes if episode.diagnosis]
    resources += [obs for entry in entries for obs in r.observations_of(entry)]
    resources += [r.appointment_resource(appointment) for appointment in appointments]
    return resources
