"""Reads the pages need, built on pathway.selectors' clinic-scoped querysets (never on the raw managers).

Every function returns a bounded number of rows, fetched in a fixed number of queries whatever the clinic's size:
lists are cut at a limit and counted with one aggregate, and cards get their checklist, pain scores and
milestones in one prefetch for the whole page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, prefetch_related_objects
from django.utils import timezone

from notifications import selectors as notification_selectors
from notifications.models import APPOINTMENT_PURPOSE_PREFIX, Purpose, Reminder, ReminderStatus
from pathway import rules, selectors
from pathway.actors import Actor
from pathway.clinic_time import clinic_today, clinic_zone
from pathway.models import (
    Appointment,
    AuthorizationStatusChange,
    ChecklistItem,
    Clinic,
    Episode,
    FollowUpMilestone,
    PainEntry,
    Patient,
    PriorAuthorization,
    Referral,
)
from pathway.stages import (
    CLINICAL_ROLES,
    OPEN_STAGES,
    AppointmentStatus,
    AuthorizationStatus,
    AuthorizationStep,
    ChecklistItemKind,
    ChecklistStatus,
    Role,
    Stage,
)

from . import followthrough_selectors

# The words a card uses for an open checklist item ("trial authorization pending").
CHECKLIST_SHORT = {
    ChecklistItemKind.PAIN_DURATION: "pain duration",
    ChecklistItemKind.PRIOR_TREATMENTS: "prior treatments",
    ChecklistItemKind.DIAGNOSIS: "diagnosis",
    ChecklistItemKind.PAIN_AREA: "pain area",
    ChecklistItemKind.PSYCH_EVALUATION: "psychological evaluation",
    ChecklistItemKind.IMAGING: "imaging review",
    ChecklistItemKind.CONSENT: "informed consent",
    ChecklistItemKind.TRIAL_AUTHORIZATION: "trial authorization",
    ChecklistItemKind.BASELINE_PAIN: "baseline pain score",
}
DONE = {ChecklistStatus.MET, ChecklistStatus.WAIVED}
TRIAL_ENDING_DAYS = 2  # a trial whose expected end is today or within this many days is "ending"
FAILED_REMINDER_HOURS = 72  # failed reminders stay on the worklist this long


# --- Who is looking -------------------------------------------------------------------------------


def web_role(actor: Actor) -> str | None:
    """The role the pages are laid out for: physician if the user is one anywhere, else coordinator."""
    roles = set(actor.roles.values())
    if Role.PHYSICIAN in roles:
        return Role.PHYSICIAN
    if Role.COORDINATOR in roles:
        return Role.COORDINATOR
    return None


def clinics_for(*, actor: Actor) -> QuerySet[Clinic]:
    return Clinic.objects.filter(pk__in=actor.clinic_ids_for(*CLINICAL_ROLES)).order_by("name")


def episodes_for(*, actor: Actor) -> QuerySet[Episode]:
    return with_trial_authorized_until(selectors.clinical_episodes_for(actor=actor))


def with_trial_authorized_until(episodes: QuerySet[Episode]) -> QuerySet[Episode]:
    """Annotates `trial_authorized_until`: the last day of the approved trial authorization that lasts longest
    (in the same query, so cards can say it has expired without a query of their own)."""
    latest = (
        PriorAuthorization.objects.filter(episode_id=OuterRef("pk"), step=AuthorizationStep.TRIAL,
                                          status=AuthorizationStatus.APPROVED, valid_to__isnull=False)
        .order_by("-valid_to").values("valid_to")[:1]
    )
    return episodes.annotate(trial_authorized_until=Subquery(latest))


def physicians_for(*, actor: Actor) -> QuerySet:
    return (
        get_user_model()
        .objects.filter(
            clinic_memberships__clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES),
            clinic_memberships__role=Role.PHYSICIAN,
        )
        .distinct()
        .order_by("last_name", "username")
    )


def patient_for(*, actor: Actor, external_id) -> Patient | None:
    return (
        selectors.patients_for(actor=actor)
        .filter(clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES), external_id=external_id)
        .select_related("clinic", "primary_physician")
        .first()
    )


def episode_for(*, actor: Actor, external_id) -> Episode | None:
    return episodes_for(actor=actor).filter(external_id=external_id).first()


def authorization_for(*, actor: Actor, external_id) -> PriorAuthorization | None:
    return (
        selectors.authorizations_for(actor=actor)
        .filter(episode__clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES), external_id=external_id)
        .select_related("episode__physician", "episode__coordinator")
        .first()
    )


def appointment_for(*, actor: Actor, external_id) -> Appointment | None:
    return (
        selectors.appointments_for(actor=actor)
        .filter(clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES), external_id=external_id)
        .first()
    )


def patient_search(*, actor: Actor, query: str, limit: int | None = None) -> list[Patient]:
    """Patients matching every word of `query`: a name (part), an MRN, a birth date or a phone number."""
    query = query.strip()
    if not query:
        return []
    limit = limit or settings.WEB_LIST_LIMIT
    return list(
        selectors.patients_for(actor=actor)
        .filter(clinic_id__in=actor.clinic_ids_for(*CLINICAL_ROLES))
        .filter(_search_match(query))
        .select_related("clinic")
        .order_by("family_name", "given_name", "pk")[:limit]
    )


def _patient_match(query: str, *, prefix: str) -> Q:
    q = Q()
    for word in query.split():
        q &= (
            Q(**{f"{prefix}family_name__icontains": word})
            | Q(**{f"{prefix}given_name__icontains": word})
            | Q(**{f"{prefix}mrn__iexact": word})
        )
    return q


# Birth dates as typed at a US desk or in ISO form; a phone number with or without its country code and spacing.
SEARCH_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
_PHONE_TYPED = re.compile(r"^\+?[\d\s().-]+$")
SEARCH_PHONE_MIN_DIGITS = 7


def _search_date(word: str) -> date | None:
    for format_ in SEARCH_DATE_FORMATS:
        try:
            return datetime.strptime(word, format_).date()
        except ValueError:
            continue
    return None


def _search_match(query: str) -> Q:
    # "+1 (555) 010-0123" is one phone number, not four words.
    words = [query] if _PHONE_TYPED.match(query) and _search_date(query) is None else query.split()
    q = Q()
    for word in words:
        if (born := _search_date(word)) is not None:
            q &= Q(birth_date=born) | Q(mrn__iexact=word)
        elif _PHONE_TYPED.match(word) and len(digits := re.sub(r"\D", "", word)) >= SEARCH_PHONE_MIN_DIGITS:
            q &= Q(phone__endswith=digits) | Q(mrn__iexact=word.strip())
        else:
            q &= _patient_match(word, prefix="")
    return q


# --- Cards ----------------------------------------------------------------------------------------


@dataclass
class Card:
    """One open episode as the board, worklist and caseload show it."""

    episode: Episode
    days_in_stage: int
    stalled: bool
    next_action: str
    blocked: bool
    relief: rules.Relief | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# What each card needs, fetched only for the cards of the stages that show it (three queries at most).
CARD_PREFETCH = {
    Stage.EVALUATION: Prefetch("checklist_items", queryset=ChecklistItem.objects.only("episode_id", "kind", "status")
                               .order_by("id")),
    Stage.TRIAL: Prefetch("pain_entries", queryset=PainEntry.objects.only(
        "episode_id", "phase", "nrs", "percent_relief", "recorded_at", "source").order_by("recorded_at", "id")),
    Stage.FOLLOW_UP: Prefetch(
        "milestones",
        queryset=FollowUpMilestone.objects.filter(met_by__isnull=True).order_by("due_on"),
        to_attr="open_milestones",
    ),
}
PREFETCH_FOR_STAGE = {Stage.EVALUATION: Stage.EVALUATION, Stage.TRIAL: Stage.TRIAL,
                      Stage.TRIAL_REVIEW: Stage.TRIAL, Stage.FOLLOW_UP: Stage.FOLLOW_UP}


def cards(episodes: list[Episode], now: datetime | None = None) -> list[Card]:
    now = now or timezone.now()
    for need, lookup in CARD_PREFETCH.items():
        wanted = [e for e in episodes if PREFETCH_FOR_STAGE.get(e.stage) == need]
        if wanted:
            prefetch_related_objects(wanted, lookup)
    diaries = followthrough_selectors.diaries(episodes, now)
    result = [_card(episode, now) for episode in episodes]
    for card in result:
        if card.episode.pk in diaries:
            card.extra["diary"] = diaries[card.episode.pk]
    return result


def _card(episode: Episode, now: datetime) -> Card:
    today = clinic_today(episode.clinic, now)
    relief = None
    blocked = False
    if episode.stage == Stage.EVALUATION:
        open_items = [CHECKLIST_SHORT[i.kind] for i in episode.checklist_items.all() if i.status not in DONE]
        if len(open_items) > 3:
            # A long list drowns the card: count them, and name the authorization, the usual long wait.
            authorization = CHECKLIST_SHORT[ChecklistItemKind.TRIAL_AUTHORIZATION]
            action = f"{len(open_items)} checklist items pending"
            action += f", {authorization} among them" if authorization in open_items else ""
            blocked = True
        elif open_items:
            action, blocked = ", ".join(open_items) + " pending", True
        elif (until := getattr(episode, "trial_authorized_until", None)) and until < today:
            action, blocked = "trial authorization expired", True
        else:
            action = "Ready to start the trial"
    elif episode.stage == Stage.TRIAL:
        scores = sum(1 for e in episode.pain_entries.all() if e.phase == "trial")
        end = episode.trial_expected_end
        if not scores:
            action, blocked = "no trial pain scores yet", True
        elif end and end < today:
            action = f"Past its expected end ({end:%d %b}): end the trial"
        else:
            action = f"End the trial{f' by {end:%d %b}' if end else ''} ({scores} score{'s' if scores != 1 else ''})"
    elif episode.stage == Stage.TRIAL_REVIEW:
        relief = rules.episode_relief(episode)
        figure = "relief " + (f"{relief.percent} %" if relief.percent is not None else f"unknown ({relief.reason})")
        action = f"Physician decision: {figure}, threshold {episode.relief_threshold} %"
    elif episode.stage == Stage.IMPLANT:
        action = "Record the implant"
    else:
        upcoming = episode.open_milestones[0] if episode.open_milestones else None
        if upcoming is None:
            action = "All follow-up milestones met"
        elif upcoming.window_end < today:
            action, blocked = f"{upcoming.label} overdue (window ended {upcoming.window_end:%d %b %Y})", True
        else:
            action = f"{upcoming.label} due {upcoming.due_on:%d %b %Y}"
    return Card(
        episode=episode,
        days_in_stage=selectors.days_in_stage(episode, now),
        stalled=selectors.episode_is_stalled(episode, now),
        next_action=action,
        blocked=blocked,
        relief=relief,
    )


# --- Board ----------------------------------------------------------------------------------------


@dataclass
class Column:
    stage: str
    label: str
    total: int
    on_hold: int
    stalled: int
    cards: list[Card]
    page: int = 1

    @property
    def shown(self) -> int:
        return min(self.page * settings.WEB_BOARD_CARDS_PER_COLUMN, self.total)

    @property
    def has_more(self) -> bool:
        return self.shown < self.total


def _authorization_problem(clinics, now) -> Q:
    """Each clinic's episodes with an authorization problem, as of that clinic's own today."""
    q = Q(pk__in=[])
    for clinic in clinics:
        q |= Q(clinic=clinic) & selectors.authorization_problem_q(today=clinic_today(clinic, now))
    return q


# The board's flag filter: value -> (label, a filter over the clinics at `now`); the <select> lists this table.
BOARD_FLAGS = {
    "stalled": ("Stalled", lambda clinics, now: selectors.stalled_q(clinics=clinics, now=now)),
    "on_hold": ("On hold", lambda clinics, now: Q(on_hold=True)),
    "authorization": ("Authorization problem", _authorization_problem),
}


@dataclass(frozen=True)
class BoardFilters:
    """What the board shows; physician, stage and flag come from the URL, the name search from a POST body."""

    physician: str = ""
    stage: str = ""
    flag: str = ""
    query: str = ""

    def problems(self) -> list[str]:
        problems = []
        if self.stage and self.stage not in OPEN_STAGES:
            problems.append(f"Stage: choose one of {', '.join(OPEN_STAGES)}.")
        if self.flag and self.flag not in BOARD_FLAGS:
            problems.append(f"Flag: choose one of {', '.join(BOARD_FLAGS)}.")
        return problems

    @property
    def url_params(self) -> dict[str, str]:
        return {k: v for k, v in (("physician", self.physician), ("stage", self.stage), ("flag", self.flag)) if v}

    @property
    def active(self) -> bool:
        return bool(self.url_params or self.query)


def board_queryset(
    *, actor: Actor, physician: str = "", query: str = "", stage: str = "", flag: str = "",
    clinics: list[Clinic] | None = None, now: datetime | None = None,
) -> QuerySet[Episode]:
    episodes = episodes_for(actor=actor).filter(stage__in=[stage] if stage else OPEN_STAGES)
    if physician:
        episodes = episodes.filter(physician__username=physician)
    if flag:
        clinics = list(clinics_for(actor=actor)) if clinics is None else clinics
        episodes = episodes.filter(BOARD_FLAGS[flag][1](clinics, now or timezone.now()))
    if query.strip():
        episodes = episodes.filter(_patient_match(query.strip(), prefix="patient__"))
    return episodes


def board_columns(
    *, actor: Actor, physician: str = "", query: str = "", stage: str = "", flag: str = "",
    clinics: list[Clinic] | None = None, now: datetime | None = None,
) -> list[Column]:
    """One aggregate for the counts, one query per column for its first cards, three prefetches and today's
    diary messages for them all. With `stage`, that column alone.

    `clinics` are the actor's clinics when the caller already has them (saves a query)."""
    now = now or timezone.now()
    clinics = list(clinics_for(actor=actor)) if clinics is None else clinics
    stages = [stage] if stage else list(OPEN_STAGES)
    episodes = board_queryset(actor=actor, physician=physician, query=query, stage=stage, flag=flag,
                              clinics=clinics, now=now)
    stalled = selectors.stalled_q(clinics=clinics, now=now)
    counts = {stage: {"total": 0, "on_hold": 0, "stalled": 0} for stage in stages}
    rows = (
        episodes.order_by()
        .values("stage")
        .annotate(
            total=Count("pk"),
            on_hold=Count("pk", filter=Q(on_hold=True)),
            stalled=Count("pk", filter=stalled),
        )
    )
    for row in rows:
        counts[row["stage"]] = {key: row[key] for key in ("total", "on_hold", "stalled")}
    limit = settings.WEB_BOARD_CARDS_PER_COLUMN
    per_stage = {
        stage: list(episodes.filter(stage=stage).order_by("stage_entered_at", "pk")[:limit]) if counts[stage]["total"]
        else []
        for stage in stages
    }
    all_cards = cards([e for stage in stages for e in per_stage[stage]], now)
    by_stage: dict[str, list[Card]] = {stage: [] for stage in stages}
    for card in all_cards:
        by_stage[card.episode.stage].append(card)
    return [
        Column(stage=stage, label=Stage(stage).label, cards=by_stage[stage], **counts[stage]) for stage in stages
    ]


