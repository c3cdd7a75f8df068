"""Thin views: read through web.selectors (clinic-scoped), write through pathway.services, render templates.

A form that fails comes back with its errors next to its fields and what was typed: as the form's own
fragment for htmx, or inside the whole page otherwise. Success reloads the page the user came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlparse

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from api.audit import audit_read
from outcomes.trial_summary import has_trial_summary
from pathway import rules, services
from pathway import selectors as pathway_selectors
from pathway.clinic_time import clinic_today, clinic_zone
from pathway.errors import Conflict, DomainError, InvalidInput, NotPermitted, TransitionRefused
from pathway.models import Episode, Patient
from pathway.stages import OPEN_STAGES, ChecklistItemKind, PriorTreatment, Role, Stage

from . import followthrough_selectors, forms, selectors
from .access import clinical_page
from .charts import pain_chart_svg
from .outcome_chart import outcome_chart_svg, outcome_rows

# Guards that only check a transition's own inputs: the form asks for those, so they are not shown as blockers.
INPUT_GUARDS = {
    "lead_placement_date_given", "lead_removal_date_given", "reason_given", "abort_category_given",
    "implant_date_given", "device_recorded", "lead_levels_given", "end_date_given",
}


# --- Start pages ----------------------------------------------------------------------------------


@require_GET
@clinical_page()
def home(request):
    if request.web_role == Role.PHYSICIAN:
        return redirect("web:caseload")
    return _worklist(request)


@require_GET
@clinical_page()
def worklist(request):
    return _worklist(request)


def _patients_of(rows):
    """The external ids of the patients on a list: cards and milestones through their episode."""
    for row in rows:
        if isinstance(row, Patient):
            yield row.external_id
        elif (patient := getattr(row, "patient", None) if not isinstance(row, selectors.Card) else None) is not None:
            yield patient.external_id
        elif (episode := getattr(row, "episode", None)) is not None:
            yield episode.patient.external_id


def _worklist(request):
    sections = selectors.worklist(actor=request.actor, clinics=request.clinics)
    audit_read(request, "web.worklist", *(pid for section in sections for pid in _patients_of(section.rows)))
    return render(request, "web/worklist.html", {"sections": sections, "page": "worklist"})


@require_GET
@clinical_page(Role.PHYSICIAN)
def caseload(request):
    total, cards = selectors.caseload(actor=request.actor)
    audit_read(request, "web.caseload", *_patients_of(cards))
    for card in cards:
        # The decision waiting for the physician can be taken right here.
        if card.episode.stage == Stage.TRIAL_REVIEW and not card.episode.on_hold:
            card.extra["approve"] = {
                "name": "approve_implant", "label": "Approve implant",
                "form": forms.TransitionForm(name="approve_implant", prefix=_prefix(card.episode, "approve_implant"),
                                             initial={"seen_stage": card.episode.stage}),
                "url": reverse("web:episode_transition", args=[card.episode.external_id, "approve_implant"]),
                "blockers": [],
            }
    return render(request, "web/caseload.html", {"total": total, "cards": cards, "page": "caseload"})


# --- Board ----------------------------------------------------------------------------------------


def _board_filters(request) -> selectors.BoardFilters:
    # Physician, stage and flag are in the URL (a POST's too: its action carries them); the search words may
    # be a patient's name, so they travel in a POST body, never in the URL.
    return selectors.BoardFilters(
        physician=request.GET.get("physician", "").strip(), stage=request.GET.get("stage", "").strip(),
        flag=request.GET.get("flag", "").strip(),
        query=request.POST.get("q", "").strip() if request.method == "POST" else "",
    )


def _board_context(filters: selectors.BoardFilters) -> dict:
    query = f"?{urlencode(filters.url_params)}" if filters.url_params else ""
    return {"filters": filters, "filter_query": query, "search_action": reverse("web:board") + query,
            "page": "board"}


@require_http_methods(["GET", "POST"])
@clinical_page()
def board(request):
    filters = _board_filters(request)
    context = {**_board_context(filters), "physicians": selectors.physicians_for(actor=request.actor),
               "stages": [(stage, Stage(stage).label) for stage in OPEN_STAGES],
               "flags": [(value, label) for value, (label, _) in selectors.BOARD_FLAGS.items()]}
    if problems := filters.problems():
        return render(request, "web/board.html", {**context, "problems": problems, "columns": []}, status=400)
    columns = selectors.board_columns(actor=request.actor, physician=filters.physician, query=filters.query,
                                       stage=filters.stage, flag=filters.flag, clinics=request.clinics)
    audit_read(request, "web.board", *(pid for column in columns for pid in _patients_of(column.cards)))
    return render(request, "web/board.html", {**context, "columns": columns})


@require_http_methods(["GET", "POST"])
@clinical_page()
def board_column(request, stage: str):
    filters = _board_filters(request)
    if stage not in OPEN_STAGES:
        raise Http404
    problems = filters.problems() + ([] if filters.stage in ("", stage) else ["Stage: this column is another stage."])
    if problems:
        return HttpResponseBadRequest(" ".join(problems))
    given = (request.POST or request.GET).get("page", "1")
    page = int(given) if given.isascii() and given.isdigit() and len(given) <= 6 else 0
    if page < 1:
        return HttpResponseBadRequest("Page: enter a whole number from 1 to 999999.")
    column = selectors.board_column_page(actor=request.actor, stage=stage, page=page, physician=filters.physician,
                                         query=filters.query, flag=filters.flag, clinics=request.clinics)
    audit_read(request, "web.board_column", *_patients_of(column.cards))
    template = "web/partials/board_cards.html" if request.htmx else "web/board_column.html"
    return render(request, template, {**_board_context(filters), "column": column})


# --- Patients -------------------------------------------------------------------------------------


@require_GET
@clinical_page()
def patient_search(request):
    """A GET form, so a search can be bookmarked and the back button returns to it. Its query string is masked
    in every log line and never leaves the site in a Referer (docs/security.md, "Patient data in logs")."""
    query = request.GET.get("q", "").strip()
    results = selectors.patient_search(actor=request.actor, query=query)
    audit_read(request, "web.patient_search", *_patients_of(results))
    return render(request, "web/patient_search.html", {"q": query, "results": results, "searched": bool(query),
                                                       "page": "patients"})


def _in_clinic_time(obj):
    """Times on a patient's page are shown and typed in that patient's clinic's zone."""
    timezone.activate(clinic_zone(obj.clinic))
    return obj


