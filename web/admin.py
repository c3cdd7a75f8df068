"""Sign-in lockouts in the admin: a clinic administrator sees and unlocks the staff of their own clinics only.

Superusers also see attempts on usernames that belong to no clinic (unknown names, a guessing address).
"""

from __future__ import annotations

import logging

from axes.models import AccessAttempt
from axes.utils import reset
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from pathway.actors import Actor
from pathway.stages import Role

log = logging.getLogger(__name__)


@admin.register(AccessAttempt)
class SignInLockoutAdmin(admin.ModelAdmin):
    """Failed sign-ins per username and address; "Unlock" clears the chosen users' counts everywhere."""

    list_display = ["username", "ip_address", "failures_since_start", "attempt_time", "path_info"]
    list_filter = ["attempt_time"]
    search_fields = ["username", "ip_address"]
    fields = ["username", "ip_address", "user_agent", "path_info", "failures_since_start", "attempt_time"]
    readonly_fields = fields
    actions = ["unlock"]
    date_hierarchy = "attempt_time"

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        clinic_ids = Actor.for_user(request.user).clinic_ids_for(Role.ADMIN)
        usernames = get_user_model().objects.filter(clinic_memberships__clinic_id__in=clinic_ids).values(
            get_user_model().USERNAME_FIELD
        )
        return queryset.filter(username__in=usernames)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Unlock sign-in for the selected users", permissions=["delete"])
    def unlock(self, request, queryset: QuerySet) -> None:
        usernames = sorted({name for name in queryset.values_list("username", flat=True) if name})
        for username in usernames:
            reset(username=username)
        log.info("Sign-in unlocked for %d user(s) by user id %s", len(usernames), request.user.pk)
        self.message_user(request, f"Sign-in unlocked for {len(usernames)} user(s).", messages.SUCCESS)
