"""The schedule: a day and a week of one clinic's appointments, check-in from the list, and booking from an
empty slot (find the patient first, then the patient's booking form with the slot's time filled in).

Filters (date, physician, kind, clinic) travel in the query string so a view can be bookmarked; none of them is
patient data. A physician sees their own appointments until they choose another physician or all.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms as django_forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from api.audit import audit_read
from pathway.clinic_time import clinic_today, clinic_zone
from pathway.errors import Conflict, InvalidInput, TransitionRefused
from pathway.stages import AppointmentKind, Role

from . import forms, schedule_selectors, selectors
from .access import clinical_page
from .views import STATUS_CHANGES


class ScheduleFilterForm(django_forms.Form):
    date = forms.WindowedDateField(label="Date", required=False, widget=forms.DateInput,
                                   input_formats=["%Y-%m-%d"])
    physician = django_forms.ChoiceField(label="Physician", required=False)
    kind = django_forms.ChoiceField(label="Kind", required=False,
                                    choices=[("", "All kinds"), *AppointmentKind.choices])
    clinic = django_forms.ChoiceField(label="Clinic", required=False)

    def __init__(self, data, *, physicians, clinics):
        super().__init__(data)
        self.physicians = {p.get_username(): p for p in physicians}
        self.clinics = {c.slug: c for c in clinics}
        self.fields["physician"].choices = [("", "All physicians"), *(
            (username, p.get_full_name() or username) for username, p in self.physicians.items())]
        self.fields["clinic"].choices = [(c.slug, c.name) for c in clinics]


def _filters(request):
    """The bound filter form, with a physician's own name chosen when the URL does not say."""
    data = request.GET.copy()
    if "physician" not in data and request.web_role == Role.PHYSICIAN:
        data["physician"] = request.user.get_username()
    if not data.get("date"):
        # Today in the chosen clinic, shown in the date field too (an unknown clinic is refused below).
        chosen = next((c for c in request.clinics if c.slug == data.get("clinic")), request.clinics[0])
        data["date"] = clinic_today(chosen).isoformat()
    physicians = list(selectors.physicians_for(actor=request.actor))
    form = ScheduleFilterForm(data, physicians=physicians, clinics=request.clinics)
    if not form.is_valid():
        return form, None
    clinic = form.clinics.get(form.cleaned_data["clinic"]) or request.clinics[0]
    return form, {
        "clinic": clinic,
        "date": form.cleaned_data["date"],
        "physician": form.physicians.get(form.cleaned_data["physician"]),
        "kind": form.cleaned_data["kind"],
    }


def _query(chosen: dict, day: date, **extra) -> str:
    params = {"date": day.isoformat(), "physician": chosen["physician"].get_username() if chosen["physician"] else "",
              "kind": chosen["kind"], "clinic": chosen["clinic"].slug, **extra}
    return urlencode(params)


def _render(request, view: str, first: date, days: int, chosen: dict, form, step: timedelta, label: str):
    clinic = chosen["clinic"]
    timezone.activate(clinic_zone(clinic))
    schedule = schedule_selectors.schedule_days(
        actor=request.actor, clinic=clinic, first=first, days=days, physician=chosen["physician"],
        kind=chosen["kind"])
    audit_read(request, f"web.schedule_{view}",
               *(e.appointment.patient.external_id for day in schedule for e in day.entries))
    day = chosen["date"]
    here = reverse(f"web:schedule{'' if view == 'day' else '_week'}")
    context = {
        "page": "schedule", "view": view, "form": form, "chosen": chosen, "clinic": clinic, "label": label,
        "days": schedule, "today": clinic_today(clinic), "slot_minutes": schedule_selectors.Hours.from_settings().slot,
        "here": f"{here}?{_query(chosen, day)}",
        "previous": f"{here}?{_query(chosen, day - step)}",
        "next": f"{here}?{_query(chosen, day + step)}",
        "to_today": f"{here}?{_query(chosen, clinic_today(clinic))}",
        "day_url": f"{reverse('web:schedule')}?{_query(chosen, day)}",
        "week_url": f"{reverse('web:schedule_week')}?{_query(chosen, day)}",
        "kind_label": AppointmentKind(chosen["kind"]).label if chosen["kind"] else "",
        "show_clinic": len(request.clinics) > 1,
    }
    for shown in schedule:
        shown.url = f"{reverse('web:schedule')}?{_query(chosen, shown.date)}"
    if view == "week":
        # A closed day with nothing booked takes no column.
        context["days"] = [d for d in schedule if d.slots]
        context["rows"] = _week_rows(context["days"])
    return render(request, f"web/schedule_{view}.html", context)


def _week_rows(days: list[schedule_selectors.Day]) -> list[tuple[str, list]]:
    """The week as a table: one row per slot time any day has, one cell per day (None where it has no slot)."""
    by_minute = {}
    for index, day in enumerate(days):
        for slot in day.slots:
            by_minute.setdefault(slot.minute, [None] * len(days))[index] = slot
    return [(f"{minute // 60:02d}:{minute % 60:02d}", cells) for minute, cells in sorted(by_minute.items())]


def _invalid(request, view: str, form):
    return render(request, f"web/schedule_{view}.html", {"page": "schedule", "view": view, "form": form,
                                                         "show_clinic": len(request.clinics) > 1}, status=400)


@require_GET
@clinical_page()
def schedule_day(request):
    form, chosen = _filters(request)
    if chosen is None:
        return _invalid(request, "day", form)
    day = chosen["date"]
    return _render(request, "day", day, 1, chosen, form, timedelta(days=1), f"{day:%A %-d %B %Y}")