def _patient_or_404(request, external_id):
    patient = selectors.patient_for(actor=request.actor, external_id=external_id)
    if patient is None:
        raise Http404
    audit_read(request, f"web.{request.resolver_match.url_name}", patient.external_id)
    return _in_clinic_time(patient)


def _episode_or_404(request, external_id) -> Episode:
    episode = selectors.episode_for(actor=request.actor, external_id=external_id)
    if episode is None:
        raise Http404
    audit_read(request, f"web.{request.resolver_match.url_name}", episode.patient.external_id)
    return _in_clinic_time(episode)


def _prefix(episode: Episode, name: str) -> str:
    return f"{name}-{episode.external_id.hex[:12]}"


@dataclass
class EpisodePanel:
    episode: Episode
    days_in_stage: int
    stalled: bool
    relief: rules.Relief
    chart: str | None
    checklist: list[tuple[Any, forms.ChecklistItemForm | None]]
    transitions: list[dict]
    hold_form: forms.Form | None
    details_form: forms.EpisodeDetailsForm | None
    pain_form: forms.PainEntryForm | None
    logs: list
    trial_summary: bool
    milestones: list
    today: Any = None
    outcomes: list = field(default_factory=list)
    outcome_chart: str | None = None
    extra: dict = field(default_factory=dict)


