"""Who may open which page. Coordinators and physicians work here; front desk staff work through the
scheduling system (API keys), so a front-desk sign-in gets a page saying so and nothing clinical."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode, urlparse

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render, resolve_url
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from pathway.actors import Actor
from pathway.clinic_time import clinic_zone
from pathway.stages import Role

from . import selectors


def _login_required(view):
    """Django's login_required, except that an htmx request whose session has expired reloads the whole
    window on the sign-in page instead of swapping the sign-in form into a fragment."""
    protected = login_required(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.htmx and not request.user.is_authenticated:
            current = urlparse(request.htmx.current_url or "").path or request.path
            return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': current})}")
        return protected(request, *args, **kwargs)

    return wrapper


def clinical_page(*roles: str):
    """Signed in with a clinical role (one of `roles` if given); sets request.actor, web_role and clinics."""

    def decorate(view):
        @wraps(view)
        @_login_required
        def wrapper(request, *args, **kwargs):
            actor = Actor.for_user(request.user)
            role = selectors.web_role(actor)
            if role is None:
                front_desk = Role.FRONT_DESK in actor.roles.values()
                return render(request, "web/no_access.html", {"front_desk": front_desk}, status=403)
            if roles and role not in roles:
                return render(request, "web/wrong_role.html", {"role": Role(role).label}, status=403)
            request.actor, request.web_role = actor, role
            request.clinics = list(selectors.clinics_for(actor=actor))
            # Times are shown, and typed, in the clinic's zone (DOMAIN.md: stored in UTC, shown locally).
            timezone.activate(clinic_zone(request.clinics[0]))
            try:
                return view(request, *args, **kwargs)
            finally:
                timezone.deactivate()

        return wrapper

    return decorate


def report_page(view):
    """Signed in as a coordinator, physician or clinic administrator: the clinic reports hold counts, not
    patients, so a clinic's administrator reads them too. Sets request.actor, web_role and report_clinics."""
    from outcomes.reports import report_clinics_for

    @wraps(view)
    @_login_required
    def wrapper(request, *args, **kwargs):
        actor = Actor.for_user(request.user)
        clinics = list(report_clinics_for(actor=actor))
        if not clinics:
            front_desk = Role.FRONT_DESK in actor.roles.values()
            return render(request, "web/no_access.html", {"front_desk": front_desk}, status=403)
        request.actor, request.report_clinics = actor, clinics
        request.web_role = selectors.web_role(actor) or Role.ADMIN
        timezone.activate(clinic_zone(clinics[0]))
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapper
