"""Sign-in pages: password (for the pages at /login/ and the admin at /admin/login/), then, for staff who need
it, the one-time code or the first enrolment of an authenticator app. The rules live in web/signin.py."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import signals
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from . import signin


class SignInView(LoginView):
    """Django's LoginView (django-axes counts its failures); a user who needs a second factor is not logged in
    yet but sent on to the code step."""

    template_name = "web/login.html"
    redirect_authenticated_user = True
    extra_context = {"idle_minutes": settings.WEB_SESSION_IDLE_MINUTES}

    def form_valid(self, form):
        user = form.get_user()
        if not signin.mfa_required_for(user):
            return super().form_valid(form)
        signin.pending_start(self.request, user=user, redirect_to=self.get_success_url())
        return redirect("web:signin_code" if signin.has_device(user) else "web:signin_enrol")


class AdminSignInView(SignInView):
    """The admin's own login page, with the same counting and the same second step."""

    template_name = "admin/login.html"
    authentication_form = AdminAuthenticationForm
    next_page = "admin:index"
    # As the admin's own view: only someone the admin lets in skips the form (a signed-in front-desk user
    # would otherwise bounce between /admin/ and here).
    redirect_authenticated_user = False

    def get(self, request, *args, **kwargs):
        if admin.site.has_permission(request):
            return redirect(self.get_success_url())
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request), title="Log in", app_path=self.request.get_full_path())
        return context


admin_login = AdminSignInView.as_view()


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=20, strip=True,
        help_text="The 6 digits your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class EnrolForm(CodeForm):
    code = forms.CharField(
        label="Code", max_length=20, strip=True, help_text="The 6 digits the app shows once the key is added.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _code_failed(request, user, form) -> None:
    """A wrong code counts towards the same lockout as a wrong password."""
    form.add_error("code", "That code is not right, or it has already been used. Try the next one.")
    signals.user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)


def _start_over(request):
    return redirect(f"{reverse('web:login')}?expired=1")


def _safe(request, target: str) -> str:
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def signin_code(request):
    user = signin.pending_user(request)
    if user is None:
        return _start_over(request)
    if signin.locked_out(request, user=user):
        return signin.lockout_response(request)
    if not signin.has_device(user):
        return redirect("web:signin_enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = signin.code_matches(user=user, code=form.cleaned_data["code"])
        if device is not None:
            target = _safe(request, signin.pending_next(request))
            signin.pending_finish(request, user=user, device=device)
            return redirect(target)
        _code_failed(request, user, form)
    return render(request, "web/signin_code.html", {"form": form}, status=422 if form.errors else 200)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def signin_enrol(request):
    """First sign-in without an authenticator: show its secret, confirm it with one code, then the recovery codes."""
    user = signin.pending_user(request)
    if user is None:
        return _start_over(request)
    if signin.locked_out(request, user=user):
        return signin.lockout_response(request)
    if signin.has_device(user):
        return redirect("web:signin_code")
    device = signin.enrolment_device(user=user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = signin.enrolment_confirm(user=user, device=device, code=form.cleaned_data["code"])
        if codes is not None:
            target = _safe(request, signin.pending_next(request))
            signin.pending_finish(request, user=user, device=device)
            request.session[signin.RECOVERY_SHOWN_KEY] = {"codes": codes, "next": target}
            return redirect("web:signin_recovery_codes")
        _code_failed(request, user, form)
    context = {
        "form": form,
        "secret": signin.enrolment_secret(device),
        "otpauth_uri": device.config_url,
        "qr_svg": signin.enrolment_qr_svg(device),
    }
    return render(request, "web/signin_enrol.html", context, status=422 if form.errors else 200)


@never_cache
def signin_recovery_codes(request):
    """The recovery codes, once: they leave the session as they are shown."""
    shown = request.session.pop(signin.RECOVERY_SHOWN_KEY, None)
    if shown is None or not request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "web/signin_recovery_codes.html", {"codes": shown["codes"], "next": shown["next"]})
