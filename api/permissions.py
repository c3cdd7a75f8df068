"""What each role may read and do through the API (DOMAIN.md, "The people"); the only place that decides it.

Object visibility is the selectors' job (another clinic's object is simply absent, hence 404); these
rules decide, for an object the caller can see, whether their role may see its clinical side or act on it.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from outcomes.reports import REPORT_ROLES
from pathway.actors import Actor
from pathway.errors import NotPermitted
from pathway.stages import CLINICAL_ROLES, Role

from .authentication import actor_for

STAFF_ROLES = (Role.COORDINATOR, Role.PHYSICIAN, Role.FRONT_DESK)


class IsClinicStaff(BasePermission):
    """Signed in (or holding a key) with a staff role in at least one clinic."""

    message = "You hold no staff role in any clinic."

    def has_permission(self, request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        return bool(actor_for(request).clinic_ids_for(*STAFF_ROLES))


class IsClinical(BasePermission):
    """A coordinator or physician in at least one clinic: caseloads and other clinical-only resources."""

    message = "Your role may not see clinical information."

    def has_permission(self, request, view) -> bool:
        return bool(actor_for(request).clinic_ids_for(*CLINICAL_ROLES))


def sees_clinical(actor: Actor, clinic_id: int) -> bool:
    """Diagnoses, pain entries, relief, notes and reasons: coordinators and physicians only."""
    return actor.role_in(clinic_id) in CLINICAL_ROLES


def require_clinical(actor: Actor, clinic_id: int) -> None:
    if not sees_clinical(actor, clinic_id):
        raise NotPermitted("Your role may not see or change clinical information.")


def caseload_physician(actor: Actor, requested):
    """Whose caseload the caller may read: a physician their own; a coordinator anyone's, or the whole clinic."""
    if actor.user is not None and actor.clinic_ids_for(Role.PHYSICIAN) and not actor.clinic_ids_for(Role.COORDINATOR):
        if requested is not None and requested != actor.user:
            raise NotPermitted("A physician reads their own caseload.")
        return actor.user
    return requested


class CanReadReports(BasePermission):
    """Coordinators, physicians and clinic administrators (people or keys holding those roles)."""

    message = "Your role may not read the clinic reports."

    def has_permission(self, request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        return bool(actor_for(request).clinic_ids_for(*REPORT_ROLES))


class CanReadSchema(BasePermission):
    """The OpenAPI document and its docs page: clinic staff and integrations, and the admins who issue keys.

    They hold no patient data, but map every endpoint and filter; nobody outside the clinics needs them.
    """

    def has_permission(self, request, view) -> bool:
        if getattr(request.user, "is_staff", False) and request.user.is_active:
            return True
        return IsClinicStaff().has_permission(request, view)