def _episode_panel(request, episode: Episode, bound: dict[str, forms.forms.Form]) -> EpisodePanel:
    role = request.web_role
    actor = request.actor
    open_ = episode.is_open

    def form(name, factory):
        prefix = _prefix(episode, name)
        return bound.pop(prefix, None) or factory(prefix)

    checklist = []
    for item in episode.checklist_items.all():
        item.tried_labels = [PriorTreatment(v).label.lower() for v in item.details.get("tried", [])
                             if v in PriorTreatment.values]
        item_form = None
        if open_ and episode.stage == Stage.EVALUATION:
            initial = {"status": item.status, "note": item.note, "tried": item.details.get("tried", [])}
            item_form = form(f"checklist-{item.kind}", lambda p, item=item, initial=initial: forms.ChecklistItemForm(
                kind=item.kind, role=role, prefix=p, initial=initial))
        checklist.append((item, item_form))

    transitions = []
    for name in services.allowed_transitions(episode=episode, actor=actor) if open_ else []:
        t = services.fsm_transition(name, episode.stage)
        blockers = [rules.unmet_message(g, episode) for g in t.conditions
                    if g.__name__ not in INPUT_GUARDS and not g(episode)]
        transitions.append({
            "name": name, "label": t.custom.get("label", name), "blockers": blockers,
            "form": form(name, lambda p, name=name: forms.TransitionForm(
                name=name, prefix=p, initial={"seen_stage": episode.stage})),
            "url": reverse("web:episode_transition", args=[episode.external_id, name]),
        })

    hold_form = None
    if open_:
        hold_form = (form("release", lambda p: forms.ReleaseForm(prefix=p)) if episode.on_hold
                     else form("hold", lambda p: forms.HoldForm(prefix=p)))
    from .authorization_views import authorization_forms  # that module builds on this one's helpers

    extra = authorization_forms(episode, bound)
    relief = rules.episode_relief(episode)
    svg = pain_chart_svg(episode, relief, style_nonce=str(request.csp_nonce))
    outcomes = outcome_rows(episode, relief)
    outcome_svg = outcome_chart_svg(outcomes, style_nonce=str(request.csp_nonce))
    return EpisodePanel(
        episode=episode,
        days_in_stage=pathway_selectors.days_in_stage(episode),
        stalled=open_ and pathway_selectors.episode_is_stalled(episode),
        relief=relief,
        chart=mark_safe(svg) if svg else None,  # pygal escapes its labels
        checklist=checklist,
        transitions=transitions,
        hold_form=hold_form,
        details_form=form("details", lambda p: forms.EpisodeDetailsForm(
            prefix=p, initial=forms.EpisodeDetailsForm.initial_for(episode))) if open_ else None,
        pain_form=form("pain", lambda p: forms.PainEntryForm(prefix=p, initial={
            "phase": services.PHASES_BY_STAGE[episode.stage][0]})) if open_ else None,
        logs=_labelled(episode.transition_logs.all()),
        trial_summary=has_trial_summary(episode),
        milestones=list(episode.milestones.all()),
        today=clinic_today(episode.clinic),
        extra=extra,
        outcomes=outcomes,
        outcome_chart=mark_safe(outcome_svg) if outcome_svg else None,  # pygal escapes its labels
    )


HOLD_LABELS = {"hold": "Put on hold", "release": "Released from hold"}


def _labelled(logs) -> list:
    logs = list(logs)
    for log in logs:
        method = getattr(Episode, log.transition, None)
        transitions = getattr(getattr(method, "_django_fsm", None), "transitions", {})
        label = next(iter(transitions.values())).custom.get("label") if transitions else None
        log.label = label or HOLD_LABELS.get(log.transition, log.transition.replace("_", " ").capitalize())
    return logs


