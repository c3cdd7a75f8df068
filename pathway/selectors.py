"""Reads of the pathway, always scoped to what the caller may see (HackSoftware's "selectors").

An object of another clinic is simply absent from these querysets, so callers answer "not found".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DateField, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .actors import Actor
from .clinic_time import clinic_today, start_of_day
from .models import (
    Appointment,
    AuthorizationStatusChange,
    Clinic,
    Episode,
    FollowUpMilestone,
    PainEntry,
    Patient,
    PriorAuthorization,
)
from .stages import (
    CLINICAL_ROLES,
    OPEN_STAGES,
    AppointmentKind,
    AppointmentStatus,
    AuthorizationStatus,
    AuthorizationStep,
    Role,
    Stage,
)

STAFF_ROLES = (Role.COORDINATOR, Role.PHYSICIAN, Role.FRONT_DESK)


def patients_for(*, actor: Actor) -> QuerySet[Patient]:
    return Patient.objects.filter(clinic_id__in=actor.clinic_ids_for(*STAFF_ROLES))


def episodes_for(*, actor: Actor) -> QuerySet[Episode]:
    return Episode.objects.filter(clinic_id__in=actor.clinic_ids_for(*STAFF_ROLES)).select_related(
        "clinic", "patient", "physician", "coordinator"
    )


def clinical_episodes_for(*, actor: Actor) -> QuerySet[Episode]:
    return episodes_for(actor=actor).filter(clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES))


def appointments_for(*, actor: Actor) -> QuerySet[Appointment]:
    return Appointment.objects.filter(clinic_id__in=actor.clinic_ids_for(*STAFF_ROLES)).select_related(
        "clinic", "patient", "episode"
    )


# --- Stalled episodes -----------------------------------------------------------------------------


# Limits count the clinic's days, like days_in_stage and the trial's expected end: an episode is stalled from
# the first moment of the day after its last allowed day, so the board never shows "60 days" as over a 60-day limit.
def _stalled_in_clinic(clinic: Clinic, now: datetime) -> Q:
    today = clinic_today(clinic, now)
    q = Q(stage=Stage.TRIAL, trial_expected_end__lt=today)
    for stage, days in settings.PATHWAY["STAGE_LIMIT_DAYS"].items():
        q |= Q(stage=stage, stage_entered_at__lt=start_of_day(clinic, today - timedelta(days=days)))
    return Q(clinic_id=clinic.pk) & q


def stalled_q(*, clinics, now: datetime | None = None) -> Q:
    """Episodes over their stage's time limit (DOMAIN.md, "Time limits per stage"), as a filter."""
    now = now or timezone.now()
    q = Q(pk__in=[])
    for clinic in clinics:
        q |= _stalled_in_clinic(clinic, now)
    return q


