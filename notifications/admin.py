"""Coordinators see every outcome here; nothing is edited by hand (the services own these rows)."""

from django.contrib import admin

from pathway.admin import ReadOnlyAdmin

from .models import InboundMessage, Reminder


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    audit_patient = "patient__external_id"
    list_display = ("purpose", "channel", "status", "scheduled_for", "sent_at", "attempts", "clinic", "reason")
    list_filter = ("status", "channel", "purpose", "clinic")
    date_hierarchy = "scheduled_for"
    search_fields = ("external_id", "provider_message_id", "patient__mrn")
    list_select_related = ("clinic",)
    readonly_fields = [f.name for f in Reminder._meta.fields]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    audit_patient = "patient__external_id"
    list_display = ("received_at", "action", "needs_attention", "handled_at", "clinic", "patient", "note")
    list_filter = ("needs_attention", "action", "clinic")
    list_select_related = ("clinic", "patient")
    readonly_fields = [f.name for f in InboundMessage._meta.fields]