def _render_patient(request, patient, bound: dict | None = None, status: int = 200):
    bound = dict(bound or {})
    episodes = selectors.patient_episodes(patient=patient)
    open_episodes = [e for e in episodes if e.is_open]
    appointments = selectors.patient_appointments(patient=patient)
    for appointment in appointments:
        key = appointment.external_id.hex[:12]
        appointment.web_forms = {
            "reschedule": bound.get(f"reschedule-{key}") or forms.AppointmentTimeForm(
                prefix=f"reschedule-{key}", initial={
                    "starts_at": timezone.localtime(appointment.starts_at).replace(tzinfo=None),
                    "minutes": int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)}),
            "cancel": bound.get(f"cancel-{key}") or forms.AppointmentCancelForm(prefix=f"cancel-{key}"),
        }
    panels = [_episode_panel(request, episode, bound) for episode in episodes]
    diaries = followthrough_selectors.diaries(episodes)
    for panel in panels:
        panel.extra["diary"] = diaries.get(panel.episode.pk)
    for appointment in appointments:
        key = appointment.external_id.hex[:12]
        if appointment.status == "booked":
            bound.pop(f"reschedule-{key}", None)
        if appointment.status in ("booked", "arrived"):
            bound.pop(f"cancel-{key}", None)
    book_form = bound.pop("book", None)
    context = {
        "patient": patient,
        "panels": panels,
        # A form whose place is gone (the episode moved on meanwhile) still says why it failed.
        "orphan_errors": [error for form in bound.values() for errors in form.errors.values() for error in errors],
        "appointments": appointments,
        "book_form": book_form or forms.AppointmentBookForm(prefix="book", episodes=open_episodes),
        "page": "patients",
        "responder_percent": settings.OUTCOMES["RESPONDER_REDUCTION_PERCENT"],
    }
    return render(request, "web/patient.html", context, status=status)


@require_GET
@clinical_page()
def patient_detail(request, external_id):
    return _render_patient(request, _patient_or_404(request, external_id))


# --- Writes ---------------------------------------------------------------------------------------


def _after_write(request, patient, anchor: str = ""):
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = ""
    url = target or reverse("web:patient", args=[patient.external_id]) + (f"#{anchor}" if anchor else "")
    if not request.htmx:
        return redirect(url)
    # Setting the location to the same page plus a #fragment would only scroll: reload it instead.
    if urlparse(request.htmx.current_url or "").path == urlparse(url).path:
        return HttpResponseClientRefresh()
    return HttpResponseClientRedirect(url)


def _failed(request, patient, form, prefix: str, template: str, context: dict, status: int = 422):
    """Give the form back: its fragment to htmx, the whole page (with it in place) otherwise."""
    if request.htmx:
        return render(request, template, {"form": form, **context}, status=status)
    return _render_patient(request, patient, bound={prefix: form}, status=status)


def _domain_error(form, error: DomainError) -> None:
    if isinstance(error, InvalidInput):
        forms.attach_errors(form, error)
    elif isinstance(error, TransitionRefused) and error.unmet:
        for message in error.unmet:
            form.add_error(None, f"Not possible yet: {message}.")
    else:
        form.add_error(None, error.detail)


@require_POST
@clinical_page()
def episode_checklist(request, external_id, kind: str):
    episode = _episode_or_404(request, external_id)
    if kind not in ChecklistItemKind.values:
        raise Http404
    prefix = _prefix(episode, f"checklist-{kind}")
    form = forms.ChecklistItemForm(request.POST, kind=kind, role=request.web_role, prefix=prefix)
    if form.is_valid():
        try:
            services.checklist_item_record(
                episode=episode, kind=kind, status=form.cleaned_data["status"], actor=request.actor,
                note=form.cleaned_data["note"], details=form.details(),
            )
            messages.success(request, f"{ChecklistItemKind(kind).label}: saved.")
            return _after_write(request, episode.patient, f"episode-{episode.external_id}")
        except DomainError as error:
            _domain_error(form, error)
    item = episode.checklist_items.get(kind=kind)
    return _failed(request, episode.patient, form, prefix, "web/partials/checklist_item.html",
                   {"item": item, "episode": episode})


