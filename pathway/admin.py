"""The Django admin, for coordinators and physicians: every write goes through `pathway.services`.

Querysets are scoped to the clinics the user works in (superusers see all). The episode page runs the state
machine through django-fsm-2's admin integration, whose transition step is routed to
`services.episode_transition`, so locking, permissions, guards and the TransitionLog apply as everywhere else.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django_fsm.admin import FSMAdminMixin, FSMObjectTransition, FSMTransitionContext

from api.audit import audit_read, audit_record

from . import services
from .actors import Actor
from .clinic_time import clinic_today
from .errors import DomainError, InvalidInput, TransitionRefused
from .forms import ChecklistItemForm, EpisodeForm, HoldForm, ReleaseForm, transition_form_for
from .models import (
    Appointment,
    AuthorizationStatusChange,
    ChecklistItem,
    Clinic,
    Episode,
    FollowUpMilestone,
    Membership,
    PainEntry,
    Patient,
    PriorAuthorization,
    Referral,
    TransitionLog,
)
from .rules import episode_relief
from .selectors import days_in_stage, episode_is_stalled, milestone_is_overdue, past_window_q, stalled_q
from .stages import CLINICAL_ROLES, PainSource, Role, Stage

admin.site.site_header = "DRG pathway"
admin.site.site_title = "DRG pathway"
admin.site.index_title = "Clinic administration"


def describe(error: DomainError) -> str:
    """A domain refusal in the words shown to the user."""
    if isinstance(error, InvalidInput):
        return " ".join(
            f"{name.replace('_', ' ').capitalize()}: {' '.join(problems)}" if name != "non_field_errors"
            else " ".join(problems)
            for name, problems in error.errors.items()
        )
    return error.detail


def actor_for(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user)


# --- Scoping --------------------------------------------------------------------------------------


class ClinicScopedAdmin(admin.ModelAdmin):
    """Shows only rows of the clinics where the user holds one of `scope_roles`; superusers see all."""

    clinic_field = "clinic"
    scope_roles: tuple[str, ...] = tuple(CLINICAL_ROLES)
    # The lookup from a row to its patient's external id: lists and change pages name those patients in the
    # audit trail (one query per page). Empty for rows that carry no patient data.
    audit_patient = ""

    def _audit(self, request: HttpRequest, action: str, queryset: QuerySet) -> None:
        if self.audit_patient:
            audit_read(request, f"admin.{self.model._meta.model_name}.{action}",
                       *queryset.values_list(self.audit_patient, flat=True))

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            shown = [row.pk for row in changelist.result_list]
            self._audit(request, "list", self.get_queryset(request).filter(pk__in=shown))
        return response

    def scoped_clinic_ids(self, request: HttpRequest) -> list[int]:
        return actor_for(request).clinic_ids_for(*self.scope_roles)

    def scoped_clinics(self, request: HttpRequest) -> QuerySet[Clinic]:
        if request.user.is_superuser:
            return Clinic.objects.all()
        return Clinic.objects.filter(pk__in=self.scoped_clinic_ids(request))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.clinic_field}__in": self.scoped_clinic_ids(request)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs["queryset"] = scoped_choices(db_field.name, request, self.scoped_clinics(request))
        if kwargs["queryset"] is None:
            del kwargs["queryset"]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """A service's refusal rolls back the whole form (the admin runs it in one transaction) and says why."""
        if object_id is not None:
            self._audit(request, "change" if request.method == "POST" else "view",
                        self.get_queryset(request).filter(pk=object_id))
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, f"Nothing was saved. {describe(error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def scoped_choices(field_name: str, request: HttpRequest, clinics: QuerySet[Clinic]) -> QuerySet | None:
    """The choices of a foreign key, limited to the user's clinics."""
    users = get_user_model().objects.filter(is_active=True).order_by("last_name", "username")
    by_field = {
        "clinic": lambda: clinics,
        "patient": lambda: Patient.objects.filter(clinic__in=clinics).order_by("family_name", "given_name"),
        "episode": lambda: Episode.objects.filter(clinic__in=clinics).select_related("patient"),
        "physician": lambda: users.filter(
            clinic_memberships__clinic__in=clinics, clinic_memberships__role=Role.PHYSICIAN
        ).distinct(),
        "primary_physician": lambda: users.filter(
            clinic_memberships__clinic__in=clinics, clinic_memberships__role=Role.PHYSICIAN
        ).distinct(),
        "coordinator": lambda: users.filter(
            clinic_memberships__clinic__in=clinics, clinic_memberships__role=Role.COORDINATOR
        ).distinct(),
        "user": lambda: grantable_users(request, clinics),
    }
    make = by_field.get(field_name)
    return make() if make else None


