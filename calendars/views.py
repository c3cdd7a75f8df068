"""The feed a calendar application subscribes to (no sign-in: the token in the link is the credential), one
patient's upcoming appointments as a file, and the page where feeds are made and revoked.

The feed's path holds its token, so what is audited and logged is the path with the token masked
(config.log_redaction.redact). An unknown or revoked token is 404, and audited, so guessing shows up.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST, require_safe

from api.audit import audit_read, audit_record
from config.log_redaction import redact
from pathway.errors import DomainError, NotPermitted
from web import selectors as web_selectors
from web.access import clinical_page

from . import ics, selectors, services

CALENDAR = "text/calendar; charset=utf-8"


@require_safe
def feed(request, token: str):
    path = redact(request.path)
    found = selectors.feed_by_token(token=token)
    if found is None:
        audit_record(request=request, action="calendars.feed.denied", status_code=404, path=path)
        raise Http404
    appointments = list(selectors.feed_appointments(feed=found))
    services.calendar_feed_note_use(feed=found)
    body = ics.calendar_of(appointments, name=f"DRG pathway · {found.owner_label}", uid=f"feed-{found.external_id}")
    audit_record(request=request, action="calendars.feed", status_code=200,
                 patient_ids=[a.patient.external_id for a in appointments],
                 label=f"calendar feed of {found.owner_label}", detail=f"feed {found.external_id}", path=path)
    response = HttpResponse(body, content_type=CALENDAR)
    response["Content-Disposition"] = 'inline; filename="appointments.ics"'
    return response


@require_GET
@clinical_page()
def patient_appointments(request, external_id):
    patient = web_selectors.patient_for(actor=request.actor, external_id=external_id)
    if patient is None:
        raise Http404
    audit_read(request, "web.patient_appointments_ics", patient.external_id)
    appointments = list(selectors.patient_upcoming_appointments(patient=patient))
    body = ics.calendar_of(appointments, name=f"Appointments at {patient.clinic.name}",
                           uid=f"patient-appointments-{patient.external_id}", for_patient=True)
    response = HttpResponse(body, content_type=CALENDAR)
    response["Content-Disposition"] = 'attachment; filename="appointments.ics"'
    return response


def _render_page(request, *, new_link: str = "", new_owner: str = "", error: str = "", status: int = 200):
    context = {
        **selectors.feeds_for(actor=request.actor, clinics=request.clinics),
        "new_link": new_link,
        "new_webcal": new_link.replace("https://", "webcal://", 1).replace("http://", "webcal://", 1),
        "new_owner": new_owner,
        "error": error,
        "page": "calendar_feeds",
    }
    return render(request, "calendars/feeds.html", context, status=status)


@require_GET
@clinical_page()
def feeds_page(request):
    return _render_page(request)


@require_POST
@clinical_page()
def feed_create(request):
    """Makes the owner's new link and shows it, this once (it is in no URL, cookie or message)."""
    owner = request.POST.get("owner", "")
    clinic = None
    if owner != "me":
        clinic = next((c for c in request.clinics if str(c.external_id) == owner), None)
        if clinic is None:
            return _render_page(request, error="Choose whose calendar feed to make.", status=400)
    try:
        found, token = services.calendar_feed_create(
            actor=request.actor, physician=request.user if clinic is None else None, clinic=clinic)
    except NotPermitted:
        raise Http404 from None
    except DomainError as error:
        said = " ".join(m for problems in getattr(error, "errors", {}).values() for m in problems)
        return _render_page(request, error=said or error.detail, status=400)
    link = request.build_absolute_uri(reverse("calendars:feed", args=[token]))
    return _render_page(request, new_link=link, new_owner=found.owner_label, status=201)


@require_POST
@clinical_page()
def feed_revoke(request, external_id):
    found = selectors.feed_for(actor=request.actor, external_id=external_id)
    if found is None:
        raise Http404
    services.calendar_feed_revoke(actor=request.actor, feed=found)
    messages.success(request, f"The calendar link of {found.owner_label} is revoked: it no longer opens.")
    return redirect("calendars:feeds")