def board_column_page(
    *, actor: Actor, stage: str, page: int, physician: str = "", query: str = "", flag: str = "",
    clinics: list[Clinic] | None = None, now: datetime | None = None,
) -> Column:
    now = now or timezone.now()
    episodes = board_queryset(actor=actor, physician=physician, query=query, stage=stage, flag=flag,
                              clinics=clinics, now=now)
    total = episodes.count()
    limit = settings.WEB_BOARD_CARDS_PER_COLUMN
    chunk = list(episodes.order_by("stage_entered_at", "pk")[(page - 1) * limit: page * limit])
    return Column(stage=stage, label=Stage(stage).label, total=total, on_hold=0, stalled=0,
                  cards=cards(chunk, now), page=page)


# --- Worklist -------------------------------------------------------------------------------------


@dataclass
class Section:
    key: str
    title: str
    total: int
    rows: list
    empty: str


def _cut(queryset: QuerySet, limit: int) -> tuple[int, list]:
    rows = list(queryset[: limit + 1])
    if len(rows) <= limit:
        return len(rows), rows
    return queryset.count(), rows[:limit]


def worklist(*, actor: Actor, clinics: list[Clinic] | None = None, now: datetime | None = None) -> list[Section]:
    """What needs doing today; each section at most WEB_LIST_LIMIT rows, counted only when cut."""
    now = now or timezone.now()
    limit = settings.WEB_LIST_LIMIT
    clinics = list(clinics_for(actor=actor)) if clinics is None else clinics
    open_episodes = episodes_for(actor=actor).filter(stage__in=OPEN_STAGES)

    stalled_total, stalled = _cut(
        open_episodes.filter(selectors.stalled_q(clinics=clinics, now=now)).order_by("stage_entered_at", "pk"), limit
    )
    ending = Q(pk__in=[])
    for clinic in clinics:
        today = clinic_today(clinic, now)
        ending |= Q(clinic_id=clinic.pk, trial_expected_end__gte=today,
                    trial_expected_end__lte=today + timedelta(days=TRIAL_ENDING_DAYS))
    ending_total, ending_rows = _cut(
        open_episodes.filter(ending, stage=Stage.TRIAL).order_by("trial_expected_end", "pk"), limit
    )
    review_total, reviews = _cut(open_episodes.filter(stage=Stage.TRIAL_REVIEW).order_by("stage_entered_at", "pk"),
                                 limit)
    all_cards = cards(stalled + ending_rows + reviews, now)
    card_of = {id(card.episode): card for card in all_cards}

    overdue_total, overdue = _cut(selectors.overdue_milestones_for(actor=actor, now=now), limit)

    tomorrow = Q(pk__in=[])
    for clinic in clinics:
        day = clinic_today(clinic, now) + timedelta(days=1)
        start = datetime.combine(day, datetime.min.time(), tzinfo=clinic_zone(clinic))
        tomorrow |= Q(clinic_id=clinic.pk, starts_at__gte=start, starts_at__lt=start + timedelta(days=1))
    unconfirmed_total, unconfirmed = _cut(
        selectors.appointments_for(actor=actor)
        .filter(tomorrow, clinic_id__in=[c.pk for c in clinics], status=AppointmentStatus.BOOKED,
                confirmed_at__isnull=True)
        .order_by("starts_at", "pk"),
        limit,
    )
    failed_total, failed = _cut(
        Reminder.objects.filter(clinic_id__in=[c.pk for c in clinics], status=ReminderStatus.FAILED,
                                updated_at__gte=now - timedelta(hours=FAILED_REMINDER_HOURS))
        .exclude(purpose=Purpose.DIGEST).select_related("patient").order_by("-updated_at", "-pk"),
        limit,
    )
    for reminder in failed:
        reminder.purpose_label = reminder_label(reminder.purpose)
    authorizations_total, authorizations = _cut(authorization_problems(actor=actor, clinics=clinics, now=now), limit)
    for authorization in authorizations:
        authorization.problem = selectors.authorization_problem(
            authorization, clinic_today(authorization.episode.clinic, now))
    inbound_total, inbound = _cut(
        notification_selectors.inbound_messages_needing_attention(clinic_ids=[c.pk for c in clinics])
        .order_by("-received_at", "-pk"),
        limit,
    )
    unanswered_total, unanswered = _cut(unanswered_questionnaires(actor=actor, now=now), limit)
    for questionnaire in unanswered:
        questionnaire.patient = questionnaire.milestone.episode.patient  # for the page's audit of who is shown
    sections = [
        Section("stalled", "Stalled episodes", stalled_total, [card_of[id(e)] for e in stalled],
                "No episode is over its stage's time limit."),
        Section("trials_ending", "Trials ending", ending_total, [card_of[id(e)] for e in ending_rows],
                f"No trial ends in the next {TRIAL_ENDING_DAYS} days."),
        Section("reviews", "Trial reviews pending", review_total, [card_of[id(e)] for e in reviews],
                "No trial is waiting for a decision."),
        Section("authorizations", "Authorizations needing a chase", authorizations_total, authorizations,
                "No authorization is waiting too long, denied without an appeal, or lapsing before its procedure."),
        Section("overdue", "Overdue follow-ups", overdue_total, overdue, "No follow-up milestone is overdue."),
        Section("questionnaires", "Follow-up questionnaires unanswered", unanswered_total, unanswered,
                "Every reminded follow-up questionnaire has been answered."),
        Section("unconfirmed", "Unconfirmed appointments tomorrow", unconfirmed_total, unconfirmed,
                "Every appointment tomorrow is confirmed."),
        Section("failed_reminders", "Failed reminders", failed_total, failed,
                f"No reminder failed in the last {FAILED_REMINDER_HOURS} hours."),
        Section("inbound", "Patient messages needing a person", inbound_total, inbound,
                "No patient message is waiting."),
    ]
    return sections


