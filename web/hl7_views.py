"""The coordinator's list of HL7 messages the feed kept (needs attention, unresolved) for their clinics.

The list shows what the admin's list shows (when, type, control id, reason) and the patient only where the
message was matched to one of the coordinator's patients; retry re-runs the mapping (hl7_feed.services),
resolve records a note. Every page naming a patient is audited.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from api.audit import audit_read
from hl7_feed import services
from hl7_feed.models import InboundHL7Message, MessageStatus
from pathway.stages import Role

from .access import clinical_page


class NoteForm(forms.Form):
    note = forms.CharField(label="Note", max_length=500, widget=forms.TextInput(attrs={"autocomplete": "off"}))


def _open_messages(request):
    clinics = request.actor.clinic_ids_for(Role.COORDINATOR)
    return InboundHL7Message.objects.filter(
        clinic_id__in=clinics, status=MessageStatus.NEEDS_ATTENTION, resolved_at__isnull=True,
    ).select_related("patient", "clinic").only(
        "id", "received_at", "message_type", "control_id", "reason", "clinic__name", "patient__external_id",
        "patient__given_name", "patient__family_name", "patient__mrn").order_by("received_at", "id")


def _render(request, form=None, failed_pk=None, status=200):
    rows = list(_open_messages(request))
    audit_read(request, "web.hl7_messages", *(m.patient.external_id for m in rows if m.patient is not None))
    context = {"rows": rows, "page": "hl7", "form": form or NoteForm(), "blank_form": NoteForm(),
               "failed_pk": failed_pk}
    return render(request, "web/hl7_messages.html", context, status=status)


@require_GET
@clinical_page(Role.COORDINATOR)
def hl7_messages(request):
    return _render(request)


def _message_or_404(request, pk):
    record = _open_messages(request).filter(pk=pk).first()
    if record is None:
        raise Http404
    return record


@require_POST
@clinical_page(Role.COORDINATOR)
def hl7_message_retry(request, pk):
    record = _message_or_404(request, pk)
    done = services.inbound_message_retry(record=record, note=f"Applied on retry by {request.user.get_username()}.")
    if done.status == MessageStatus.APPLIED:
        messages.success(request, f"{done.message_type} {done.control_id} applied; it has left the list.")
    else:
        messages.error(request, f"{done.message_type} {done.control_id} still not applied: {done.reason}")
    return redirect("web:hl7_messages")


@require_POST
@clinical_page(Role.COORDINATOR)
def hl7_message_resolve(request, pk):
    record = _message_or_404(request, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _render(request, form=form, failed_pk=record.pk, status=422)
    services.inbound_message_resolve(
        record=record, note=f"{form.cleaned_data['note']} ({request.user.get_username()})")
    messages.success(request, f"{record.message_type} {record.control_id} marked resolved.")
    return redirect("web:hl7_messages")
