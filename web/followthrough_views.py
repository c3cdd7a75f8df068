"""The inbox of patients' SMS replies that need a person, and the trial diary's "send today's link again".

Thin views as in web/views.py: scoped reads through web.followthrough_selectors and web.selectors, writes
through notifications.services, every read of patient data audited.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from api.audit import audit_read
from notifications import services as notification_services
from pathway.errors import Conflict, DomainError, InvalidInput

from . import followthrough_selectors as selectors
from .access import clinical_page
from .forms import attach_errors
from .views import _episode_or_404


class HandleForm(forms.Form):
    note = forms.CharField(label="What was done", max_length=500, widget=forms.TextInput(attrs={
        "autocomplete": "off"}), help_text="For example: called back, moved the appointment to Friday.")


class ReplyForm(forms.Form):
    template = forms.ChoiceField(label="Reply with", choices=())
    request_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [("", "Choose a reply…"), *selectors.reply_choices()]


class DiaryResendForm(forms.Form):
    request_key = forms.UUIDField(widget=forms.HiddenInput)


def _forms_for(message, bound: dict | None = None) -> None:
    bound = bound or {}
    key = message.external_id.hex[:12]
    message.handle_form = bound.get(f"handle-{key}") or HandleForm(prefix=f"handle-{key}")
    message.reply_form = bound.get(f"reply-{key}") or ReplyForm(prefix=f"reply-{key}", initial={
        "request_key": uuid.uuid4()})


def _render_inbox(request, bound: dict | None = None, status: int = 200):
    inbox = selectors.inbox(clinics=request.clinics)
    audit_read(request, "web.inbox",
               *(m.patient.external_id for m in (*inbox.open, *inbox.handled) if m.patient is not None))
    for message in inbox.open:
        _forms_for(message, bound)
    # A form whose message left the list meanwhile (someone else handled it) still says why it failed.
    shown = {f"{kind}-{m.external_id.hex[:12]}" for m in inbox.open for kind in ("handle", "reply")}
    orphans = [e for prefix, form in (bound or {}).items() if prefix not in shown
               for errors in form.errors.values() for e in errors]
    return render(request, "web/inbox.html", {"inbox": inbox, "orphan_errors": orphans, "page": "inbox",
                                                    "handled_days": selectors.HANDLED_SHOWN_DAYS},
                  status=status)


@require_GET
@clinical_page()
def inbox(request):
    return _render_inbox(request)


def _message_or_404(request, external_id):
    message = selectors.inbound_message_for(clinics=request.clinics, external_id=external_id)
    if message is None:
        raise Http404
    audit_read(request, f"web.{request.resolver_match.url_name}",
               *([message.patient.external_id] if message.patient else []))
    return message


def _back_to_inbox(request):
    url = reverse("web:inbox")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _error_on(form, error: DomainError) -> None:
    if isinstance(error, InvalidInput):
        attach_errors(form, error)
    else:
        form.add_error(None, error.detail)


def _failed(request, form, status: int = 422):
    return _render_inbox(request, bound={form.prefix: form}, status=status)


@require_POST
@clinical_page()
def inbox_handle(request, external_id):
    message = _message_or_404(request, external_id)
    form = HandleForm(request.POST, prefix=f"handle-{message.external_id.hex[:12]}")
    if form.is_valid():
        try:
            notification_services.inbound_message_handle(message=message, actor=request.actor,
                                                         note=form.cleaned_data["note"])
            messages.success(request, "Marked handled: it has left the inbox and the worklist.")
            return _back_to_inbox(request)
        except Conflict as error:
            form.add_error(None, f"{error.detail} Nothing was changed.")
            return _failed(request, form, status=409)
        except DomainError as error:
            _error_on(form, error)
    return _failed(request, form)


@require_POST
@clinical_page()
def inbox_reply(request, external_id):
    message = _message_or_404(request, external_id)
    form = ReplyForm(request.POST, prefix=f"reply-{message.external_id.hex[:12]}")
    if form.is_valid():
        try:
            reply, created = notification_services.inbound_reply_queue(
                message=message, actor=request.actor, template=form.cleaned_data["template"],
                request_key=form.cleaned_data["request_key"],
            )
            when = timezone.localtime(reply.scheduled_for)
            messages.success(request, f"Reply queued to go out at {when:%H:%M}{'' if created else ' (already queued)'}"
                                      f"{'' if when.date() == timezone.localdate() else f' on {when:%d %b}'}.")
            return _back_to_inbox(request)
        except DomainError as error:
            _error_on(form, error)
    return _failed(request, form)


@require_POST
@clinical_page()
def diary_resend(request, external_id):
    """From a board card or the patient page; back to where it was pressed."""
    episode = _episode_or_404(request, external_id)
    form = DiaryResendForm(request.POST)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = ""
    target = target or reverse("web:patient", args=[episode.patient.external_id]) + f"#episode-{episode.external_id}"
    if not form.is_valid():
        messages.error(request, "The form was incomplete: reload the page and press the button again.")
    else:
        try:
            _, created = notification_services.diary_link_resend(
                episode=episode, actor=request.actor, request_key=form.cleaned_data["request_key"])
            messages.success(request, f"{episode.patient.full_name}: today's diary link "
                                      f"{'is being sent now' if created else 'is already on its way'}.")
        except DomainError as error:
            detail = (" ".join(m for ms in error.errors.values() for m in ms) if isinstance(error, InvalidInput)
                      else error.detail)
            messages.error(request, f"{episode.patient.full_name}: the diary link was not sent. {detail}")
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
