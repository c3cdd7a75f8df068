"""Every change to the pathway goes through one of these functions (HackSoftware's "services").

Each validates its input, checks the caller's role in the object's clinic, locks the rows it changes and
writes in one transaction. Refusals raise a `pathway.errors` exception and write nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_fsm import ConcurrentTransition

from events.bus import record as record_event
from events.models import EventType

from . import rules
from .actors import Actor
from .clinic_time import add_months, clinic_today, local_date
from .errors import (
    AlreadyExists,
    Conflict,
    DuplicateBooking,
    InvalidInput,
    NotPermitted,
    StateRefused,
    TransitionRefused,
)
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
from .stages import (
    CLINICAL_ROLES,
    ENDED_STAGES,
    OPEN_STAGES,
    AbortReason,
    AppointmentKind,
    AppointmentStatus,
    AuthorizationStatus,
    AuthorizationStep,
    ChecklistItemKind,
    ChecklistStatus,
    Diagnosis,
    PainArea,
    PainPhase,
    PainSource,
    PriorTreatment,
    ReferralOutcome,
    Role,
    Side,
    Stage,
)

STAFF_ROLES = (Role.COORDINATOR, Role.PHYSICIAN, Role.FRONT_DESK)


# --- Helpers --------------------------------------------------------------------------------------


def require_role(*, actor: Actor, clinic_id: int, roles) -> str:
    role = actor.role_in(clinic_id)
    if role not in roles:
        raise NotPermitted("Your role may not do this.")
    return role


def require_named_person(*, actor: Actor, decision: str) -> None:
    """Clinical decisions belong to a named physician signed in as themselves, never to an integration's key."""
    if actor.api_key is not None or actor.user is None:
        raise NotPermitted(f"{decision} is a physician's decision: sign in as yourself to make it; an API key cannot.")


def _adopt(caller_copy, saved) -> None:
    """Bring the caller's copy up to date with the row just saved under lock.

    django-fsm's ConcurrentTransitionMixin refuses to save a copy whose state it last read differs from the
    row's; the copy now knows the new state, so a later save of it is not taken for a concurrent transition.
    """
    caller_copy.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})
    caller_copy._update_initial_state()


def _validated(instance, *, exclude: list[str] | None = None):
    try:
        instance.full_clean(exclude=exclude, validate_unique=True, validate_constraints=True)
    except ValidationError as error:
        codes = {e.code for errors in error.error_dict.values() for e in errors}
        if codes <= {"unique", "unique_together"}:
            raise AlreadyExists(error.message_dict) from None
        raise InvalidInput(error.message_dict) from None
    return instance


def _as_date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InvalidInput({field: ["Enter a date (YYYY-MM-DD), not a date and time."]})
    if isinstance(value, dt.date):
        return value
    try:
        parsed = parse_date(value) if isinstance(value, str) else None
    except ValueError:  # well formed but not a calendar date, e.g. 2026-02-30
        parsed = None
    if parsed is None:
        raise InvalidInput({field: ["Enter a valid date (YYYY-MM-DD)."]})
    return parsed