def unanswered_questionnaires(*, actor: Actor, now: datetime) -> QuerySet:
    """Follow-up questionnaires still unanswered QUESTIONNAIRE_WORKLIST_DAYS after their one reminder, of open
    episodes the actor may see: a coordinator calls, or enters the answers at the next visit."""
    from outcomes.models import OutcomeQuestionnaire

    waited = timedelta(days=settings.OUTCOMES["QUESTIONNAIRE_WORKLIST_DAYS"])
    return (
        OutcomeQuestionnaire.objects.filter(
            milestone__episode__in=episodes_for(actor=actor).filter(stage__in=OPEN_STAGES),
            answered_at__isnull=True, reminded_at__lte=now - waited,
        ).select_related("milestone__episode__patient").order_by("reminded_at", "pk")
    )


def authorization_problems(*, actor: Actor, clinics: list[Clinic], now: datetime) -> QuerySet[PriorAuthorization]:
    """Authorizations of open episodes pending too long, denied without an appeal, or lapsing before the
    planned procedure (pathway.selectors.authorization_problems_q), each clinic judged on its own today."""
    problems = Q(pk__in=[])
    for clinic in clinics:
        today = clinic_today(clinic, now)
        problems |= Q(episode__clinic_id=clinic.pk) & selectors.authorization_problems_q(today=today)
    # The booked procedure's day is the same subquery whichever clinic's today: from the earliest of them.
    earliest = min((clinic_today(clinic, now) for clinic in clinics), default=now.date())
    authorizations = selectors.authorizations_with_planned_date(
        PriorAuthorization.objects.filter(episode__clinic_id__in=[c.pk for c in clinics],
                                          episode__stage__in=OPEN_STAGES),
        today=earliest,
    )
    return (
        authorizations.filter(problems).select_related("episode__patient", "episode__clinic")
        .order_by("valid_to", "submitted_on", "pk")
    )