@require_POST
@clinical_page()
def episode_transition(request, external_id, name: str):
    episode = _episode_or_404(request, external_id)
    if name not in services.TRANSITION_NAMES:
        raise Http404
    prefix = _prefix(episode, name)
    form = forms.TransitionForm(request.POST, name=name, prefix=prefix)
    if form.is_valid() and form.cleaned_data["seen_stage"] not in ("", episode.stage):
        form.add_error(None, f"Someone else moved this episode to {episode.get_stage_display()} while you were "
                             "looking at it; nothing was changed. Reload the page to see it.")
    elif form.is_valid():
        try:
            services.episode_transition(episode=episode, name=name, actor=request.actor, data=form.service_data())
            messages.success(request, f"{episode.patient.full_name}: {name.replace('_', ' ')} done — now "
                                      f"{episode.get_stage_display()}.")
            return _after_write(request, episode.patient, f"episode-{episode.external_id}")
        except NotPermitted as error:
            return render(request, "web/wrong_role.html", {"detail": error.detail}, status=403)
        except DomainError as error:
            _domain_error(form, error)
    transition = {"name": name, "label": services.fsm_transition(name, episode.stage).custom.get("label", name)
                  if services.fsm_transition(name, episode.stage) else name,
                  "url": request.path, "blockers": []}
    return _failed(request, episode.patient, form, prefix, "web/partials/transition_form.html",
                   {"t": transition, "episode": episode, "next": request.POST.get("next", "")})


def _submit(request, episode: Episode, form, write, *, success: str, template: str):
    """Validate `form` and run `write(form)`, a service call; then the page again, or the form with its errors."""
    if form.is_valid():
        try:
            write(form)
            messages.success(request, success)
            return _after_write(request, episode.patient, f"episode-{episode.external_id}")
        except DomainError as error:
            _domain_error(form, error)
    return _failed(request, episode.patient, form, form.prefix, template, {"episode": episode})


HOLD_INTENTS = {
    "hold": (forms.HoldForm, services.episode_hold, "Put on hold."),
    "release": (forms.ReleaseForm, services.episode_release, "Released from hold."),
}


@require_POST
@clinical_page()
def episode_hold(request, external_id):
    """The form says what it means (hold or release): a second press of the same button is a conflict, not
    a toggle back."""
    episode = _episode_or_404(request, external_id)
    intent = request.POST.get("intent", "")
    if intent not in HOLD_INTENTS:
        return HttpResponseBadRequest("Say whether to put on hold or to release (intent=hold or intent=release).")
    form_class, write, success = HOLD_INTENTS[intent]
    form = form_class(request.POST, prefix=_prefix(episode, intent))
    if form.is_valid():
        try:
            write(episode=episode, actor=request.actor, reason=form.cleaned_data["reason"])
            messages.success(request, success)
            return _after_write(request, episode.patient, f"episode-{episode.external_id}")
        except Conflict as error:
            # Already done (a double submit, or someone else): show the button for the state it is in now.
            episode.refresh_from_db()
            current = "release" if episode.on_hold else "hold"
            form = HOLD_INTENTS[current][0](prefix=_prefix(episode, current))
            form.full_clean()  # an unbound form: no field errors, but it can carry the one above it
            form.cleaned_data = {}
            form.add_error(None, f"{error.detail} Nothing was changed.")
            return _failed(request, episode.patient, form, form.prefix, "web/partials/hold_form.html",
                           {"episode": episode}, status=409)
        except DomainError as error:
            _domain_error(form, error)
    return _failed(request, episode.patient, form, form.prefix, "web/partials/hold_form.html", {"episode": episode})


@require_POST
@clinical_page()
def episode_details(request, external_id):
    episode = _episode_or_404(request, external_id)
    return _submit(
        request, episode, forms.EpisodeDetailsForm(request.POST, prefix=_prefix(episode, "details")),
        lambda f: services.episode_update(episode=episode, actor=request.actor, **f.service_data()),
        success="Episode details saved.", template="web/partials/details_form.html",
    )