def episode_is_stalled(episode: Episode, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if episode.stage == Stage.TRIAL:
        return episode.trial_expected_end is not None and episode.trial_expected_end < clinic_today(
            episode.clinic, now
        )
    days = settings.PATHWAY["STAGE_LIMIT_DAYS"].get(episode.stage)
    return days is not None and days_in_stage(episode, now) > days


def days_in_stage(episode: Episode, now: datetime | None = None) -> int:
    return (clinic_today(episode.clinic, now) - clinic_today(episode.clinic, episode.stage_entered_at)).days


# --- Follow-up milestones -------------------------------------------------------------------------


def milestone_is_overdue(milestone: FollowUpMilestone, today) -> bool:
    return milestone.met_by_id is None and milestone.window_end < today


def past_window_q(clinics, now: datetime | None = None) -> Q:
    """Milestones whose window closed before today, each clinic's today in its own zone."""
    now = now or timezone.now()
    q = Q(pk__in=[])
    for clinic in clinics:
        q |= Q(episode__clinic_id=clinic.pk, window_end__lt=clinic_today(clinic, now))
    return q


def overdue_milestones_for(*, actor: Actor, now: datetime | None = None) -> QuerySet[FollowUpMilestone]:
    clinics = Clinic.objects.filter(pk__in=actor.clinic_ids_for(*CLINICAL_ROLES))
    return (
        FollowUpMilestone.objects.filter(past_window_q(clinics, now), met_by__isnull=True,
                                         episode__stage=Stage.FOLLOW_UP)
        .select_related("episode__patient", "episode__clinic")
        .order_by("window_end")
    )


# --- Prior authorizations -------------------------------------------------------------------------

# An authorization is still needed while its step lies ahead; the booked procedure of its step is its planned date.
STAGES_BEFORE = {
    AuthorizationStep.TRIAL: (Stage.EVALUATION,),
    AuthorizationStep.IMPLANT: (Stage.EVALUATION, Stage.TRIAL, Stage.TRIAL_REVIEW, Stage.IMPLANT),
}
PROCEDURE_OF = {
    AuthorizationStep.TRIAL: AppointmentKind.TRIAL_LEAD_PLACEMENT,
    AuthorizationStep.IMPLANT: AppointmentKind.IMPLANT_SURGERY,
}


def _planned_procedure_date(step: str, today) -> Subquery:
    """The day of the first procedure of `step` booked for the authorization's episode from today on."""
    booked = (
        Appointment.objects.filter(episode_id=OuterRef("episode_id"), kind=PROCEDURE_OF[step],
                                   status=AppointmentStatus.BOOKED)
        .annotate(day=TruncDate("starts_at")).filter(day__gte=today).order_by("starts_at").values("day")[:1]
    )
    return Subquery(booked, output_field=DateField())


def authorizations_with_planned_date(queryset: QuerySet[PriorAuthorization], *, today) -> QuerySet:
    """Annotates `planned_on`: the booked procedure's day, or None when nothing is booked."""
    from django.db.models import Case, When

    return queryset.annotate(planned_on=Case(
        *[When(step=step, then=_planned_procedure_date(step, today)) for step in AuthorizationStep],
        output_field=DateField(),
    ))


def authorization_problems_q(*, today) -> Q:
    """A filter on PriorAuthorization (annotated by authorizations_with_planned_date): still needed, and
    submitted more than AUTHORIZATION_PENDING_DAYS ago with no answer, or denied with no appeal, or approved but
    lapsing before the booked procedure (with none booked, within AUTHORIZATION_LOOKAHEAD_DAYS). A pending or
    denied request stops counting once another authorization of the same step is approved."""
    policy = settings.PATHWAY
    needed = Q(pk__in=[])
    for step, stages in STAGES_BEFORE.items():
        needed |= Q(step=step, episode__stage__in=stages)
    replaced = Exists(PriorAuthorization.objects.filter(
        episode_id=OuterRef("episode_id"), step=OuterRef("step"), status=AuthorizationStatus.APPROVED))
    pending = Q(status=AuthorizationStatus.SUBMITTED,
                submitted_on__lt=today - timedelta(days=policy["AUTHORIZATION_PENDING_DAYS"]))
    denied = Q(status=AuthorizationStatus.DENIED)
    horizon = Coalesce("planned_on", Value(today + timedelta(days=policy["AUTHORIZATION_LOOKAHEAD_DAYS"])),
                       output_field=DateField())
    lapsing = Q(status=AuthorizationStatus.APPROVED, valid_to__lt=horizon)
    return needed & (((pending | denied) & ~Q(replaced)) | lapsing)


def authorization_problem_q(*, today) -> Q:
    """Episodes with an authorization problem (authorization_problems_q), as a filter on Episode."""
    troubled = authorizations_with_planned_date(PriorAuthorization.objects.all(), today=today).filter(
        authorization_problems_q(today=today))
    return Q(pk__in=troubled.values("episode_id"))


def authorization_problem(authorization: PriorAuthorization, today) -> str:
    """The worklist's words for an authorization that authorization_problems_q found."""
    if authorization.status == AuthorizationStatus.SUBMITTED:
        days = (today - authorization.submitted_on).days
        return f"submitted {authorization.submitted_on:%d %b %Y}, no answer for {days} days"
    if authorization.status == AuthorizationStatus.DENIED:
        return "denied: no appeal yet"
    planned = getattr(authorization, "planned_on", None)
    if authorization.valid_to < today:
        return f"expired {authorization.valid_to:%d %b %Y}"
    if planned is not None:
        return f"valid to {authorization.valid_to:%d %b %Y}, before the procedure on {planned:%d %b %Y}"
    return f"valid to {authorization.valid_to:%d %b %Y} and no procedure booked"


# --- Board ----------------------------------------------------------------------------------------


def board_counts(*, actor: Actor, now: datetime | None = None) -> dict[str, dict[str, int]]:
    clinics = Clinic.objects.filter(pk__in=actor.clinic_ids_for(*STAFF_ROLES))
    rows = (
        Episode.objects.filter(clinic__in=clinics, stage__in=OPEN_STAGES)
        .values("stage")
        .annotate(
            total=Count("pk"),
            on_hold=Count("pk", filter=Q(on_hold=True)),
            stalled=Count("pk", filter=stalled_q(clinics=clinics, now=now)),
        )
    )
    counts = {stage: {"total": 0, "on_hold": 0, "stalled": 0} for stage in OPEN_STAGES}
    for row in rows:
        counts[row["stage"]] = {"total": row["total"], "on_hold": row["on_hold"], "stalled": row["stalled"]}
    return counts


# --- API reads (api/) -----------------------------------------------------------------------------
# Querysets shaped for the API's lists: everything a row's serialization needs is joined or prefetched
# here, so a page of 50 costs the same queries as a page of 1.


def patient_list_for(*, actor: Actor) -> QuerySet[Patient]:
    return patients_for(actor=actor).select_related("primary_physician")


# What rules.relief_from_entries reads, without the ordering or the other columns: lists show relief only.
RELIEF_ENTRIES = Prefetch(
    "pain_entries", queryset=PainEntry.objects.order_by().only("episode_id", "phase", "nrs", "percent_relief")
)


def episode_list_for(*, actor: Actor, with_pain_entries: bool = False) -> QuerySet[Episode]:
    """Episodes with patient, clinic and people joined; pain entries (and the trial authorizations behind the
    deprecated auth_* fields) prefetched when the clinical side is shown."""
    episodes = episodes_for(actor=actor)
    return episodes.prefetch_related(RELIEF_ENTRIES, TRIAL_AUTHORIZATIONS) if with_pain_entries else episodes


# Every authorization of the episode (not only the trial's): the guards read the same prefetched list.
TRIAL_AUTHORIZATIONS = "authorizations"


def authorizations_for(*, actor: Actor) -> QuerySet[PriorAuthorization]:
    """Authorizations of the caller's clinics' episodes, each with its episode, patient and status history."""
    return (
        PriorAuthorization.objects.filter(episode__clinic_id__in=actor.clinic_ids_for(*STAFF_ROLES))
        .select_related("episode__patient", "episode__clinic")
        .prefetch_related(Prefetch("status_changes", queryset=AuthorizationStatusChange.objects.order_by("at", "id")))
    )


def stalled_for(*, actor: Actor, now: datetime | None = None) -> Q:
    """The stalled filter over every clinic the caller works in."""
    return stalled_q(clinics=Clinic.objects.filter(pk__in=actor.clinic_ids_for(*STAFF_ROLES)), now=now)


CASELOAD_NEEDS = {0: "trial review pending", 1: "trial ending", 2: "stalled", 3: ""}


def caseload_for(*, actor: Actor, physician=None, now: datetime | None = None) -> QuerySet[Episode]:
    """Open episodes ordered by what needs attention first: reviews pending, trials ending, stalled, the rest.

    Annotates `priority` (a key of CASELOAD_NEEDS) and `is_stalled`. Without `physician`, the caller's
    whole clinic(s); only coordinators and physicians have a caseload.
    """
    from django.db.models import BooleanField, Case, IntegerField, Value, When

    now = now or timezone.now()
    clinics = list(Clinic.objects.filter(pk__in=actor.clinic_ids_for(*CLINICAL_ROLES)))
    stalled = stalled_q(clinics=clinics, now=now)
    trial_ending = Q(pk__in=[])
    for clinic in clinics:
        trial_ending |= Q(clinic_id=clinic.pk, stage=Stage.TRIAL,
                          trial_expected_end__lte=clinic_today(clinic, now) + timedelta(days=1))
    episodes = clinical_episodes_for(actor=actor).filter(stage__in=OPEN_STAGES).prefetch_related(RELIEF_ENTRIES)
    if physician is not None:
        episodes = episodes.filter(physician=physician)
    return episodes.annotate(
        priority=Case(
            When(stage=Stage.TRIAL_REVIEW, then=Value(0)), When(trial_ending, then=Value(1)),
            When(stalled, then=Value(2)), default=Value(3), output_field=IntegerField(),
        ),
        is_stalled=Case(When(stalled, then=Value(True)), default=Value(False), output_field=BooleanField()),
    )


def episode_next_action(episode: Episode, now: datetime | None = None) -> tuple[str, str] | None:
    """What the episode waits for, as (code, words) safe to show every staff role; None once it has ended."""
    if episode.stage not in OPEN_STAGES:
        return None
    if episode.on_hold:
        return "release_hold", "On hold: release it when the reason is resolved"
    if episode.stage == Stage.EVALUATION:
        return "complete_candidacy", "Complete the candidacy checklist and book the trial lead placement"
    if episode.stage == Stage.TRIAL:
        if episode_is_stalled(episode, now):
            return "end_trial", "Trial past its expected end: book the lead removal and end the trial"
        return "collect_trial_scores", f"Trial until {episode.trial_expected_end}: collect daily pain scores"
    if episode.stage == Stage.TRIAL_REVIEW:
        return "decide_implant", "Physician's decision on the trial"
    if episode.stage == Stage.IMPLANT:
        return "record_implant", "Book the implant surgery and record the implant"
    return "follow_up", "Follow-up visits as scheduled"


# --- Intake ---------------------------------------------------------------------------------------


def patient_duplicates_for(
    *, actor: Actor, clinic_id: int, mrn: str, given_name: str, family_name: str, birth_date, limit: int = 10
) -> list[Patient]:
    """Patients of the clinic a new referral may already be: the same MRN, or the same name and birth date.

    Each carries `same_mrn` (the MRN is taken: only this patient can be meant) and `open_episodes`.
    Case and surrounding spaces are ignored, as a person typing them would expect.
    """
    mrn = mrn.strip()
    same_person = Q(given_name__iexact=given_name.strip(), family_name__iexact=family_name.strip(),
                    birth_date=birth_date)
    rows = list(
        patients_for(actor=actor)
        .filter(clinic_id=clinic_id)
        .filter(Q(mrn__iexact=mrn) | same_person)
        .annotate(open_episodes=Count("episodes", filter=Q(episodes__stage__in=OPEN_STAGES)))
        .order_by("family_name", "given_name", "pk")[:limit]
    )
    for patient in rows:
        patient.same_mrn = patient.mrn.casefold() == mrn.casefold()
    return rows