@require_GET
@clinical_page()
def schedule_week(request):
    form, chosen = _filters(request)
    if chosen is None:
        return _invalid(request, "week", form)
    monday = chosen["date"] - timedelta(days=chosen["date"].weekday())
    sunday = monday + timedelta(days=6)
    label = f"Week of {monday:%-d %B} – {sunday:%-d %B %Y}"
    return _render(request, "week", monday, 7, chosen, form, timedelta(days=7), label)


# --- Check-in from the list ---------------------------------------------------------------------------------


def _back(request, appointment) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    day = appointment.starts_at.astimezone(clinic_zone(appointment.clinic)).date()
    return f"{reverse('web:schedule')}?{urlencode({'date': day.isoformat(), 'clinic': appointment.clinic.slug})}"


@require_POST
@clinical_page()
def schedule_appointment_status(request, external_id, change: str):
    """The same status change as the patient page (pathway.services through web.views.STATUS_CHANGES); htmx
    gets the appointment's entry back in place, with what happened beside it."""
    appointment = selectors.appointment_for(actor=request.actor, external_id=external_id)
    if appointment is None or change not in STATUS_CHANGES:
        raise Http404
    audit_read(request, "web.schedule_appointment_status", appointment.patient.external_id)
    timezone.activate(clinic_zone(appointment.clinic))
    service, done = STATUS_CHANGES[change]
    note, failed = done, False
    try:
        service(appointment=appointment, actor=request.actor)
    except (InvalidInput, Conflict, TransitionRefused) as error:
        note = " ".join(m for ms in getattr(error, "errors", {}).values() for m in ms) or error.detail
        failed = True
    if not request.htmx:
        (messages.error if failed else messages.success)(request, f"{appointment.patient.full_name}: {note}")
        return redirect(_back(request, appointment))
    entry = schedule_selectors.schedule_entry(actor=request.actor, appointment=appointment)
    # A refusal (already checked in by someone else, cancelled meanwhile) is 422, which the pages' htmx config
    # swaps like a form given back: the entry as it now stands, with the reason beside it.
    return render(request, "web/partials/schedule_entry.html", {
        "entry": entry, "note": note, "note_failed": failed, "back": request.POST.get("next", ""),
    }, status=422 if failed else 200)


# --- Booking from an empty slot -----------------------------------------------------------------------------


class SlotForm(django_forms.Form):
    """The slot an empty-slot link names: a clinic-local start, a length and optionally a kind."""

    starts = forms.WindowedDateTimeField(input_formats=["%Y-%m-%dT%H:%M"])
    minutes = django_forms.IntegerField(min_value=5, max_value=600)
    kind = django_forms.ChoiceField(required=False, choices=[("", ""), *AppointmentKind.choices])
    clinic = django_forms.SlugField(required=False)
    q = django_forms.CharField(required=False, max_length=200)


def _slot(request):
    form = SlotForm(request.GET)
    if not form.is_valid():
        detail = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return None, render(request, "web/schedule_book.html", {"page": "schedule", "invalid": detail},
                            status=400)
    return form.cleaned_data, None


def _slot_query(slot: dict, **extra) -> str:
    return urlencode({"starts": timezone.localtime(slot["starts"]).strftime("%Y-%m-%dT%H:%M"),
                      "minutes": slot["minutes"], "kind": slot["kind"], "clinic": slot["clinic"], **extra})


def _in_clinic_of(request, slug: str):
    clinic = next((c for c in request.clinics if c.slug == slug), request.clinics[0])
    timezone.activate(clinic_zone(clinic))
    return clinic


@require_GET
@clinical_page()
def schedule_book(request):
    """Step one of booking a slot: find the patient (a GET search, like the patients page)."""
    _in_clinic_of(request, request.GET.get("clinic", ""))
    slot, refused = _slot(request)
    if refused:
        return refused
    query = slot["q"].strip()
    results = selectors.patient_search(actor=request.actor, query=query)
    audit_read(request, "web.schedule_book", *(p.external_id for p in results))
    return render(request, "web/schedule_book.html", {
        "page": "schedule", "slot": slot, "q": query, "searched": bool(query), "results": results,
        "slot_query": _slot_query(slot),
    })


@require_GET
@clinical_page()
def schedule_book_patient(request, external_id):
    """Step two: the patient's booking form (posting to web:appointment_book) with the slot filled in; it comes
    back to the schedule's day once booked."""
    patient = selectors.patient_for(actor=request.actor, external_id=external_id)
    if patient is None:
        raise Http404
    audit_read(request, "web.schedule_book_patient", patient.external_id)
    timezone.activate(clinic_zone(patient.clinic))
    slot, refused = _slot(request)
    if refused:
        return refused
    episodes = schedule_selectors.open_episodes_of(actor=request.actor, patient=patient)
    starts = timezone.localtime(slot["starts"]).replace(tzinfo=None)
    form = forms.AppointmentBookForm(prefix="book", episodes=episodes, initial={
        "kind": slot["kind"] or AppointmentKind.CONSULTATION, "starts_at": starts, "minutes": slot["minutes"],
        # One open episode is almost always the one the visit belongs to.
        "episode": str(episodes[0].external_id) if len(episodes) == 1 else "",
    })
    back = f"{reverse('web:schedule')}?{urlencode({'date': starts.date().isoformat(), 'clinic': patient.clinic.slug})}"
    return render(request, "web/schedule_book_patient.html", {
        "page": "schedule", "patient": patient, "form": form, "next": back, "open": True, "starts": starts,
        "search_url": f"{reverse('web:schedule_book')}?{_slot_query(slot)}",
    })
