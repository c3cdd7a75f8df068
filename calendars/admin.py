"""Calendar feeds in the admin: a clinic administrator makes and revokes the feeds of their clinics and of those
clinics' physicians (superusers: any). The token is shown once, in the message after "Save"; rows are never
edited, only revoked, and every change goes through calendars.services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.urls import reverse

from pathway.actors import Actor
from pathway.admin import ClinicScopedAdmin
from pathway.stages import Role

from . import services
from .models import CalendarFeed


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ClinicScopedAdmin):
    scope_roles = (Role.ADMIN,)
    list_display = ["__str__", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = [("clinic", admin.RelatedOnlyFieldListFilter), "revoked_at"]
    list_select_related = ["physician", "clinic", "created_by"]
    readonly_fields = ["external_id", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["physician", "clinic"] if obj is None else ["physician", "clinic", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["physician", "clinic", *self.readonly_fields]

    def get_queryset(self, request) -> QuerySet:
        queryset = CalendarFeed.objects.all()
        if request.user.is_superuser:
            return queryset
        clinic_ids = self.scoped_clinic_ids(request)
        return queryset.filter(Q(clinic_id__in=clinic_ids) | Q(
            physician__clinic_memberships__clinic_id__in=clinic_ids,
            physician__clinic_memberships__role=Role.PHYSICIAN)).distinct()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        clinics = self.scoped_clinics(request)
        if db_field.name == "clinic":
            kwargs["queryset"] = clinics
        elif db_field.name == "physician":
            kwargs["queryset"] = get_user_model().objects.filter(
                clinic_memberships__clinic__in=clinics, clinic_memberships__role=Role.PHYSICIAN).distinct()
        return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on a feed is edited; it is revoked instead
        feed, token = services.calendar_feed_create(actor=Actor.for_user(request.user), physician=obj.physician,
                                                    clinic=obj.clinic)
        obj.pk, obj.external_id, obj.token_hash = feed.pk, feed.external_id, feed.token_hash
        obj.created_at, obj.created_by = feed.created_at, feed.created_by
        obj._state.adding = False
        link = request.build_absolute_uri(reverse("calendars:feed", args=[token]))
        self.message_user(request, f"The calendar link of {feed.owner_label} is: {link} — copy it now: it is not "
                          "shown again. Any earlier link of the same owner no longer opens.", messages.WARNING)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected calendar links", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        actor = Actor.for_user(request.user)
        for feed in queryset.filter(revoked_at__isnull=True).select_related("physician", "clinic"):
            services.calendar_feed_revoke(actor=actor, feed=feed)
        self.message_user(request, "Revoked: those links no longer open.", messages.SUCCESS)


