"""The FHIR interface's reads: pathway.selectors' scoped querysets, joined for what each resource shows.

Every queryset starts from a scoped selector, so another clinic's object is simply absent (404), and the
clinical ones from the clinical scope, so the front desk's searches find nothing to show (the views answer 403).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet

from pathway import selectors
from pathway.actors import Actor
from pathway.models import Appointment, Clinic, Episode, PainEntry, Patient, TransitionLog
from pathway.stages import CLINICAL_ROLES, Role

STAFF_ROLES = selectors.STAFF_ROLES


def clinics_for(*, actor: Actor, clinical: bool = False) -> list[Clinic]:
    roles = CLINICAL_ROLES if clinical else STAFF_ROLES
    return list(Clinic.objects.filter(pk__in=actor.clinic_ids_for(*roles)).order_by("pk"))


def fhir_patients_for(*, actor: Actor) -> QuerySet[Patient]:
    return selectors.patient_list_for(actor=actor).select_related("clinic")


def fhir_practitioners_for(*, actor: Actor) -> QuerySet:
    """The physicians of the caller's clinics (any staff role may name one on a booking)."""
    return get_user_model().objects.filter(
        clinic_memberships__clinic_id__in=actor.clinic_ids_for(*STAFF_ROLES),
        clinic_memberships__role=Role.PHYSICIAN,
    ).distinct()


_HISTORY = Prefetch("transition_logs", queryset=TransitionLog.objects.only(
    "episode_id", "transition", "from_stage", "to_stage", "at").order_by("at", "id"))


def fhir_episodes_for(*, actor: Actor, clinical: bool = True) -> QuerySet[Episode]:
    """Episodes with what EpisodeOfCare shows; `clinical=False` reaches every visible one (a read that
    must tell "not yours" (404) from "not for your role" (403))."""
    episodes = selectors.clinical_episodes_for(actor=actor) if clinical else selectors.episodes_for(actor=actor)
    return episodes.prefetch_related(_HISTORY)


def fhir_conditions_for(*, actor: Actor, clinical: bool = True) -> QuerySet[Episode]:
    """Episodes with a qualifying diagnosis recorded: one Condition each."""
    episodes = selectors.clinical_episodes_for(actor=actor) if clinical else selectors.episodes_for(actor=actor)
    return episodes.exclude(diagnosis="")


def fhir_pain_entries_for(*, actor: Actor, clinical: bool = True) -> QuerySet[PainEntry]:
    episodes = selectors.clinical_episodes_for(actor=actor) if clinical else selectors.episodes_for(actor=actor)
    return PainEntry.objects.filter(episode__in=episodes.values("pk")).select_related(
        "episode__patient", "episode__clinic")


def fhir_appointments_for(*, actor: Actor) -> QuerySet[Appointment]:
    return selectors.appointments_for(actor=actor).select_related("episode__physician")