class ReadOnlyAdminMixin:
    """Rows written only by the services, or append-only: listed and shown, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    """Read-only, and only the rows of the user's clinics."""


# --- Filters --------------------------------------------------------------------------------------


class StalledFilter(admin.SimpleListFilter):
    title = "stalled"
    parameter_name = "stalled"

    def lookups(self, request, model_admin):
        return [("yes", "Stalled (over the stage's time limit)"), ("no", "Not stalled")]

    def queryset(self, request, queryset):
        if self.value() not in {"yes", "no"}:
            return queryset
        stalled = stalled_q(clinics=Clinic.objects.filter(pk__in=queryset.values("clinic_id")))
        return queryset.filter(stalled) if self.value() == "yes" else queryset.exclude(stalled)


class MilestoneStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("met", "Met"), ("overdue", "Overdue"), ("open", "Open, not yet due")]

    def queryset(self, request, queryset):
        if self.value() == "met":
            return queryset.filter(met_by__isnull=False)
        past = past_window_q(Clinic.objects.filter(pk__in=queryset.values("episode__clinic_id")))
        if self.value() == "overdue":
            return queryset.filter(past, met_by__isnull=True)
        if self.value() == "open":
            return queryset.filter(~past, met_by__isnull=True)
        return queryset


# --- Clinics and staff ----------------------------------------------------------------------------


def grantable_users(request: HttpRequest, clinics: QuerySet[Clinic]) -> QuerySet:
    """Whom a clinic administrator may grant a role: their clinics' staff, and new staff with no clinic yet."""
    users = get_user_model().objects.filter(is_active=True).order_by("last_name", "username")
    if request.user.is_superuser:
        return users
    return users.filter(Q(clinic_memberships__clinic__in=clinics) | Q(clinic_memberships__isnull=True),
                        is_superuser=False).distinct()


def membership_audit(request: HttpRequest, membership: Membership, change: str) -> None:
    """Every grant and withdrawal of a role is an audit row naming who, what role, where and for whom."""
    audit_record(request=request, action=f"membership.{change}", status_code=200,
                 detail=f"{membership.role} at {membership.clinic.slug} for {membership.user.get_username()}")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            administered = Clinic.objects.filter(pk__in=actor_for(request).clinic_ids_for(Role.ADMIN))
            kwargs["queryset"] = grantable_users(request, administered)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin):
    clinic_field = "pk"
    scope_roles = (Role.COORDINATOR, Role.PHYSICIAN, Role.ADMIN)
    list_display = ["name", "slug", "time_zone", "phone"]
    search_fields = ["name", "slug"]
    readonly_fields = ["external_id", "created_at", "updated_at"]
    inlines = [MembershipInline]

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and not request.user.is_superuser and actor_for(request).role_in(obj.pk) != Role.ADMIN:
            return False
        return super().has_change_permission(request, obj)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is Membership:
            for membership in formset.new_objects:
                membership_audit(request, membership, "granted")
            for membership, _ in formset.changed_objects:
                membership_audit(request, membership, "changed")
            for membership in formset.deleted_objects:
                membership_audit(request, membership, "withdrawn")


