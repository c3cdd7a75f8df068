"""Consent changes with when, how and by whom (the patient row keeps only the latest state)."""

from __future__ import annotations

from pathway.actors import Actor
from pathway.models import Patient
from pathway.services import CONSENTS

from .models import ConsentChange


def consent_stamps(patient: Patient | None) -> dict[str, object]:
    return {name: getattr(patient, f"{name}_consent_at") if patient else None for name in CONSENTS}


def record_consent_changes(*, before: dict[str, object], after: Patient, actor: Actor, request_id: str) -> None:
    """One row per consent whose stamp the service moved (pathway.services stamps when and how it changed)."""
    rows = [
        ConsentChange(
            patient=after, consent=name, given=getattr(after, f"{name}_consent"),
            method=getattr(after, f"{name}_consent_method"), at=getattr(after, f"{name}_consent_at"),
            actor_label=actor.label, actor_user=actor.user, actor_api_key=actor.api_key, request_id=request_id,
        )
        for name in CONSENTS
        if getattr(after, f"{name}_consent_at") is not None and getattr(after, f"{name}_consent_at") != before[name]
    ]
    ConsentChange.objects.bulk_create(rows)
