from datetime import timedelta

from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin

from pathway.admin import ClinicScopedAdmin, ReadOnlyAdmin, ReadOnlyAdminMixin
from pathway.stages import Role

from .keys import api_key_rotate
from .models import AuditEvent, ClinicAPIKey, ConsentChange


@admin.register(ClinicAPIKey)
class ClinicAPIKeyAdmin(ClinicScopedAdmin, APIKeyModelAdmin):
    """A clinic administrator manages the keys of their own clinic only."""

    scope_roles = (Role.ADMIN,)
    list_display = [*APIKeyModelAdmin.list_display, "clinic", "role", "last_used_at", "replaces"]
    list_filter = [*APIKeyModelAdmin.list_filter, "clinic", "role", "revoked"]
    actions = ["rotate"]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "last_used_at", "replaces")

    @admin.action(description="Rotate: a new key now, the old one expires in 24 hours", permissions=["change"])
    def rotate(self, request, queryset) -> None:
        for api_key in queryset:
            try:
                new, key = api_key_rotate(api_key=api_key, grace=timedelta(hours=24))
            except ValueError as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            self.message_user(request, f"The new API key for {new.name} is: {key}. It replaces {api_key.prefix}. "
                              "Store it somewhere safe: it is not shown again.", messages.WARNING)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only; no group is granted it, so only superusers list it."""

    list_display = ["at", "actor_label", "action", "method", "status_code", "request_id", "address"]
    list_filter = ["action", "method", "status_code"]
    search_fields = ["request_id", "actor_label", "path"]
    date_hierarchy = "at"


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyAdmin):
    audit_patient = "patient__external_id"
    clinic_field = "patient__clinic"
    list_display = ["at", "patient", "consent", "given", "method", "actor_label"]
    list_filter = ["consent", "given", "method"]
    list_select_related = ["patient"]
