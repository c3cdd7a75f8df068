from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from pathway.admin import ClinicScopedAdmin, ReadOnlyAdmin, ReadOnlyAdminMixin
from pathway.stages import Role

from .models import AuditEvent, ClinicAPIKey, ConsentChange


@admin.register(ClinicAPIKey)
class ClinicAPIKeyAdmin(ClinicScopedAdmin, APIKeyModelAdmin):
    """A clinic administrator manages the keys of their own clinic only."""

    scope_roles = (Role.ADMIN,)
    list_display = [*APIKeyModelAdmin.list_display, "clinic", "role", "last_used_at"]
    list_filter = [*APIKeyModelAdmin.list_filter, "clinic", "role"]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "last_used_at")


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
