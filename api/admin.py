from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from .models import AuditEvent, ClinicAPIKey, ConsentChange


@admin.register(ClinicAPIKey)
class ClinicAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "clinic", "role", "last_used_at"]
    list_filter = [*APIKeyModelAdmin.list_filter, "clinic", "role"]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "last_used_at")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: admins list and read them; nobody adds, edits or deletes them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "method", "status_code", "request_id", "address"]
    list_filter = ["action", "method", "status_code"]
    search_fields = ["request_id", "actor_label", "path"]
    date_hierarchy = "at"


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "patient", "consent", "given", "method", "actor_label"]
    list_filter = ["consent", "given", "method"]
    list_select_related = ["patient"]