# --- Caseload -------------------------------------------------------------------------------------


def caseload(*, actor: Actor, now: datetime | None = None) -> tuple[int, list[Card]]:
    """The physician's open episodes in pathway.selectors.caseload_for's order: trial reviews first, then
    trials ending, then stalled, then the rest; longest waiting first within each."""
    now = now or timezone.now()
    episodes = with_trial_authorized_until(selectors.caseload_for(actor=actor, physician=actor.user, now=now)).order_by(
        "priority", "stage_entered_at", "pk"
    )
    total, rows = _cut(episodes, settings.WEB_LIST_LIMIT)
    return total, cards(rows, now)


# --- Patient page ---------------------------------------------------------------------------------


def patient_episodes(*, patient: Patient) -> list[Episode]:
    return list(
        patient.episodes.select_related("clinic", "patient", "physician", "coordinator")
        .prefetch_related(
            Prefetch("checklist_items", queryset=ChecklistItem.objects.select_related("recorded_by").order_by("id")),
            Prefetch("pain_entries", queryset=PainEntry.objects.order_by("recorded_at", "id")),
            "transition_logs",
            Prefetch("referrals", queryset=Referral.objects.order_by("created_at", "id")),
            Prefetch("milestones", queryset=FollowUpMilestone.objects.order_by("due_on")),
            Prefetch("authorizations", queryset=PriorAuthorization.objects.prefetch_related(
                Prefetch("status_changes", queryset=AuthorizationStatusChange.objects.order_by("at", "id")))),
        )
        .order_by("-created_at")
    )


