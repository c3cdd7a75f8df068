"""Prior authorizations on the patient page: a section per episode, an add form and an edit form per record.

Same shape as the checklist forms in web.views: htmx posts the form and gets the fragment back with its errors
(422, or 409 when someone else changed the status meanwhile); success reloads the page. Writes go through
pathway.services.authorization_create / authorization_update, as the API's do.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.views.decorators.http import require_POST

from api.audit import audit_read
from pathway import services
from pathway.errors import Conflict, DomainError

from . import forms, selectors
from .access import clinical_page
from .views import _after_write, _domain_error, _episode_or_404, _failed, _in_clinic_time, _prefix

ADD = "authorization-add"


def authorization_prefix(authorization) -> str:
    return f"authorization-{authorization.external_id.hex[:12]}"


def authorization_forms(episode, bound: dict) -> dict:
    """What the episode's section shows: each authorization with its edit form, and the add form (open episodes
    only: an ended episode does not change). A bound form that failed is put back in its place."""
    rows = []
    for authorization in episode.authorizations.all():
        edit = None
        if episode.is_open:
            prefix = authorization_prefix(authorization)
            edit = bound.pop(prefix, None) or forms.AuthorizationForm(authorization=authorization, prefix=prefix)
        rows.append((authorization, edit))
    add = None
    if episode.is_open:
        add = bound.pop(_prefix(episode, ADD), None) or forms.AuthorizationForm(prefix=_prefix(episode, ADD))
    return {"authorizations": rows, "authorization_add": add}


@require_POST
@clinical_page()
def authorization_add(request, external_id):
    episode = _episode_or_404(request, external_id)
    form = forms.AuthorizationForm(request.POST, prefix=_prefix(episode, ADD))
    if form.is_valid():
        try:
            data = form.service_data()
            services.authorization_create(episode=episode, actor=request.actor, **data)
            messages.success(request, "Authorization recorded.")
            return _after_write(request, episode.patient, f"authorizations-{episode.external_id}")
        except DomainError as error:
            _domain_error(form, error)
    return _failed(request, episode.patient, form, form.prefix, "web/partials/authorization_add.html",
                   {"episode": episode})


@require_POST
@clinical_page()
def authorization_edit(request, external_id):
    authorization = selectors.authorization_for(actor=request.actor, external_id=external_id)
    if authorization is None:
        raise Http404
    audit_read(request, "web.authorization_edit", authorization.episode.patient.external_id)
    _in_clinic_time(authorization.episode)
    prefix = authorization_prefix(authorization)
    form = forms.AuthorizationForm(request.POST, authorization=authorization, prefix=prefix)
    status = 422
    # Checked before the fields: the status choices offered now are those of the status someone else set.
    if request.POST.get(f"{prefix}-seen_status", "") not in ("", authorization.status):
        form = forms.AuthorizationForm(authorization=authorization, prefix=prefix)
        form.full_clean()  # unbound: no field errors, but it can carry the one above it
        form.cleaned_data = {}
        form.add_error(None, f"Someone else changed this authorization to {authorization.get_status_display()} "
                             "while you were looking at it; nothing was changed. Here it is as it is now.")
        status = 409
    elif form.is_valid():
        try:
            data = form.service_data()
            if data:
                services.authorization_update(authorization=authorization, actor=request.actor, **data)
            messages.success(request, "Authorization saved." if data else "Nothing changed.")
            return _after_write(request, authorization.episode.patient,
                                f"authorizations-{authorization.episode.external_id}")
        except Conflict as error:
            form.add_error(None, error.detail)
            status = 409
        except DomainError as error:
            _domain_error(form, error)
    return _failed(request, authorization.episode.patient, form, prefix, "web/partials/authorization_row.html",
                   {"authorization": authorization, "episode": authorization.episode}, status=status)