def _as_datetime(value: Any, field: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = parse_datetime(value)
        except ValueError:  # well formed but not a calendar time, e.g. 2026-02-30T09:00Z
            value = None
    if not isinstance(value, dt.datetime):
        raise InvalidInput({field: ["Enter a valid date and time with its UTC offset."]})
    if timezone.is_naive(value):
        raise InvalidInput({field: ["Give the time zone offset, e.g. 2026-11-25T09:00:00-06:00."]})
    # Times are kept in UTC; PostgreSQL refuses offsets no real zone has (Python allows up to ±24 h).
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidInput({field: ["Enter a date and time within the calendar."]}) from None


def _as_text(value: Any, field: str, *, max_length: int = 500) -> str:
    if not isinstance(value, str):
        raise InvalidInput({field: ["Enter text."]})
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput({field: [f"Keep it to {max_length} characters."]})
    return value


def _as_lead_levels(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput({field: ['Give a list of lead levels, e.g. ["L4 left", "L5 left"].']})
    return [v.strip() for v in value]


def _as_choice(choices):
    def parse(value: Any, field: str) -> str:
        if value not in choices.values:
            raise InvalidInput({field: [f"Choose one of: {', '.join(choices.values)}."]})
        return value

    return parse


def validate_pain_areas(value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidInput({"pain_areas": ['Give a list like [{"area": "foot", "side": "left"}].']})
    cleaned = []
    for item in value:
        if set(item) != {"area", "side"} or item["area"] not in PainArea.values or item["side"] not in Side.values:
            raise InvalidInput(
                {"pain_areas": [f"Each area needs area ({', '.join(PainArea.values)}) and side "
                                f"({', '.join(Side.values)})."]}
            )
        cleaned.append({"area": item["area"], "side": item["side"]})
    return cleaned


# --- Patients and episodes ------------------------------------------------------------------------

PATIENT_FIELDS = {
    "mrn", "given_name", "family_name", "birth_date", "phone", "email", "preferred_channel", "primary_physician",
}
CONSENTS = ("sms", "email", "diary")


def patient_create(*, clinic: Clinic, actor: Actor, **fields) -> Patient:
    require_role(actor=actor, clinic_id=clinic.pk, roles=STAFF_ROLES)
    consents = {c: fields.pop(f"{c}_consent") for c in CONSENTS if f"{c}_consent" in fields}
    methods = {c: fields.pop(f"{c}_consent_method", "") for c in CONSENTS}
    unknown = set(fields) - PATIENT_FIELDS
    if unknown:
        raise InvalidInput({name: ["This field cannot be set here."] for name in sorted(unknown)})
    patient = Patient(clinic=clinic, **fields)
    _apply_consents(patient, consents, methods)
    _validated(patient)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError:
        raise AlreadyExists({"mrn": ["A patient with this MRN already exists in this clinic."]}) from None
    return patient


def _apply_consents(patient: Patient, consents: Mapping[str, bool], methods: Mapping[str, str]) -> list[str]:
    """Set the consent flags that change, stamping when and how; returns the names that changed."""
    changed = []
    now = timezone.now()
    for name, given in consents.items():
        if not isinstance(given, bool):
            raise InvalidInput({f"{name}_consent": ["Enter true or false."]})
        if getattr(patient, f"{name}_consent") == given and patient.pk is not None:
            continue
        setattr(patient, f"{name}_consent", given)
        setattr(patient, f"{name}_consent_at", now)
        setattr(patient, f"{name}_consent_method", methods.get(name) or "")
        changed.append(name)
    return changed


def patient_update(
    *, patient: Patient, actor: Actor, unchanged_since: dt.datetime | None = None, **fields
) -> Patient:
    """`unchanged_since`: the record's updated_at as the caller saw it; if it moved (a colleague's edit, a STOP
    reply), nothing is saved, so an edit made on a stale page cannot silently undo the newer change."""
    require_role(actor=actor, clinic_id=patient.clinic_id, roles=STAFF_ROLES)
    consents = {c: fields.pop(f"{c}_consent") for c in CONSENTS if f"{c}_consent" in fields}
    methods = {c: fields.pop(f"{c}_consent_method", "") for c in CONSENTS}
    unknown = set(fields) - PATIENT_FIELDS
    if unknown:
        raise InvalidInput({name: ["This field cannot be set here."] for name in sorted(unknown)})
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        if unchanged_since is not None and locked.updated_at != unchanged_since:
            raise Conflict("Someone else changed this patient's record while you were editing it; nothing was "
                           "saved.")
        for name, value in fields.items():
            setattr(locked, name, value)
        changed = _apply_consents(locked, consents, methods)
        _validated(locked)
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise AlreadyExists({"mrn": ["A patient with this MRN already exists in this clinic."]}) from None
        if changed:
            _consent_changed(locked, {name: getattr(locked, f"{name}_consent") for name in changed},
                             method=next(iter({methods.get(name) or "" for name in changed})))
    return locked


def _consent_changed(patient: Patient, consents: Mapping[str, bool], *, method: str) -> None:
    record_event(EventType.PATIENT_CONSENT_CHANGED, clinic_id=patient.clinic_id, patient=patient,
                 payload={"consents": dict(consents), "method": method})


def patient_revoke_sms_consent(*, patient: Patient) -> bool:
    """The patient replied STOP: revoke at once (notifications cancels the SMS not yet sent, on the event).
    Returns whether anything changed."""
    with transaction.atomic():
        updated = Patient.objects.filter(pk=patient.pk, sms_consent=True).update(
            sms_consent=False, sms_consent_at=timezone.now(), sms_consent_method="sms_reply", updated_at=timezone.now()
        )
        if updated:
            _consent_changed(patient, {"sms": False}, method="sms_reply")
    return bool(updated)


EPISODE_CLINICAL_FIELDS = {
    "diagnosis": _as_choice(Diagnosis),
    "diagnosis_other": lambda v, f: _as_text(v, f, max_length=200),
    "icd10_code": lambda v, f: _as_text(v, f, max_length=8).upper(),
    "pain_areas": lambda v, f: validate_pain_areas(v),
    "pain_onset_date": _as_date,
    "referral_source": lambda v, f: _as_text(v, f, max_length=200),
    "referral_date": _as_date,
}
# Deprecated: the trial authorization once lived on the episode as these four fields. Given to episode_create
# or episode_update they still write the episode's trial authorization record (an approved one, as "on file"
# meant), so older integrations keep working; new callers use authorization_create / authorization_update.
LEGACY_AUTHORIZATION_FIELDS = {
    "auth_payer": ("payer", lambda v, f: _as_text(v, f, max_length=120)),
    "auth_number": ("number", lambda v, f: _as_text(v, f, max_length=60)),
    "auth_valid_from": ("valid_from", _as_date),
    "auth_valid_to": ("valid_to", _as_date),
}


def _split_legacy_authorization(fields: dict[str, Any]) -> dict[str, Any]:
    """Take the deprecated auth_* fields out of `fields`, parsed and renamed to PriorAuthorization's."""
    values = {}
    for legacy, (name, parse) in LEGACY_AUTHORIZATION_FIELDS.items():
        if legacy in fields:
            value = fields.pop(legacy)
            values[name] = None if value is None else parse(value, legacy)
    return {name: ("" if value is None and name in {"payer", "number"} else value) for name, value in values.items()}


def _legacy_trial_authorization(episode: Episode, actor: Actor, values: Mapping[str, Any]) -> None:
    """Write the deprecated fields onto the episode's trial authorization: the approved one that lasts longest,
    or a new approved one. Like the old fields, it accepts incomplete values: the checklist and guard refuse them."""
    if not values:
        return
    current = (
        episode.authorizations.select_for_update()
        .filter(step=AuthorizationStep.TRIAL, status=AuthorizationStatus.APPROVED)
        .order_by("-valid_to", "-pk").first()
    )
    if current is None:
        if not any(v not in ("", None) for v in values.values()):
            return
        current = PriorAuthorization(episode=episode, step=AuthorizationStep.TRIAL,
                                     status=AuthorizationStatus.APPROVED)
    for name, value in values.items():
        setattr(current, name, value)
    created = current.pk is None
    _validated(current, exclude=["episode"])
    current.save()
    if created:
        _log_authorization_status(current, "", actor)


def _physician_of(clinic_id: int, user) -> None:
    if user is None or not Membership.objects.filter(user=user, clinic_id=clinic_id, role=Role.PHYSICIAN).exists():
        raise InvalidInput({"physician": ["Choose a physician of this clinic."]})


def episode_create(*, patient: Patient, actor: Actor, physician, coordinator=None, **fields) -> Episode:
    require_role(actor=actor, clinic_id=patient.clinic_id, roles=CLINICAL_ROLES)
    _physician_of(patient.clinic_id, physician)
    if coordinator is not None and not Membership.objects.filter(
        user=coordinator, clinic_id=patient.clinic_id, role=Role.COORDINATOR
    ).exists():
        raise InvalidInput({"coordinator": ["Choose a coordinator of this clinic."]})
    authorization = _split_legacy_authorization(fields)
    values = _parse_fields(fields, EPISODE_CLINICAL_FIELDS)
    clinic = patient.clinic
    episode = Episode(
        clinic=clinic, patient=patient, physician=physician, coordinator=coordinator,
        relief_threshold=clinic.relief_threshold_percent, stage_entered_at=timezone.now(), **values,
    )
    _validated(episode, exclude=["stage"])
    with transaction.atomic():
        episode.save()
        ChecklistItem.objects.bulk_create(ChecklistItem(episode=episode, kind=kind) for kind in ChecklistItemKind)
        _legacy_trial_authorization(episode, actor, authorization)
    return episode


def episode_create_for_referral(
    *, patient: Patient, actor: Actor, open_episodes_seen: int, physician, coordinator=None, **fields
) -> Episode:
    """A new referral for a patient already on file: a new episode (DOMAIN.md: a returning patient gets one).

    The caller saw `open_episodes_seen` open episodes; if that changed meanwhile (the same referral sent twice,
    or a colleague opened one), nothing is created: the patient row serializes the two.
    """
    require_role(actor=actor, clinic_id=patient.clinic_id, roles=CLINICAL_ROLES)
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        now_open = patient.episodes.filter(stage__in=OPEN_STAGES).count()
        if now_open != open_episodes_seen:
            raise Conflict(f"This patient now has {now_open} open episode{'s' if now_open != 1 else ''}: someone "
                           "opened one meanwhile, or this referral was already saved. Nothing was created.")
        return episode_create(patient=patient, actor=actor, physician=physician, coordinator=coordinator, **fields)


def _parse_fields(fields: Mapping[str, Any], parsers: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(parsers)
    if unknown:
        raise InvalidInput({name: ["This field cannot be set here."] for name in sorted(unknown)})
    return {name: (None if value is None else parsers[name](value, name)) for name, value in fields.items()}


def _lock_open_episode(episode: Episode) -> Episode:
    locked = Episode.objects.select_for_update().select_related("clinic").get(pk=episode.pk)
    if locked.stage in ENDED_STAGES:
        raise TransitionRefused(
            transition="change", stage=locked.stage, allowed=[], unmet=[],
            detail=f"The episode has ended ({locked.get_stage_display()}); nothing changes it. "
                   "A returning patient gets a new episode.",
        )
    return locked


def episode_update(*, episode: Episode, actor: Actor, **fields) -> Episode:
    """Clinical details of an open episode: diagnosis, pain areas and onset (and the deprecated auth_* fields)."""
    require_role(actor=actor, clinic_id=episode.clinic_id, roles=CLINICAL_ROLES)
    fields = dict(fields)
    authorization = _split_legacy_authorization(fields)
    values = _parse_fields(fields, EPISODE_CLINICAL_FIELDS)
    with transaction.atomic():
        locked = _lock_open_episode(episode)
        for name, value in values.items():
            setattr(locked, name, "" if value is None and name not in {"pain_onset_date", "referral_date"} else value)
        _validated(locked, exclude=["stage"])
        locked.save()
        _legacy_trial_authorization(locked, actor, authorization)
        if locked.stage == Stage.EVALUATION:
            _reopen_checklist_items_no_longer_met(locked)
    return locked


def _reopen_checklist_items_no_longer_met(episode: Episode) -> None:
    """An item marked met attests what is on file; when an edit takes that away, the item is pending again."""
    for item in episode.checklist_items.select_for_update().filter(status=ChecklistStatus.MET):
        if problem := _checklist_problem(episode, item.kind, item.details):
            item.status, item.note, item.recorded_at = ChecklistStatus.PENDING, f"Reopened: {problem}", timezone.now()
            item.save(update_fields=["status", "note", "recorded_at"])


# --- Candidacy checklist --------------------------------------------------------------------------


def _checklist_problem(episode: Episode, kind: str, details: Mapping[str, Any]) -> str | None:
    """What must be on file before an item can be marked met (DOMAIN.md, "Candidacy")."""
    if kind == ChecklistItemKind.PAIN_DURATION:
        if episode.pain_onset_date is None:
            return "Record the pain onset date first."
        months = settings.PATHWAY["MIN_PAIN_MONTHS"]
        if add_months(episode.pain_onset_date, months) > clinic_today(episode.clinic):
            return f"Pain began less than {months} months ago."
    elif kind == ChecklistItemKind.PRIOR_TREATMENTS:
        tried = details.get("tried")
        if not isinstance(tried, list) or not tried or not all(t in PriorTreatment.values for t in tried):
            return f"Record which treatments were tried: details.tried, a list from {', '.join(PriorTreatment.values)}."
    elif kind == ChecklistItemKind.DIAGNOSIS:
        if not episode.diagnosis or not episode.icd10_code:
            return "Record the diagnosis and its ICD-10 code first."
        if episode.diagnosis == Diagnosis.OTHER and not episode.diagnosis_other:
            return "Describe the other diagnosis first."
    elif kind == ChecklistItemKind.PAIN_AREA:
        if not episode.pain_areas:
            return "Record the pain areas and sides first."
    elif kind == ChecklistItemKind.TRIAL_AUTHORIZATION:
        approved = list(episode.authorizations.filter(step=AuthorizationStep.TRIAL,
                                                      status=AuthorizationStatus.APPROVED))
        if not approved:
            return "Record an approved trial authorization first (payer, authorization number and valid dates)."
        complete = [a for a in approved if a.payer and a.number and a.valid_from and a.valid_to]
        if not complete:
            return "Record the payer, authorization number and valid dates first."
        if all(a.valid_to < a.valid_from for a in complete):
            return "The authorization ends before it starts."
    elif kind == ChecklistItemKind.BASELINE_PAIN and not episode.pain_entries.filter(phase=PainPhase.BASELINE).exists():
        return "Record a baseline pain score first."
    return None


def checklist_item_record(
    *, episode: Episode, kind: str, status: str, actor: Actor, note: str = "", details: Mapping | None = None
) -> ChecklistItem:
    role = require_role(actor=actor, clinic_id=episode.clinic_id, roles=CLINICAL_ROLES)
    if kind not in ChecklistItemKind.values:
        raise InvalidInput({"kind": [f"Choose one of: {', '.join(ChecklistItemKind.values)}."]})
    if status not in ChecklistStatus.values:
        raise InvalidInput({"status": [f"Choose one of: {', '.join(ChecklistStatus.values)}."]})
    note = _as_text(note or "", "note")
    details = dict(details or {})
    if status == ChecklistStatus.WAIVED:
        if role != Role.PHYSICIAN:
            raise NotPermitted("Only a physician can waive a checklist item.")
        require_named_person(actor=actor, decision="A waiver")
        if not note:
            raise InvalidInput({"note": ["Give the reason for the waiver."]})
    with transaction.atomic():
        locked = _lock_open_episode(episode)
        if locked.stage != Stage.EVALUATION:
            raise StateRefused("The candidacy checklist is settled once the trial has started.",
                               action="record_checklist_item", state=locked.stage)
        if status == ChecklistStatus.MET and (problem := _checklist_problem(locked, kind, details)):
            raise StateRefused({"status": [problem]}, action="record_checklist_item", state=locked.stage)
        item = ChecklistItem.objects.select_for_update().get(episode=locked, kind=kind)
        item.status, item.note, item.details = status, note, details
        item.recorded_by, item.recorded_by_api_key, item.recorded_by_label = actor.user, actor.api_key, actor.label
        item.recorded_at = timezone.now()
        item.save()
        Episode.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return item


# --- The state machine ----------------------------------------------------------------------------

TRANSITION_NAMES = (
    "start_trial", "decline_candidacy", "end_trial", "abort_trial", "approve_implant", "fail_trial",
    "record_implant", "explant", "discharge", "withdraw",
)
# Where a transition's reason is kept on the episode; other transitions keep it in the log only.
REASON_FIELDS = {
    "decline_candidacy": "end_reason", "abort_trial": "end_reason", "fail_trial": "end_reason",
    "explant": "end_reason", "discharge": "end_reason", "withdraw": "end_reason",
    "approve_implant": "implant_override_reason",
}
INPUT_PARSERS = {
    "trial_lead_placement_date": _as_date,
    "trial_lead_removal_date": _as_date,
    "implant_date": _as_date,
    "ended_on": _as_date,
    "device_maker": lambda v, f: _as_text(v, f, max_length=100),
    "device_model": lambda v, f: _as_text(v, f, max_length=100),
    "device_serial": lambda v, f: _as_text(v, f, max_length=100),
    "lead_levels": _as_lead_levels,
    "end_reason_category": _as_choice(AbortReason),
    "end_reason": lambda v, f: _as_text(v, f),
    "implant_override_reason": lambda v, f: _as_text(v, f),
}


def fsm_transition(name: str, stage: str):
    """The django-fsm Transition for `name` from `stage`, or None."""
    return getattr(Episode, name)._django_fsm.get_transition(stage)


def transition_inputs(name: str) -> list[str]:
    method = getattr(Episode, name)._django_fsm
    any_transition = next(iter(method.transitions.values()))
    return list(any_transition.custom.get("inputs", []))


def transition_roles(name: str) -> frozenset[str]:
    method = getattr(Episode, name)._django_fsm
    return next(iter(method.transitions.values())).permission.roles


def allowed_transitions(*, episode: Episode, actor: Actor) -> list[str]:
    """Transitions leaving the current stage that this caller's role may run (guards not evaluated)."""
    return [
        name for name in TRANSITION_NAMES
        if (t := fsm_transition(name, episode.stage)) is not None and t.has_perm(episode, actor)
    ]


def unmet_guards(*, episode: Episode, name: str) -> list[str]:
    """The failing guards of `name` from the current stage, in words. Needs checklist and pain prefetched."""
    t = fsm_transition(name, episode.stage)
    return [rules.unmet_message(guard, episode) for guard in t.conditions if not guard(episode)]


def _parse_transition_input(name: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    data = dict(data)
    reason = data.pop("reason", "") or ""
    reason = _as_text(reason, "reason")
    accepted = set(transition_inputs(name))
    unknown = set(data) - accepted
    if unknown:
        raise InvalidInput({field: [f"{name} does not take this field."] for field in sorted(unknown)})
    values = {field: INPUT_PARSERS[field](value, field) for field, value in data.items() if value is not None}
    if name in REASON_FIELDS and reason:
        values[REASON_FIELDS[name]] = reason
    return values, reason


def _decision_figures(episode: Episode, name: str) -> dict[str, Any]:
    if name in {"approve_implant", "fail_trial", "end_trial"}:
        figures = rules.episode_relief(episode).as_figures()
        figures["relief_threshold_percent"] = str(episode.relief_threshold)
        figures["relief_decider"] = episode.clinic.relief_decider
        # A reason given when the relief suffices is a note, not an override.
        if name == "approve_implant" and rules.has_override_reason(episode) and rules.relief_shortfall(episode):
            figures["physician_override"] = True
        return figures
    if name == "record_implant" and episode.clinic.implant_authorization_required:
        authorization = rules.covering_authorization(episode, AuthorizationStep.IMPLANT, episode.implant_date)
        return {"implant_authorization_valid_to": authorization.valid_to.isoformat()}
    if name == "start_trial":
        authorization = rules.covering_authorization(episode, AuthorizationStep.TRIAL,
                                                     episode.trial_lead_placement_date)
        return {
            "trial_lead_placement_date": episode.trial_lead_placement_date.isoformat(),
            "trial_authorization_valid_to": authorization.valid_to.isoformat(),
            # The candidacy was decided with these items waived: which, by whom and why.
            "waived": [
                {"item": item.kind, "by": item.recorded_by_label, "reason": item.note}
                for item in episode.checklist_items.all() if item.status == ChecklistStatus.WAIVED
            ],
        }
    return {}


def episode_transition(
    *, episode: Episode, name: str, actor: Actor, data: Mapping[str, Any] | None = None, now: dt.datetime | None = None
) -> TransitionLog:
    """Run one transition of the pathway; the only code that moves an episode between stages.

    `episode` is the caller's view: if another request moved it on meanwhile, this raises Conflict. `now` is when
    it happened, for history entered afterwards (the demo's timeline); the append-only log is never re-dated.
    """
    if name not in TRANSITION_NAMES:
        raise InvalidInput({"transition": [f"Choose one of: {', '.join(TRANSITION_NAMES)}."]})
    if actor.role_in(episode.clinic_id) not in transition_roles(name):
        raise NotPermitted(f"Your role may not run {name}.")
    if transition_roles(name) == {Role.PHYSICIAN}:
        require_named_person(actor=actor, decision=name)
    values, reason = _parse_transition_input(name, data or {})
    now = now or timezone.now()
    with transaction.atomic():
        locked = Episode.objects.select_for_update().select_related("clinic").get(pk=episode.pk)
        if locked.stage != episode.stage:
            raise Conflict(
                f"The episode moved to {locked.get_stage_display()} while you were looking at it.",
                stage=locked.stage,
            )
        prefetch_related_objects([locked], "checklist_items", "pain_entries", "authorizations")
        allowed = allowed_transitions(episode=locked, actor=actor)
        if fsm_transition(name, locked.stage) is None:
            closed = " The episode has ended; nothing changes it." if locked.stage in ENDED_STAGES else ""
            raise TransitionRefused(
                transition=name, stage=locked.stage, allowed=allowed, unmet=[],
                detail=f"{name} is not possible from {locked.get_stage_display()}.{closed}",
            )
        for field, value in values.items():
            setattr(locked, field, value)
        unmet = unmet_guards(episode=locked, name=name)
        if unmet:
            raise TransitionRefused(
                transition=name, stage=locked.stage, allowed=allowed, unmet=unmet,
                detail=f"{name} cannot run yet: " + "; ".join(unmet) + ".",
            )
        figures = _decision_figures(locked, name)
        from_stage = locked.stage
        getattr(locked, name)(today=clinic_today(locked.clinic, now))
        locked.stage_entered_at = now
        try:
            locked.save()
        except ConcurrentTransition:
            raise Conflict("The episode changed while this transition ran.", stage=from_stage) from None
        log = TransitionLog.objects.create(
            episode=locked, transition=name, from_stage=from_stage, to_stage=locked.stage,
            actor_user=actor.user, actor_api_key=actor.api_key, actor_label=actor.label, at=now,
            reason=reason, figures=figures,
        )
        if name == "record_implant":
            _create_follow_up_milestones(locked)
        record_event(
            EventType.EPISODE_TRANSITIONED, clinic_id=locked.clinic_id, episode=locked, occurred_at=now,
            payload={"transition": name, "from_stage": from_stage, "to_stage": locked.stage,
                     "episode_status": "closed" if locked.stage in ENDED_STAGES else "open"},
        )
    _adopt(episode, locked)
    return log


def _create_follow_up_milestones(episode: Episode) -> None:
    implant = episode.implant_date
    policy = settings.PATHWAY
    rows = [
        FollowUpMilestone(
            episode=episode, key=key, label=AppointmentKind(kind).label, kind=kind,
            due_on=implant + timedelta(days=due), window_start=implant + timedelta(days=start),
            window_end=implant + timedelta(days=end),
        )
        for key, kind, due, start, end in policy["FOLLOW_UP_MILESTONES"]
    ]
    window = timedelta(days=policy["FOLLOW_UP_MONTH_WINDOW_DAYS"])
    months = list(policy["FOLLOW_UP_MONTHS"]) + [12 * year for year in range(2, policy["FOLLOW_UP_YEARS"] + 1)]
    for n in months:
        due = add_months(implant, n)
        label = f"{n}-month follow-up" if n < 24 else f"{n // 12}-year follow-up"
        rows.append(
            FollowUpMilestone(
                episode=episode, key=f"month_{n}", label=label, kind=AppointmentKind.FOLLOW_UP,
                due_on=due, window_start=due - window, window_end=due + window,
            )
        )
    FollowUpMilestone.objects.bulk_create(rows)


def episode_hold(*, episode: Episode, actor: Actor, reason: str, now: dt.datetime | None = None) -> TransitionLog:
    return _set_hold(episode=episode, actor=actor, reason=reason, hold=True, now=now)


def episode_release(
    *, episode: Episode, actor: Actor, reason: str = "", now: dt.datetime | None = None
) -> TransitionLog:
    return _set_hold(episode=episode, actor=actor, reason=reason, hold=False, now=now)


def _set_hold(*, episode: Episode, actor: Actor, reason: str, hold: bool, now: dt.datetime | None) -> TransitionLog:
    require_role(actor=actor, clinic_id=episode.clinic_id, roles=CLINICAL_ROLES)
    reason = _as_text(reason or "", "reason", max_length=300)
    if hold and not reason:
        raise InvalidInput({"reason": ["Say why the episode is on hold."]})
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_open_episode(episode)
        if locked.on_hold == hold:
            raise Conflict("The episode is already on hold." if hold else "The episode is not on hold.",
                           stage=locked.stage)
        locked.on_hold = hold
        locked.hold_reason = reason if hold else ""
        locked.held_at = now if hold else None
        locked.save(update_fields=["on_hold", "hold_reason", "held_at", "updated_at"])
        log = TransitionLog.objects.create(
            episode=locked, transition="hold" if hold else "release", from_stage=locked.stage,
            to_stage=locked.stage, actor_user=actor.user, actor_api_key=actor.api_key, actor_label=actor.label,
            at=now, reason=reason,
        )
        record_event(EventType.EPISODE_HELD if hold else EventType.EPISODE_RELEASED, clinic_id=locked.clinic_id,
                     episode=locked, occurred_at=now)
    episode.on_hold, episode.hold_reason, episode.held_at = locked.on_hold, locked.hold_reason, locked.held_at
    return log


# --- Prior authorizations -------------------------------------------------------------------------

# Where an authorization's status may go next: a denial is appealed, an appeal decided, an approval lapses (or is
# withdrawn by the payer); a draft or a submission sent by mistake goes back a step. Creation takes any status,
# for authorizations that arrive already decided.
AUTHORIZATION_MOVES = {
    AuthorizationStatus.DRAFT: {AuthorizationStatus.SUBMITTED},
    AuthorizationStatus.SUBMITTED: {AuthorizationStatus.APPROVED, AuthorizationStatus.DENIED,
                                    AuthorizationStatus.DRAFT},
    AuthorizationStatus.APPROVED: {AuthorizationStatus.EXPIRED, AuthorizationStatus.DENIED},
    AuthorizationStatus.DENIED: {AuthorizationStatus.APPEAL},
    AuthorizationStatus.APPEAL: {AuthorizationStatus.APPROVED, AuthorizationStatus.DENIED},
    AuthorizationStatus.EXPIRED: set(),
}
AUTHORIZATION_FIELDS = {
    "payer": lambda v, f: _as_text(v, f, max_length=120),
    "number": lambda v, f: _as_text(v, f, max_length=60),
    "submitted_on": _as_date,
    "status": _as_choice(AuthorizationStatus),
    "valid_from": _as_date,
    "valid_to": _as_date,
    "units": lambda v, f: _as_units(v, f),
    "notes": lambda v, f: _as_text(v, f, max_length=1000),
}
SUBMITTED_OR_LATER = {AuthorizationStatus.SUBMITTED, AuthorizationStatus.APPROVED, AuthorizationStatus.DENIED,
                      AuthorizationStatus.APPEAL, AuthorizationStatus.EXPIRED}


def _as_units(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10000:
        raise InvalidInput({field: ["Enter a whole number from 0 to 10000."]})
    return value


def authorization_moves_from(status: str) -> list[str]:
    return sorted(AUTHORIZATION_MOVES[AuthorizationStatus(status)])


def _authorization_problems(authorization: PriorAuthorization) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if authorization.status == AuthorizationStatus.APPROVED:
        for name, label in (("number", "the authorization number"), ("valid_from", "the first valid day"),
                            ("valid_to", "the last valid day")):
            if getattr(authorization, name) in ("", None):
                errors[name] = [f"An approved authorization needs {label}."]
    if authorization.status in SUBMITTED_OR_LATER and not authorization.payer:
        errors["payer"] = ["Name the payer once the request is submitted."]
    if authorization.valid_from and authorization.valid_to and authorization.valid_to < authorization.valid_from:
        errors["valid_to"] = ["The authorization ends before it starts."]
    return errors


def _log_authorization_status(authorization: PriorAuthorization, from_status: str, actor: Actor,
                              now: dt.datetime | None = None) -> AuthorizationStatusChange:
    return AuthorizationStatusChange.objects.create(
        authorization=authorization, from_status=from_status, to_status=authorization.status,
        actor_user=actor.user, actor_api_key=actor.api_key, actor_label=actor.label, at=now or timezone.now(),
    )


def _save_authorization(locked_episode: Episode, authorization: PriorAuthorization, from_status: str,
                        actor: Actor) -> None:
    """Check, save, log a status change, and reopen the trial checklist item if it no longer holds."""
    if authorization.status in SUBMITTED_OR_LATER and authorization.submitted_on is None:
        authorization.submitted_on = clinic_today(locked_episode.clinic)
    if errors := _authorization_problems(authorization):
        raise InvalidInput(errors)
    _validated(authorization, exclude=["episode"])
    authorization.save()
    if authorization.status != from_status:
        _log_authorization_status(authorization, from_status, actor)
    Episode.objects.filter(pk=locked_episode.pk).update(updated_at=timezone.now())
    if authorization.step == AuthorizationStep.TRIAL and locked_episode.stage == Stage.EVALUATION:
        _reopen_checklist_items_no_longer_met(locked_episode)


def authorization_create(*, episode: Episode, actor: Actor, step: str, **fields) -> PriorAuthorization:
    """A new authorization of the trial or the implant; its first status is logged as a change from nothing."""
    require_role(actor=actor, clinic_id=episode.clinic_id, roles=CLINICAL_ROLES)
    step = _as_choice(AuthorizationStep)(step, "step")
    values = _parse_fields(fields, AUTHORIZATION_FIELDS)
    values = {name: ("" if value is None and name in {"payer", "number", "notes"} else value)
              for name, value in values.items()}
    values.setdefault("status", AuthorizationStatus.DRAFT)
    with transaction.atomic():
        locked = _lock_open_episode(episode)
        authorization = PriorAuthorization(episode=locked, step=step, **values)
        _save_authorization(locked, authorization, "", actor)
    return authorization


def authorization_update(*, authorization: PriorAuthorization, actor: Actor, **fields) -> PriorAuthorization:
    """Change an authorization's details or status. `authorization` is the caller's view: if its status changed
    meanwhile the change is refused as a conflict, so two people deciding at once never overwrite each other."""
    require_role(actor=actor, clinic_id=authorization.episode.clinic_id, roles=CLINICAL_ROLES)
    values = _parse_fields(fields, AUTHORIZATION_FIELDS)
    with transaction.atomic():
        locked_episode = _lock_open_episode(authorization.episode)
        locked = PriorAuthorization.objects.select_for_update().get(pk=authorization.pk)
        if locked.status != authorization.status:
            raise Conflict(f"The authorization is now {locked.get_status_display().lower()}; nothing was changed.")
        from_status = locked.status
        target = values.get("status", from_status)
        if target != from_status and target not in AUTHORIZATION_MOVES[AuthorizationStatus(from_status)]:
            moves = ", ".join(authorization_moves_from(from_status)) or "nothing (it is final)"
            raise StateRefused(
                {"status": [f"A {locked.get_status_display().lower()} authorization can move to: {moves}."]},
                action="update_authorization", state=from_status, allowed=authorization_moves_from(from_status),
            )
        for name, value in values.items():
            setattr(locked, name, "" if value is None and name in {"payer", "number", "notes"} else value)
        _save_authorization(locked_episode, locked, from_status, actor)
    authorization.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return authorization


# --- Pain and referrals ---------------------------------------------------------------------------

# Which scores a stage takes, so that only the trial's own days count in relief; trial_review still takes
# a late diary entry for a trial day.
PHASES_BY_STAGE = {
    Stage.EVALUATION: (PainPhase.BASELINE,),
    Stage.TRIAL: (PainPhase.TRIAL,),
    Stage.TRIAL_REVIEW: (PainPhase.TRIAL,),
    Stage.IMPLANT: (PainPhase.FOLLOW_UP,),
    Stage.FOLLOW_UP: (PainPhase.FOLLOW_UP,),
}
PAIN_FIELDS = {"percent_relief", "sleep_quality", "activity_limitation", "medication_use", "pgic"}


def pain_entry_record(
    *, episode: Episode, actor: Actor | None, nrs: int, phase: str, recorded_at: dt.datetime | None = None,
    source: str = PainSource.STAFF, **optional,
) -> PainEntry:
    """A pain score. `actor` is None only for the patient's own signed diary link."""
    if actor is not None:
        require_role(actor=actor, clinic_id=episode.clinic_id, roles=CLINICAL_ROLES)
    unknown = set(optional) - PAIN_FIELDS
    if unknown:
        raise InvalidInput({name: ["This field cannot be set here."] for name in sorted(unknown)})
    if isinstance(nrs, bool) or not isinstance(nrs, int):
        raise InvalidInput({"nrs": ["Enter a whole number from 0 to 10."]})
    if optional.get("pgic") is not None and phase != PainPhase.FOLLOW_UP:
        # PGIC asks for change since the implant: before it there is nothing to compare against.
        raise InvalidInput({"pgic": ["PGIC (change since the implant) is recorded only with a follow-up score."]})
    entry = PainEntry(
        episode=episode, nrs=nrs, phase=phase, source=source,
        recorded_at=_as_datetime(recorded_at, "recorded_at") if recorded_at else timezone.now(),
        entered_by=actor.user if actor else None, **optional,
    )
    _validated(entry, exclude=["episode", "entered_by"])
    with transaction.atomic():
        locked = _lock_open_episode(episode)
        if phase not in PHASES_BY_STAGE[locked.stage]:
            allowed = " or ".join(PainPhase(p).label.lower() for p in PHASES_BY_STAGE[locked.stage])
            raise StateRefused(
                {"phase": [f"In {locked.get_stage_display().lower()} only {allowed} scores can be recorded."]},
                action="record_pain_entry", state=locked.stage,
            )
        entry.save()
        Episode.objects.filter(pk=episode.pk).update(updated_at=timezone.now())
    return entry


def referral_add(*, episode: Episode, actor: Actor, finding: str, note: str = "", referred_to: str = "") -> Referral:
    require_role(actor=actor, clinic_id=episode.clinic_id, roles=CLINICAL_ROLES)
    referral = Referral(episode=episode, finding=finding, note=note, referred_to=referred_to, created_by=actor.user)
    _validated(referral, exclude=["episode", "created_by"])
    with transaction.atomic():
        _lock_open_episode(episode)
        referral.save()
    return referral


def referral_record_outcome(*, referral: Referral, actor: Actor, outcome: str, note: str = "") -> Referral:
    """Where a spine-finding referral ended up: seen, treated, declined; pending again if it was set by mistake."""
    require_role(actor=actor, clinic_id=referral.episode.clinic_id, roles=CLINICAL_ROLES)
    outcome = _as_choice(ReferralOutcome)(outcome, "outcome")
    note = _as_text(note or "", "outcome_note")
    with transaction.atomic():
        _lock_open_episode(referral.episode)
        locked = Referral.objects.select_for_update().get(pk=referral.pk)
        locked.outcome, locked.outcome_note = outcome, note
        locked.outcome_recorded_at = None if outcome == ReferralOutcome.PENDING else timezone.now()
        locked.save(update_fields=["outcome", "outcome_note", "outcome_recorded_at", "updated_at"])
    return locked


# --- Appointments ---------------------------------------------------------------------------------


def _check_window(starts_at: Any, ends_at: Any) -> tuple[dt.datetime, dt.datetime]:
    starts_at, ends_at = _as_datetime(starts_at, "starts_at"), _as_datetime(ends_at, "ends_at")
    if ends_at <= starts_at:
        raise InvalidInput({"ends_at": ["The appointment must end after it starts."]})
    return starts_at, ends_at


def appointment_book(
    *, patient: Patient, actor: Actor, kind: str, starts_at: Any, ends_at: Any, episode: Episode | None = None,
    external_ref: str | None = None,
) -> Appointment:
    require_role(actor=actor, clinic_id=patient.clinic_id, roles=STAFF_ROLES)
    starts_at, ends_at = _check_window(starts_at, ends_at)
    if episode is not None and episode.patient_id != patient.pk:
        raise InvalidInput({"episode": ["This episode belongs to another patient."]})
    appointment = Appointment(
        clinic_id=patient.clinic_id, patient=patient, episode=episode, kind=kind, starts_at=starts_at,
        ends_at=ends_at, external_ref=external_ref or None,
    )
    _validated(appointment, exclude=["clinic", "patient", "episode", "status"])
    with transaction.atomic():
        # The patient's row serializes bookings for them, so a booking sent twice (a retry without an
        # Idempotency-Key, a double click) finds the first instead of making a second with its own reminders.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        existing = Appointment.objects.filter(
            patient=patient, kind=kind, starts_at=starts_at, status=AppointmentStatus.BOOKED,
        ).first()
        if existing is not None:
            raise DuplicateBooking(
                f"This patient already has a {existing.get_kind_display().lower()} appointment at this time.",
                existing=existing.external_id,
            )
        try:
            with transaction.atomic():
                appointment.save()
        except IntegrityError:
            raise AlreadyExists(
                {"external_ref": ["This clinic already has an appointment with this reference."]}
            ) from None
        _appointment_event(EventType.APPOINTMENT_BOOKED, appointment)
    return appointment


def _appointment_event(event_type: str, appointment: Appointment) -> None:
    """Announce an appointment's change; notifications re-plans its reminders on it, in this transaction."""
    record_event(event_type, clinic_id=appointment.clinic_id, appointment=appointment, payload={
        "kind": appointment.kind, "status": appointment.status,
        "starts_at": appointment.starts_at.isoformat(), "ends_at": appointment.ends_at.isoformat(),
    })


def _lock_appointment(appointment: Appointment, actor: Actor) -> Appointment:
    require_role(actor=actor, clinic_id=appointment.clinic_id, roles=STAFF_ROLES)
    locked = Appointment.objects.select_for_update().select_related("clinic").get(pk=appointment.pk)
    if locked.status != appointment.status:
        raise Conflict(f"The appointment is now {locked.get_status_display().lower()}.")
    return locked


def _run_status_change(appointment: Appointment, actor: Actor, change: str, **kwargs) -> Appointment:
    with transaction.atomic():
        locked = _lock_appointment(appointment, actor)
        method = getattr(locked, change)
        if fsm_status_transition(change, locked.status) is None:
            raise StateRefused(
                {"status": [f"A {locked.get_status_display().lower()} appointment cannot be "
                            f"{change.replace('_', ' ')}."]},
                action=change, state=locked.status, allowed=appointment_changes_from(locked.status),
            )
        method(**kwargs)
        locked.save()
        if change == "complete":
            _meet_milestone(locked)
        _appointment_event(APPOINTMENT_CHANGE_EVENTS[change], locked)
    _adopt(appointment, locked)
    return appointment


def fsm_status_transition(change: str, status: str):
    return getattr(Appointment, change)._django_fsm.get_transition(status)


APPOINTMENT_CHANGES = ("check_in", "complete", "cancel", "no_show", "enter_in_error")
APPOINTMENT_CHANGE_EVENTS = {
    "check_in": EventType.APPOINTMENT_CHECKED_IN, "complete": EventType.APPOINTMENT_COMPLETED,
    "cancel": EventType.APPOINTMENT_CANCELLED, "no_show": EventType.APPOINTMENT_NO_SHOW,
    "enter_in_error": EventType.APPOINTMENT_ENTERED_IN_ERROR,
}


def appointment_changes_from(status: str) -> list[str]:
    """What can still happen to an appointment in this status (rescheduling only while booked)."""
    changes = [change for change in APPOINTMENT_CHANGES if fsm_status_transition(change, status) is not None]
    return ["reschedule", *changes] if status == AppointmentStatus.BOOKED else changes


def appointment_reschedule(*, appointment: Appointment, actor: Actor, starts_at: Any, ends_at: Any) -> Appointment:
    starts_at, ends_at = _check_window(starts_at, ends_at)
    with transaction.atomic():
        locked = _lock_appointment(appointment, actor)
        if locked.status != AppointmentStatus.BOOKED:
            raise StateRefused(
                {"starts_at": [f"A {locked.get_status_display().lower()} appointment cannot be rescheduled."]},
                action="reschedule", state=locked.status, allowed=appointment_changes_from(locked.status),
            )
        locked.starts_at, locked.ends_at, locked.confirmed_at = starts_at, ends_at, None
        locked.save(update_fields=["starts_at", "ends_at", "confirmed_at", "updated_at"])
        _appointment_event(EventType.APPOINTMENT_RESCHEDULED, locked)
    _adopt(appointment, locked)
    return appointment


def appointment_check_in(*, appointment: Appointment, actor: Actor) -> Appointment:
    return _run_status_change(appointment, actor, "check_in")


def appointment_complete(*, appointment: Appointment, actor: Actor) -> Appointment:
    return _run_status_change(appointment, actor, "complete")


def appointment_cancel(*, appointment: Appointment, actor: Actor, reason: str) -> Appointment:
    reason = _as_text(reason or "", "reason", max_length=300)
    if not reason:
        raise InvalidInput({"reason": ["Say why the appointment is cancelled."]})
    return _run_status_change(appointment, actor, "cancel", reason=reason)


def appointment_no_show(*, appointment: Appointment, actor: Actor) -> Appointment:
    return _run_status_change(appointment, actor, "no_show")


def appointment_enter_in_error(*, appointment: Appointment, actor: Actor) -> Appointment:
    return _run_status_change(appointment, actor, "enter_in_error")


def appointment_confirm(*, appointment: Appointment) -> Appointment:
    """The patient confirmed (replied C / YES): a flag with a time, not a status."""
    Appointment.objects.filter(pk=appointment.pk, confirmed_at__isnull=True).update(
        confirmed_at=timezone.now(), updated_at=timezone.now()
    )
    appointment.refresh_from_db(fields=["confirmed_at", "updated_at"])
    return appointment


def _meet_milestone(appointment: Appointment) -> None:
    """A completed appointment meets the earliest open milestone of its kind whose window holds its date."""
    episode_id = appointment.episode_id
    if episode_id is None:
        episode_id = (
            Episode.objects.filter(patient_id=appointment.patient_id, stage=Stage.FOLLOW_UP)
            .values_list("pk", flat=True).first()
        )
    if episode_id is None:
        return
    day = local_date(appointment.clinic, appointment.starts_at)
    milestone = (
        FollowUpMilestone.objects.select_for_update()
        .filter(episode_id=episode_id, kind=appointment.kind, met_by__isnull=True,
                window_start__lte=day, window_end__gte=day)
        .order_by("due_on").first()
    )
    if milestone is not None:
        milestone.met_by, milestone.met_on = appointment, day
        milestone.save(update_fields=["met_by", "met_on"])
