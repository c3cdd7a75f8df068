"""Sign-in in the admin: a clinic administrator unlocks, and resets the authenticator of, the staff of their own
clinics only. Superusers also see attempts on usernames that belong to no clinic (unknown names, a guessing
address). These registrations come before django-otp's own (web is listed first), which then stand aside:
its pages would show every user's devices, and the secrets, to anyone with the model permission.
"""

from __future__ import annotations

import logging

from axes.models import AccessAttempt
from axes.utils import reset
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from pathway.actors import Actor
from pathway.stages import Role

log = logging.getLogger(__name__)


def administered_users(request) -> QuerySet:
    """Users with a membership in a clinic where the requesting user is an administrator."""
    clinic_ids = Actor.for_user(request.user).clinic_ids_for(Role.ADMIN)
    return get_user_model().objects.filter(clinic_memberships__clinic_id__in=clinic_ids)


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
        return queryset.filter(username__in=administered_users(request).values(get_user_model().USERNAME_FIELD))

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


class AdministeredDeviceAdmin(admin.ModelAdmin):
    """A user's second factors, listed without their secrets; only "Reset" changes anything."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields
    actions = ["reset"]

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user__in=administered_users(request))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Reset: the user sets up a new authenticator at the next sign-in", permissions=["delete"])
    def reset(self, request, queryset: QuerySet) -> None:
        user_ids = set(queryset.values_list("user_id", flat=True))
        TOTPDevice.objects.filter(user_id__in=user_ids).delete()
        StaticDevice.objects.filter(user_id__in=user_ids).delete()
        log.info("Second factor reset for %d user(s) by user id %s", len(user_ids), request.user.pk)
        self.message_user(request, f"Authenticator and recovery codes reset for {len(user_ids)} user(s); they set "
                          "up a new authenticator at their next sign-in.", messages.SUCCESS)


@admin.register(TOTPDevice)
class AuthenticatorAdmin(AdministeredDeviceAdmin):
    pass


@admin.register(StaticDevice)
class RecoveryCodesAdmin(AdministeredDeviceAdmin):
    list_display = [*AdministeredDeviceAdmin.list_display, "codes_left"]

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).annotate(codes_left=Count("token_set"))

    @admin.display(description="codes left", ordering="codes_left")
    def codes_left(self, device) -> int:
        return device.codes_left
