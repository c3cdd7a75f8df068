"""Intake pages: a new referral, a patient's demographics, contact details and consents, spine referrals.

Thin like web.views: read through scoped selectors, write through pathway.services (the API's own), and
give a failed form back in its page with what was typed (422), nothing written.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from api.audit import audit_read
from api.consents import consent_stamps, record_consent_changes
from pathway import selectors as pathway_selectors
from pathway import services
from pathway.clinic_time import clinic_today
from pathway.errors import AlreadyExists, Conflict, DomainError

from . import intake_forms, intake_selectors, selectors
from .access import clinical_page
from .forms import attach_errors
from .views import _episode_or_404, _patient_or_404


def _domain_error(form, error: DomainError) -> None:
    if hasattr(error, "errors"):
        attach_errors(form, error)
    else:
        form.add_error(None, error.detail)


# --- New referral ---------------------------------------------------------------------------------


def _referral_form(request, data=None):
    return intake_forms.NewReferralForm(
        data, clinics=request.clinics, today_of=clinic_today,
        physicians=selectors.physicians_for(actor=request.actor),
        coordinators=intake_selectors.coordinators_for(actor=request.actor),
        initial=None if data else {
            "referral_date": clinic_today(request.clinics[0]),
            "coordinator": request.user.get_username() if request.web_role == "coordinator" else "",
        },
    )


@require_http_methods(["GET", "POST"])
@clinical_page()
def new_referral(request):
    """Creates the patient, or finds the one already on file, and opens an episode in evaluation."""
    if request.method == "GET":
        return _render_referral(request, _referral_form(request))
    form = _referral_form(request, request.POST)
    if not form.is_valid():
        return _render_referral(request, form, status=422)
    clinic = form.chosen_clinic()
    episode_fields = form.episode_data()
    try:
        if chosen := form.cleaned_data["existing"]:
            external_id, open_seen = chosen
            patient = selectors.patient_for(actor=request.actor, external_id=external_id)
            if patient is None or patient.clinic_id != clinic.pk:
                form.add_error(None, "That patient is not in this clinic; search again.")
                return _render_referral(request, form, status=422)
            audit_read(request, "web.new_referral", patient.external_id)
            episode = services.episode_create_for_referral(
                patient=patient, actor=request.actor, open_episodes_seen=open_seen, **episode_fields)
        else:
            matches = _duplicates(request, form, clinic)
            blocking = [m for m in matches if m.same_mrn] or ([] if form.cleaned_data["confirm_new"] else matches)
            if blocking:
                return _render_referral(request, form, matches=matches)
            with transaction.atomic():
                patient = services.patient_create(clinic=clinic, actor=request.actor, **form.patient_data())
                record_consent_changes(before=consent_stamps(None), after=patient, actor=request.actor,
                                       request_id=request.request_id)
                episode = services.episode_create(patient=patient, actor=request.actor, **episode_fields)
            audit_read(request, "web.new_referral", patient.external_id)
    except AlreadyExists:
        # The MRN was taken meanwhile (the same form sent twice, or a colleague): show who has it.
        return _render_referral(request, form, matches=_duplicates(request, form, clinic))
    except Conflict as error:
        form.add_error(None, error.detail)
        return _render_referral(request, form, status=409)
    except DomainError as error:
        _domain_error(form, error)
        return _render_referral(request, form, status=422)
    messages.success(request, f"Referral saved: {patient.full_name} is on the board in "
                              f"{episode.get_stage_display()}, with the candidacy checklist to work through.")
    return redirect(reverse("web:patient", args=[patient.external_id]) + f"#episode-{episode.external_id}")


def _duplicates(request, form, clinic) -> list:
    data = form.cleaned_data
    matches = pathway_selectors.patient_duplicates_for(
        actor=request.actor, clinic_id=clinic.pk, mrn=data["mrn"], given_name=data["given_name"],
        family_name=data["family_name"], birth_date=data["birth_date"],
    )
    audit_read(request, "web.new_referral", *(m.external_id for m in matches))
    return matches


def _render_referral(request, form, *, matches=(), status: int = 200):
    return render(request, "web/intake/new_referral.html", {
        "form": form, "matches": matches, "mrn_taken": any(m.same_mrn for m in matches), "page": "new_referral",
    }, status=status)


# --- Demographics, contact details and consents ---------------------------------------------------


def _patient_form(request, patient, data=None):
    return intake_forms.PatientEditForm(
        data, patient=patient, today=clinic_today(patient.clinic),
        physicians=intake_selectors.physicians_of(clinic=patient.clinic),
        initial=intake_forms.PatientEditForm.initial_for(patient),
    )


@require_http_methods(["GET", "POST"])
@clinical_page()
def patient_edit(request, external_id):
    patient = _patient_or_404(request, external_id)
    if request.method == "GET":
        return _render_patient_edit(request, patient, _patient_form(request, patient))
    form = _patient_form(request, patient, request.POST)
    if not form.is_valid() or form.stale:
        if form.stale:
            return _stale_edit(request, patient, STALE)
        return _render_patient_edit(request, patient, form, status=422)
    before = consent_stamps(patient)
    try:
        with transaction.atomic():
            patient = services.patient_update(patient=patient, actor=request.actor,
                                              unchanged_since=form.cleaned_data["seen"], **form.service_data())
            record_consent_changes(before=before, after=patient, actor=request.actor, request_id=request.request_id)
    except Conflict as error:
        return _stale_edit(request, patient, error.detail)
    except DomainError as error:
        _domain_error(form, error)
        return _render_patient_edit(request, patient, form, status=422)
    messages.success(request, "Patient details saved.")
    return redirect("web:patient", patient.external_id)


STALE = "Someone else changed this patient's record while you were editing it; nothing was saved."


def _stale_edit(request, patient, detail: str):
    """What was typed stays on the form, stamped with the newer record, so that saving again is deliberate."""
    patient.refresh_from_db()
    data = request.POST.copy()
    data["seen"] = patient.updated_at.isoformat()
    form = _patient_form(request, patient, data)
    form.is_valid()
    form.add_error(None, f"{detail} The record as it is now is shown beside the form: check your changes and "
                         "save again.")
    return _render_patient_edit(request, patient, form, status=409, stale=True)


def _render_patient_edit(request, patient, form, *, status: int = 200, stale: bool = False):
    return render(request, "web/intake/patient_edit.html", {
        "patient": patient, "form": form, "stale": stale,
        "consent_changes": intake_selectors.consent_changes(patient=patient), "page": "patients",
    }, status=status)


# --- Spine referrals ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@clinical_page()
def episode_referrals(request, external_id):
    """The episode's spine-finding referrals, each with its outcome; a POST adds one."""
    episode = _episode_or_404(request, external_id)
    form = intake_forms.SpineReferralForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.referral_add(episode=episode, actor=request.actor, **form.cleaned_data)
                messages.success(request, "Referral added.")
                return redirect(reverse("web:patient", args=[episode.patient.external_id])
                                + f"#referrals-{episode.external_id}")
            except DomainError as error:
                _domain_error(form, error)
        return _render_referrals(request, episode, add_form=form, status=422)
    return _render_referrals(request, episode, add_form=form)