@require_POST
@clinical_page()
def episode_pain(request, external_id):
    episode = _episode_or_404(request, external_id)
    return _submit(
        request, episode, forms.PainEntryForm(request.POST, prefix=_prefix(episode, "pain")),
        lambda f: services.pain_entry_record(episode=episode, actor=request.actor, **f.service_data()),
        success="Pain score recorded.", template="web/partials/pain_form.html",
    )


# --- Appointments ---------------------------------------------------------------------------------


@require_POST
@clinical_page()
def appointment_book(request, external_id):
    patient = _patient_or_404(request, external_id)
    open_episodes = [e for e in selectors.patient_episodes(patient=patient) if e.is_open]
    form = forms.AppointmentBookForm(request.POST, prefix="book", episodes=open_episodes)
    if form.is_valid():
        starts_at, ends_at = form.window()
        try:
            services.appointment_book(patient=patient, actor=request.actor, kind=form.cleaned_data["kind"],
                                      starts_at=starts_at, ends_at=ends_at, episode=form.chosen_episode())
            messages.success(request, "Appointment booked.")
            return _after_write(request, patient, "appointments")
        except DomainError as error:
            _domain_error(form, error)
    return _failed(request, patient, form, "book", "web/partials/book_form.html",
                   {"patient": patient, "next": request.POST.get("next", "")})


def _appointment_or_404(request, external_id):
    appointment = selectors.appointment_for(actor=request.actor, external_id=external_id)
    if appointment is None:
        raise Http404
    audit_read(request, f"web.{request.resolver_match.url_name}", appointment.patient.external_id)
    return _in_clinic_time(appointment)


@require_POST
@clinical_page()
def appointment_reschedule(request, external_id):
    appointment = _appointment_or_404(request, external_id)
    prefix = f"reschedule-{appointment.external_id.hex[:12]}"
    form = forms.AppointmentTimeForm(request.POST, prefix=prefix)
    if form.is_valid():
        starts_at, ends_at = form.window()
        try:
            services.appointment_reschedule(appointment=appointment, actor=request.actor, starts_at=starts_at,
                                            ends_at=ends_at)
            messages.success(request, "Appointment moved.")
            return _after_write(request, appointment.patient, "appointments")
        except DomainError as error:
            _domain_error(form, error)
    return _failed(request, appointment.patient, form, prefix, "web/partials/reschedule_form.html",
                   {"appointment": appointment})


@require_POST
@clinical_page()
def appointment_cancel(request, external_id):
    appointment = _appointment_or_404(request, external_id)
    prefix = f"cancel-{appointment.external_id.hex[:12]}"
    form = forms.AppointmentCancelForm(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            services.appointment_cancel(appointment=appointment, actor=request.actor,
                                        reason=form.cleaned_data["reason"])
            messages.success(request, "Appointment cancelled.")
            return _after_write(request, appointment.patient, "appointments")
        except DomainError as error:
            _domain_error(form, error)
    return _failed(request, appointment.patient, form, prefix, "web/partials/cancel_form.html",
                   {"appointment": appointment})


STATUS_CHANGES = {
    "check-in": (services.appointment_check_in, "Checked in."),
    "complete": (services.appointment_complete, "Marked as completed."),
    "no-show": (services.appointment_no_show, "Marked as a no-show."),
}


@require_POST
@clinical_page()
def appointment_status(request, external_id, change: str):
    appointment = _appointment_or_404(request, external_id)
    if change not in STATUS_CHANGES:
        raise Http404
    service, done = STATUS_CHANGES[change]
    try:
        service(appointment=appointment, actor=request.actor)
        messages.success(request, done)
    except (InvalidInput, Conflict, TransitionRefused) as error:
        messages.error(request, " ".join(m for ms in getattr(error, "errors", {}).values() for m in ms)
                       or error.detail)
    return _after_write(request, appointment.patient, "appointments")