def reminder_label(purpose: str) -> str:
    if purpose.startswith(APPOINTMENT_PURPOSE_PREFIX):
        return f"{purpose.removeprefix(APPOINTMENT_PURPOSE_PREFIX).removesuffix('h')} h before"
    return Purpose(purpose).label if purpose in Purpose.values else purpose.replace("_", " ")


@dataclass(frozen=True)
class ReminderRow:
    label: str
    channel: str
    scheduled_for: datetime
    status: str
    status_label: str
    reason: str


def patient_appointments(*, patient: Patient) -> list[Appointment]:
    """Newest first, each with `reminder_rows`: its reminders' outcomes, fetched for all in one query
    (the same rows and order as notifications.selectors.reminders_for_appointment gives one at a time)."""
    appointments = list(patient.appointments.select_related("episode").order_by("-starts_at"))
    reminders = (
        Reminder.objects.filter(appointment__in=appointments)
        .order_by("scheduled_for", "id")
        .only(*notification_selectors.REMINDER_FIELDS, "appointment_id")
    )
    rows: dict[int, list[ReminderRow]] = {a.pk: [] for a in appointments}
    for reminder in reminders:
        rows[reminder.appointment_id].append(ReminderRow(
            label=reminder_label(reminder.purpose), channel=reminder.get_channel_display(),
            scheduled_for=reminder.scheduled_for, status=reminder.status,
            status_label=reminder.get_status_display(), reason=reminder.reason,
        ))
    for appointment in appointments:
        appointment.reminder_rows = rows[appointment.pk]
    return appointments