@require_POST
@clinical_page()
def referral_outcome(request, external_id, referral_id):
    episode = _episode_or_404(request, external_id)
    referral = intake_selectors.referral_of(episode=episode, external_id=referral_id)
    if referral is None:
        raise Http404
    form = intake_forms.ReferralOutcomeForm(request.POST, prefix=f"outcome-{referral.external_id.hex[:12]}")
    if form.is_valid():
        try:
            services.referral_record_outcome(referral=referral, actor=request.actor,
                                             outcome=form.cleaned_data["outcome"],
                                             note=form.cleaned_data["outcome_note"])
            messages.success(request, f"{referral.get_finding_display()}: outcome saved.")
            return redirect(reverse("web:patient", args=[episode.patient.external_id])
                            + f"#referrals-{episode.external_id}")
        except DomainError as error:
            _domain_error(form, error)
    return _render_referrals(request, episode, bound={referral.pk: form}, status=422)


def _render_referrals(request, episode, *, add_form=None, bound=None, status: int = 200):
    bound = bound or {}
    referrals = intake_selectors.episode_referrals(episode=episode)
    for referral in referrals:
        referral.outcome_form = bound.get(referral.pk) or intake_forms.ReferralOutcomeForm(
            prefix=f"outcome-{referral.external_id.hex[:12]}",
            initial={"outcome": referral.outcome, "outcome_note": referral.outcome_note},
        )
    return render(request, "web/intake/referrals.html", {
        "episode": episode, "patient": episode.patient, "referrals": referrals,
        "add_form": add_form or intake_forms.SpineReferralForm(), "page": "patients",
    }, status=status)
