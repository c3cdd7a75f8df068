"""Who may use the Django admin: coordinators, physicians and clinic administrators; front desk may not.

Django model permissions are granted through two groups. Object visibility is still the admin's clinic scoping
and every write still goes through the services: the permissions only decide which admin pages a user sees.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from pathway.models import Membership
from pathway.stages import Role

CLINIC_STAFF = "Clinic staff"
CLINIC_ADMINISTRATORS = "Clinic administrators"

GROUP_PERMISSIONS = {
    CLINIC_STAFF: {
        "pathway.clinic": ["view"],
        "pathway.membership": ["view"],
        "pathway.patient": ["add", "change", "view"],
        "pathway.episode": ["add", "change", "view"],
        "pathway.checklistitem": ["change", "view"],
        "pathway.painentry": ["add", "view"],
        "pathway.referral": ["add", "view"],
        "pathway.appointment": ["add", "change", "view"],
        "pathway.followupmilestone": ["view"],
        "pathway.transitionlog": ["view"],
        "pathway.priorauthorization": ["add", "change", "view"],
        "pathway.authorizationstatuschange": ["view"],
        "notifications.reminder": ["view"],
        "notifications.inboundmessage": ["view"],
        "api.consentchange": ["view"],
        # The HL7 feed's kept messages (hl7_feed/admin.py shows them to coordinators and admins only).
        "hl7_feed.inboundhl7message": ["view"],
    },
    CLINIC_ADMINISTRATORS: {
        "pathway.clinic": ["change", "view"],
        "pathway.membership": ["add", "change", "delete", "view"],
        "api.clinicapikey": ["add", "change", "delete", "view"],
        # Make and revoke calendar feeds (calendars/admin.py scopes them to their clinics and physicians).
        "calendars.calendarfeed": ["add", "change", "view"],
        "hl7_feed.inboundhl7message": ["view"],
        "hl7_feed.clinicfeedsettings": ["add", "change", "view"],
        # Register webhook endpoints and replay failed deliveries (webhooks/admin.py scopes both to their clinics).
        "webhooks.webhookendpoint": ["add", "change", "delete", "view"],
        "webhooks.webhookdelivery": ["change", "view"],
        "webhooks.webhookattempt": ["view"],
        # Unlock sign-in and reset a lost authenticator (web/admin.py scopes both to their clinics).
        "axes.accessattempt": ["delete", "view"],
        "otp_totp.totpdevice": ["delete", "view"],
        "otp_static.staticdevice": ["delete", "view"],
    },
}
ROLE_GROUPS = {
    Role.COORDINATOR: CLINIC_STAFF,
    Role.PHYSICIAN: CLINIC_STAFF,
    Role.ADMIN: CLINIC_ADMINISTRATORS,
}


def staff_groups_sync() -> dict[str, Group]:
    """Create the groups or reset their permissions to exactly GROUP_PERMISSIONS."""
    groups = {}
    for name, models in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for label, actions in models.items():
            app_label, model = label.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            found = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
            if len(found) != len(codenames):
                raise LookupError(f"Missing permissions for {label}: run migrate first.")
            wanted += found
        group.permissions.set(wanted)
        groups[name] = group
    return groups


def staff_access_sync(*, user, groups: dict[str, Group] | None = None) -> None:
    """Admin access from the user's roles: staff status and groups for coordinators, physicians and admins."""
    groups = groups or staff_groups_sync()
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    wanted = {groups[ROLE_GROUPS[role]] for role in roles if role in ROLE_GROUPS}
    user.groups.remove(*[group for group in groups.values() if group not in wanted])
    user.groups.add(*wanted)
    is_staff = bool(wanted) or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