@admin.register(Membership)
class MembershipAdmin(ClinicScopedAdmin):
    scope_roles = (Role.COORDINATOR, Role.PHYSICIAN, Role.ADMIN)
    list_display = ["user", "clinic", "role"]
    list_filter = ["role", ("clinic", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__first_name", "user__last_name"]

    def scoped_clinics(self, request):
        """Only a clinic's administrators change its memberships."""
        if request.user.is_superuser:
            return Clinic.objects.all()
        return Clinic.objects.filter(pk__in=actor_for(request).clinic_ids_for(Role.ADMIN))

    def _administers(self, request, obj) -> bool:
        return obj is None or request.user.is_superuser or actor_for(request).role_in(obj.clinic_id) == Role.ADMIN

    def has_change_permission(self, request, obj=None) -> bool:
        return self._administers(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._administers(request, obj) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        membership_audit(request, obj, "changed" if change else "granted")

    def delete_model(self, request, obj):
        membership_audit(request, obj, "withdrawn")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("clinic", "user"):
            membership_audit(request, membership, "withdrawn")
        super().delete_queryset(request, queryset)


# --- Patients -------------------------------------------------------------------------------------

PATIENT_CONSENT_FIELDS = [
    f"{name}_consent{suffix}" for name in services.CONSENTS for suffix in ("", "_method")
]


class PatientEpisodeInline(admin.TabularInline):
    model = Episode
    fields = ["stage", "on_hold", "physician", "coordinator", "stage_entered_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin):
    audit_patient = "external_id"
    list_display = ["family_name", "given_name", "mrn", "birth_date", "clinic", "primary_physician"]
    list_filter = [("clinic", admin.RelatedOnlyFieldListFilter),
                   ("primary_physician", admin.RelatedOnlyFieldListFilter), "preferred_channel"]
    search_fields = ["mrn", "given_name", "family_name"]
    list_select_related = ["clinic", "primary_physician"]
    readonly_fields = ["external_id", "sms_consent_at", "email_consent_at", "diary_consent_at"]
    inlines = [PatientEpisodeInline]
    fieldsets = [
        (None, {"fields": ["clinic", "mrn", "given_name", "family_name", "birth_date", "primary_physician"]}),
        ("Contact", {"fields": ["phone", "email", "preferred_channel"]}),
        ("Consent", {"fields": [
            ("sms_consent", "sms_consent_method", "sms_consent_at"),
            ("email_consent", "email_consent_method", "email_consent_at"),
            ("diary_consent", "diary_consent_method", "diary_consent_at"),
        ]}),
        ("Identifier", {"fields": ["external_id"], "classes": ["collapse"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *(["clinic"] if obj else [])]

    def save_model(self, request, obj, form, change):
        editable = services.PATIENT_FIELDS | set(PATIENT_CONSENT_FIELDS)
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
            for consent in services.CONSENTS:  # a changed method travels with its flag
                if f"{consent}_consent_method" in fields:
                    fields[f"{consent}_consent"] = form.cleaned_data[f"{consent}_consent"]
            saved = services.patient_update(patient=obj, actor=actor_for(request), **fields) if fields else obj
        else:
            fields = {name: form.cleaned_data[name] for name in editable if name in form.cleaned_data}
            saved = services.patient_create(clinic=form.cleaned_data["clinic"], actor=actor_for(request), **fields)
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})


# --- Episodes -------------------------------------------------------------------------------------


class EpisodePartInline(admin.TabularInline):
    """Rows of an episode; new ones are written by a service in `EpisodeAdmin.save_formset`."""

    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    form = ChecklistItemForm
    fields = ["kind", "status", "tried", "note", "recorded_by", "recorded_at"]
    readonly_fields = ["kind", "recorded_by", "recorded_at"]
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "candidacy checklist"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        """The checklist is settled once the trial has started."""
        return obj is not None and obj.stage == Stage.EVALUATION and super().has_change_permission(request, obj)


class PainEntryInline(EpisodePartInline):
    model = PainEntry
    fields = ["recorded_at", "phase", "nrs", "percent_relief", "sleep_quality", "activity_limitation",
              "medication_use", "source", "entered_by"]
    readonly_fields = ["source", "entered_by"]
    verbose_name_plural = "pain entries (add a new score in the empty row; leave the time blank for now)"

    def get_extra(self, request, obj=None, **kwargs) -> int:
        return 1 if obj is not None and obj.is_open else 0

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is not None and obj.is_open and super().has_add_permission(request, obj)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.base_fields["recorded_at"].required = False
        return formset


class ReferralInline(EpisodePartInline):
    model = Referral
    fields = ["finding", "referred_to", "note", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    verbose_name_plural = "referrals for related spine findings"

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is not None and super().has_add_permission(request, obj)


class MilestoneInline(EpisodePartInline):
    model = FollowUpMilestone
    fields = ["label", "due_on", "window_start", "window_end", "met_on", "overdue"]
    readonly_fields = fields
    verbose_name_plural = "follow-up milestones"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(boolean=True)
    def overdue(self, milestone: FollowUpMilestone) -> bool:
        return milestone_is_overdue(milestone, clinic_today(milestone.episode.clinic))


class TransitionLogInline(EpisodePartInline):
    model = TransitionLog
    fields = ["at", "transition", "from_stage", "to_stage", "actor_label", "reason", "figures"]
    readonly_fields = fields
    verbose_name_plural = "history (transitions, holds and releases)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


EPISODE_CLINICAL_FIELDS = list(services.EPISODE_CLINICAL_FIELDS)
DATE_FIELDS = {"pain_onset_date"}


class AuthorizationInline(EpisodePartInline):
    model = PriorAuthorization
    fields = ["step", "status", "payer", "number", "submitted_on", "valid_from", "valid_to", "units"]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "prior authorizations (add and change them under Prior authorizations)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Episode)
class EpisodeAdmin(FSMAdminMixin, ClinicScopedAdmin):
    audit_patient = "patient__external_id"
    fsm_fields = ["stage"]
    form = EpisodeForm
    change_form_template = "admin/pathway/episode/change_form.html"
    list_display = ["patient_name", "mrn", "stage", "on_hold", "stalled", "days_in_stage", "physician",
                    "coordinator", "clinic"]
    list_filter = ["stage", ("physician", admin.RelatedOnlyFieldListFilter), "on_hold", StalledFilter,
                   ("clinic", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["patient__mrn", "patient__given_name", "patient__family_name"]
    list_select_related = ["clinic", "patient", "physician", "coordinator"]
    ordering = ["-updated_at"]
    inlines = [ChecklistItemInline, AuthorizationInline, PainEntryInline, ReferralInline, MilestoneInline,
               TransitionLogInline]
    fieldsets = [
        (None, {"fields": ["patient", "physician", "coordinator", "clinic", "stage", "stage_entered_at",
                           "stalled", "hold"]}),
        ("Diagnosis and pain", {"fields": ["diagnosis", "diagnosis_other", "icd10_code", "pain_areas",
                                           "pain_onset_date", "relief"]}),
        ("Trial and implant", {"fields": [
            "trial_lead_placement_date", "trial_expected_end", "trial_lead_removal_date", "implant_override_reason",
            "implant_date", "device_maker", "device_model", "device_serial", "lead_levels",
        ]}),
        ("Ending", {"fields": ["end_reason_category", "end_reason", "ended_on"]}),
    ]
    transition_fields = [
        "trial_lead_placement_date", "trial_expected_end", "trial_lead_removal_date", "implant_override_reason",
        "implant_date", "device_maker", "device_model", "device_serial", "lead_levels",
        "end_reason_category", "end_reason", "ended_on",
    ]

    # The list

    @admin.display(description="patient", ordering="patient__family_name")
    def patient_name(self, episode: Episode) -> str:
        return f"{episode.patient.family_name}, {episode.patient.given_name}"

    @admin.display(description="MRN", ordering="patient__mrn")
    def mrn(self, episode: Episode) -> str:
        return episode.patient.mrn

    @admin.display(boolean=True)
    def stalled(self, episode: Episode) -> bool:
        return episode.is_open and episode_is_stalled(episode)

    @admin.display(description="days in stage", ordering="stage_entered_at")
    def days_in_stage(self, episode: Episode) -> int:
        return days_in_stage(episode)

    @admin.display(description="hold")
    def hold(self, episode: Episode) -> str:
        return f"On hold since {episode.held_at:%Y-%m-%d}: {episode.hold_reason}" if episode.on_hold else "—"

    @admin.display(description="trial relief")
    def relief(self, episode: Episode) -> str:
        relief = episode_relief(episode)
        reported = f"; patient-reported {relief.patient_reported} %" if relief.patient_reported is not None else ""
        if relief.percent is None:
            return f"Not computed: {relief.reason}{reported}"
        return (f"{relief.percent} % (baseline NRS {relief.baseline}, trial mean {relief.trial_mean} over "
                f"{relief.trial_entries} entries; threshold {episode.relief_threshold} %){reported}")

    # The form: clinical details through the services; the stage and its dates only through transitions.

    def get_readonly_fields(self, request, obj=None):
        fixed = ["clinic", "stage", "stage_entered_at", "stalled", "hold", "relief", *self.transition_fields]
        if obj is None:
            return fixed
        return [*fixed, "patient", "physician", "coordinator"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["patient", "physician", "coordinator"]}),
                *[fieldset for fieldset in self.fieldsets[1:2]],
            ]
        return self.fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        """An ended episode is closed: its page is read-only."""
        return (obj is None or obj.is_open) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        values = {
            name: form.cleaned_data[name] or None
            for name in EPISODE_CLINICAL_FIELDS if name in form.cleaned_data and (not change or
                                                                                 name in form.changed_data)
        }
        actor = actor_for(request)
        if change:
            saved = services.episode_update(episode=obj, actor=actor, **values) if values else obj
        else:
            saved = services.episode_create(
                patient=form.cleaned_data["patient"], actor=actor, physician=form.cleaned_data["physician"],
                coordinator=form.cleaned_data.get("coordinator"),
                **{name: value for name, value in values.items() if value is not None},
            )
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def save_formset(self, request, form, formset, change):
        episode, actor = form.instance, actor_for(request)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in formset.forms:
            if not row.has_changed():
                continue
            if formset.model is ChecklistItem:
                item = row.instance
                try:
                    saved = services.checklist_item_record(
                        episode=episode, kind=item.kind, status=row.cleaned_data["status"],
                        note=row.cleaned_data.get("note", ""), details=row.service_details(), actor=actor,
                    )
                except InvalidInput as error:
                    raise InvalidInput({item.get_kind_display(): [describe(error)]}) from None
                formset.changed_objects.append((saved, row.changed_data))
            elif formset.model is PainEntry and row.instance.pk is None:
                data = {k: v for k, v in row.cleaned_data.items() if k in services.PAIN_FIELDS and v not in (None, "")}
                formset.new_objects.append(services.pain_entry_record(
                    episode=episode, actor=actor, nrs=row.cleaned_data["nrs"], phase=row.cleaned_data["phase"],
                    recorded_at=row.cleaned_data.get("recorded_at"), source=PainSource.STAFF, **data,
                ))
            elif formset.model is Referral and row.instance.pk is None:
                formset.new_objects.append(services.referral_add(
                    episode=episode, actor=actor, finding=row.cleaned_data["finding"],
                    note=row.cleaned_data.get("note", ""), referred_to=row.cleaned_data.get("referred_to", ""),
                ))

    # The state machine, through the service

    @staticmethod
    def get_fsm_block_label(fsm_field_name: str) -> str:
        return "Move this episode"

    def get_help_text(self, transition) -> str:
        return f"From {Stage(transition.source).label} to {Stage(transition.target).label}."

    def get_fsm_transition_form(self, transition):
        return transition_form_for(transition.name)

    def _get_fsm_extra_context(self, *, request, obj):
        """Buttons for exactly the transitions this user may run from the current stage (none while on hold)."""
        if obj is None or not obj.is_open or obj.on_hold:
            return
        names = services.allowed_transitions(episode=obj, actor=actor_for(request))
        if names:
            yield FSMObjectTransition(
                fsm_field="stage",
                block_label=self.get_fsm_block_label("stage"),
                available_transitions=[
                    FSMTransitionContext(name=name, label=self.get_fsm_label(t), help_text=self.get_help_text(t))
                    for name in names if (t := services.fsm_transition(name, obj.stage)) is not None
                ],
            )

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        label = self.get_fsm_label(services.fsm_transition(transition_name, obj.stage) or
                                   self._get_fsm_transition_by_name(obj=obj, transition_name=transition_name))
        try:
            services.episode_transition(episode=obj, name=transition_name, actor=actor_for(request),
                                        data=dict(kwargs or {}))
        except TransitionRefused as refused:
            for unmet in refused.unmet or [refused.detail]:
                self.message_user(request, f"{label} refused: {unmet}.", messages.ERROR)
            return False
        except DomainError as error:
            self.message_user(request, f"{label} refused: {describe(error)}", messages.ERROR)
            return False
        self.log_change(request, obj, f"{label}: now {obj.get_stage_display()}.")
        self.message_user(request, f"{label}: the episode is now in {obj.get_stage_display()}.", messages.SUCCESS)
        return True

    # Hold and release

    def get_urls(self):
        meta = self.model._meta
        return [
            path("<path:object_id>/hold/", self.admin_site.admin_view(self.hold_view),
                 name=f"{meta.app_label}_{meta.model_name}_hold"),
            path("<path:object_id>/release/", self.admin_site.admin_view(self.release_view),
                 name=f"{meta.app_label}_{meta.model_name}_release"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        episode = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if episode is not None and episode.is_open and self._may_hold(request, episode):
            action = "release" if episode.on_hold else "hold"
            context["episode_hold_action"] = ("Release hold" if episode.on_hold else "Put on hold",
                                              reverse(f"admin:pathway_episode_{action}", args=[episode.pk]))
        return super().change_view(request, object_id, form_url, context)

    @staticmethod
    def _may_hold(request, episode: Episode) -> bool:
        return actor_for(request).role_in(episode.clinic_id) in CLINICAL_ROLES

    def hold_view(self, request, object_id):
        return self._hold_or_release(request, object_id, hold=True)

    def release_view(self, request, object_id):
        return self._hold_or_release(request, object_id, hold=False)

    def _hold_or_release(self, request, object_id, *, hold: bool) -> HttpResponse:
        episode = self.get_object(request, object_id)
        if episode is None:
            raise Http404("No such episode.")
        form = (HoldForm if hold else ReleaseForm)(data=request.POST if request.method == "POST" else None)
        label = "Put on hold" if hold else "Release hold"
        if request.method == "POST" and form.is_valid():
            run = services.episode_hold if hold else services.episode_release
            try:
                run(episode=episode, actor=actor_for(request), reason=form.cleaned_data["reason"])
            except DomainError as error:
                self.message_user(request, f"{label} refused: {describe(error)}", messages.ERROR)
            else:
                self.log_change(request, episode, label)
                self.message_user(request, "The episode is on hold." if hold else "The hold is released.",
                                  messages.SUCCESS)
                return redirect("admin:pathway_episode_change", object_id=episode.pk)
        return render(request, self.fsm_transition_form_template, {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": episode,
            "transition": FSMTransitionContext(
                name="hold" if hold else "release", label=label,
                help_text="While on hold no transition runs." if hold else "Transitions can run again.",
            ),
            "transition_form": form,
        })


# --- Prior authorizations -------------------------------------------------------------------------


class AuthorizationStatusChangeInline(admin.TabularInline):
    model = AuthorizationStatusChange
    fields = ["at", "from_status", "to_status", "actor_label"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "status changes"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


AUTHORIZATION_FIELDS = ["payer", "number", "submitted_on", "status", "valid_from", "valid_to", "units", "notes"]


@admin.register(PriorAuthorization)
class PriorAuthorizationAdmin(ClinicScopedAdmin):
    """Adds and changes go through services.authorization_create / authorization_update (rules, lock, log)."""

    audit_patient = "episode__patient__external_id"
    clinic_field = "episode__clinic"
    list_display = ["episode", "step", "status", "payer", "number", "submitted_on", "valid_from", "valid_to"]
    list_filter = ["step", "status"]
    search_fields = ["episode__patient__mrn", "episode__patient__family_name", "payer", "number"]
    list_select_related = ["episode__patient", "episode__clinic"]
    fields = ["episode", "step", *AUTHORIZATION_FIELDS]
    inlines = [AuthorizationStatusChangeInline]

    def get_readonly_fields(self, request, obj=None):
        return ["episode", "step"] if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        actor = actor_for(request)
        if change:
            values = {name: form.cleaned_data[name] for name in AUTHORIZATION_FIELDS if name in form.changed_data}
            saved = services.authorization_update(
                authorization=PriorAuthorization.objects.select_related("episode").get(pk=obj.pk), actor=actor,
                **values,
            ) if values else obj
        else:
            values = {name: form.cleaned_data[name] for name in AUTHORIZATION_FIELDS
                      if form.cleaned_data.get(name) not in (None, "")}
            saved = services.authorization_create(episode=form.cleaned_data["episode"], actor=actor,
                                                  step=form.cleaned_data["step"], **values)
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def save_formset(self, request, form, formset, change):
        """The status changes are written by the services; the inline only shows them."""
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


# --- Rows written by the services: read-only here -------------------------------------------------


@admin.register(ChecklistItem)
class ChecklistItemAdmin(ReadOnlyAdmin):
    audit_patient = "episode__patient__external_id"
    clinic_field = "episode__clinic"
    list_display = ["episode", "kind", "status", "recorded_by", "recorded_at"]
    list_filter = ["kind", "status"]
    search_fields = ["episode__patient__mrn", "episode__patient__family_name", "episode__patient__given_name"]
    list_select_related = ["episode__patient", "episode__clinic", "recorded_by"]


@admin.register(PainEntry)
class PainEntryAdmin(ReadOnlyAdmin):
    audit_patient = "episode__patient__external_id"
    clinic_field = "episode__clinic"
    list_display = ["episode", "recorded_at", "phase", "nrs", "percent_relief", "source"]
    list_filter = ["phase", "source"]
    search_fields = ["episode__patient__mrn", "episode__patient__family_name", "episode__patient__given_name"]
    list_select_related = ["episode__patient", "episode__clinic"]
    date_hierarchy = "recorded_at"


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    audit_patient = "episode__patient__external_id"
    clinic_field = "episode__clinic"
    list_display = ["episode", "finding", "referred_to", "created_at"]
    list_filter = ["finding"]
    search_fields = ["episode__patient__mrn", "episode__patient__family_name", "episode__patient__given_name"]
    list_select_related = ["episode__patient", "episode__clinic"]


@admin.register(FollowUpMilestone)
class FollowUpMilestoneAdmin(ReadOnlyAdmin):
    audit_patient = "episode__patient__external_id"
    clinic_field = "episode__clinic"
    list_display = ["episode", "label", "due_on", "window_start", "window_end", "met_on"]
    list_filter = [MilestoneStateFilter, "kind"]
    search_fields = ["episode__patient__mrn", "episode__patient__family_name", "episode__patient__given_name"]
    list_select_related = ["episode__patient", "episode__clinic"]
    ordering = ["window_end"]


@admin.register(TransitionLog)
class TransitionLogAdmin(ReadOnlyAdmin):
    """Append-only: nobody, not even a superuser, adds, changes or deletes a row here."""
    audit_patient = "episode__patient__external_id"

    clinic_field = "episode__clinic"
    list_display = ["at", "episode", "transition", "from_stage", "to_stage", "actor_label"]
    list_filter = ["transition", "to_stage"]
    search_fields = ["episode__patient__mrn", "episode__patient__family_name", "actor_label"]
    list_select_related = ["episode__patient", "episode__clinic"]
    date_hierarchy = "at"


# --- Appointments ---------------------------------------------------------------------------------

APPOINTMENT_SERVICES = {
    "check_in": services.appointment_check_in,
    "complete": services.appointment_complete,
    "cancel": services.appointment_cancel,
    "no_show": services.appointment_no_show,
    "enter_in_error": services.appointment_enter_in_error,
}
APPOINTMENT_LABELS = {
    "check_in": "Check in", "complete": "Complete", "cancel": "Cancel", "no_show": "No-show",
    "enter_in_error": "Entered in error",
}


@admin.register(Appointment)
class AppointmentAdmin(FSMAdminMixin, ClinicScopedAdmin):
    """Booking and rescheduling through the services; status changes as buttons that run the services."""
    audit_patient = "patient__external_id"

    fsm_fields = ["status"]
    fsm_forms = {"cancel": "pathway.forms.CancelAppointmentForm"}
    list_display = ["starts_at", "patient", "kind", "status", "confirmed_at", "clinic"]
    list_filter = ["status", "kind", ("clinic", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["patient__mrn", "patient__given_name", "patient__family_name", "external_ref"]
    list_select_related = ["patient", "clinic"]
    date_hierarchy = "starts_at"
    fields = ["patient", "episode", "kind", "starts_at", "ends_at", "external_ref", "status", "confirmed_at",
              "cancellation_reason", "clinic"]
    readonly_fields = ["status", "confirmed_at", "cancellation_reason", "clinic"]

    def get_readonly_fields(self, request, obj=None):
        fixed = list(self.readonly_fields)
        if obj is None:
            return fixed
        fixed += ["patient", "episode", "kind", "external_ref"]
        if obj.status != "booked":
            fixed += ["starts_at", "ends_at"]
        return fixed

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fsm_label(self, transition) -> str:
        return APPOINTMENT_LABELS.get(transition.name, transition.name)

    def save_model(self, request, obj, form, change):
        actor = actor_for(request)
        data = form.cleaned_data
        if change:
            saved = obj
            if {"starts_at", "ends_at"} & set(form.changed_data):
                saved = services.appointment_reschedule(
                    appointment=Appointment.objects.get(pk=obj.pk), actor=actor,
                    starts_at=data["starts_at"], ends_at=data["ends_at"],
                )
        else:
            saved = services.appointment_book(
                patient=data["patient"], actor=actor, kind=data["kind"], starts_at=data["starts_at"],
                ends_at=data["ends_at"], episode=data.get("episode"), external_ref=data.get("external_ref"),
            )
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        label = APPOINTMENT_LABELS.get(transition_name, transition_name)
        run = APPOINTMENT_SERVICES.get(transition_name)
        if run is None:
            self.message_user(request, f"{label} is not possible here.", messages.ERROR)
            return False
        try:
            run(appointment=obj, actor=actor_for(request), **dict(kwargs or {}))
        except DomainError as error:
            self.message_user(request, f"{label} refused: {describe(error)}", messages.ERROR)
            return False
        self.log_change(request, obj, label)
        self.message_user(request, f"The appointment is now {obj.get_status_display().lower()}.", messages.SUCCESS)
        return True

