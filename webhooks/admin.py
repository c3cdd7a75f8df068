"""The clinic administrator's webhooks: their clinics' endpoints and deliveries only (ClinicScopedAdmin), every
write through webhooks.services (a refusal rolls the form back and says why), failed deliveries replayable."""

from django.contrib import admin, messages

from pathway.admin import ClinicScopedAdmin
from pathway.stages import Role

from . import services
from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class EndpointAdmin(ClinicScopedAdmin):
    scope_roles = (Role.ADMIN,)
    list_display = ("url", "clinic", "role", "enabled", "created_at")
    list_filter = ("clinic", "role", "enabled")
    fields = ("clinic", "url", "role", "event_types", "enabled")

    def save_model(self, request, obj, form, change):
        # InvalidInput propagates: ClinicScopedAdmin.changeform_view rolls the form back and shows the reason.
        if change:
            services.endpoint_update(endpoint=obj, url=obj.url, event_types=obj.event_types, role=obj.role,
                                     enabled=obj.enabled)
        else:
            endpoint, secret = services.endpoint_create(clinic=obj.clinic, url=obj.url, event_types=obj.event_types,
                                                        role=obj.role, enabled=obj.enabled)
            obj.pk, obj.secret_encrypted = endpoint.pk, endpoint.secret_encrypted
            messages.warning(request, f"Signing secret (shown once, copy it now): {secret}")


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = readonly_fields = ("at", "status_code", "duration_ms", "error_class")
    extra = 0
    can_delete = False


@admin.register(WebhookDelivery)
class DeliveryAdmin(ClinicScopedAdmin):
    scope_roles = (Role.ADMIN,)
    clinic_field = "endpoint__clinic"
    list_display = ("created_at", "endpoint", "event_type", "status", "attempts", "last_error")
    list_filter = ("status", "endpoint")
    list_select_related = ("event", "endpoint")
    readonly_fields = ("event", "endpoint", "status", "attempts", "next_attempt_at", "created_at", "finished_at",
                       "last_status_code", "last_error")
    exclude = ("lease_token", "lease_until", "ordering_key", "sequence")
    inlines = [AttemptInline]
    actions = ["replay"]

    @admin.display(description="event")
    def event_type(self, obj):
        return obj.event.type

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Replay the selected failed deliveries", permissions=["change"])
    def replay(self, request, queryset):
        count = sum(services.delivery_replay(delivery=d) for d in queryset.filter(status=DeliveryStatus.FAILED))
        messages.info(request, f"{count} deliveries queued again.")
