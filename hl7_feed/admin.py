"""The coordinator's list of what the HL7 feed could not apply, and each clinic's kind mapping."""

from django.contrib import admin, messages

from pathway.admin import ClinicScopedAdmin, ReadOnlyAdmin
from pathway.stages import Role

from .models import ClinicFeedSettings, InboundHL7Message, MessageStatus
from .services import inbound_message_resolve


class OpenProblemFilter(admin.SimpleListFilter):
    title = "to resolve"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Needs attention, not resolved")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=MessageStatus.NEEDS_ATTENTION, resolved_at__isnull=True)
        return queryset


@admin.register(InboundHL7Message)
class InboundHL7MessageAdmin(ReadOnlyAdmin):
    """The raw message holds patient data: coordinators and clinic admins only, and every view is audited."""

    scope_roles = (Role.COORDINATOR, Role.ADMIN)
    audit_patient = "patient__external_id"
    list_display = ["received_at", "message_type", "control_id", "status", "reason", "resolved_at"]
    list_filter = [OpenProblemFilter, "status", "message_type"]
    list_select_related = ["clinic"]
    search_fields = ["control_id"]
    date_hierarchy = "received_at"
    fields = ["clinic", "received_at", "message_type", "sending_facility", "receiving_facility", "control_id",
              "status", "reason", "patient", "appointment", "raw", "resolved_at", "resolution_note"]
    readonly_fields = fields
    actions = ["mark_resolved"]

    @admin.action(description="Mark the selected messages resolved")
    def mark_resolved(self, request, queryset):
        records = list(queryset.filter(status=MessageStatus.NEEDS_ATTENTION, resolved_at__isnull=True))
        for record in records:
            inbound_message_resolve(record=record, note=f"Resolved in the admin by {request.user.get_username()}.")
        self.message_user(request, f"{len(records)} message(s) marked resolved.", messages.SUCCESS)


@admin.register(ClinicFeedSettings)
class ClinicFeedSettingsAdmin(ClinicScopedAdmin):
    scope_roles = (Role.ADMIN,)
    list_display = ["clinic"]
