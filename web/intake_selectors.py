"""Reads of the intake pages, on the clinic-scoped querysets of pathway.selectors and web.selectors."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from api.models import ConsentChange
from pathway.actors import Actor
from pathway.models import Clinic, Episode, Patient, Referral
from pathway.stages import CLINICAL_ROLES, Role

CONSENT_CHANGES_SHOWN = 20


def coordinators_for(*, actor: Actor) -> QuerySet:
    return (
        get_user_model()
        .objects.filter(
            clinic_memberships__clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES),
            clinic_memberships__role=Role.COORDINATOR,
        )
        .distinct()
        .order_by("last_name", "username")
    )


def physicians_of(*, clinic: Clinic) -> list:
    return list(
        get_user_model()
        .objects.filter(clinic_memberships__clinic=clinic, clinic_memberships__role=Role.PHYSICIAN)
        .order_by("last_name", "username")
    )


def consent_changes(*, patient: Patient) -> list[ConsentChange]:
    """The latest consent changes, newest first."""
    return list(patient.consent_changes.order_by("-at", "-id")[:CONSENT_CHANGES_SHOWN])


def episode_referrals(*, episode: Episode) -> list[Referral]:
    return list(episode.referrals.select_related("created_by").order_by("created_at", "id"))


def referral_of(*, episode: Episode, external_id) -> Referral | None:
    return episode.referrals.select_related("episode__clinic").filter(external_id=external_id).first()
