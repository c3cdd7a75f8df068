"""Two doors with no login: the patient's diary form behind a signed link, and the provider's SMS webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings
from django.core import signing
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from pathway.errors import Conflict, InvalidInput
from pathway.models import Episode
from pathway.stages import Stage

from . import services
from .forms import DiaryForm, QuestionnaireForm
from .messages import read_diary_token, read_questionnaire_token


def _closed(request, title: str, text: str, status: int):
    return render(request, "notifications/diary/closed.html", {"title": title, "text": text}, status=status)


@require_http_methods(["GET", "POST"])
def diary(request, token: str):
    try:
        episode_id, day = read_diary_token(token)
    except signing.SignatureExpired:
        return _closed(request, "This link has expired",
                       "Diary links work for a limited time. Use the link in today's message, or call the clinic.",
                       status=410)
    except (signing.BadSignature, ValueError, KeyError):
        return _closed(request, "This link is not valid",
                       "The link may have been cut short or changed. Use the link exactly as you received it.",
                       status=400)
    episode = Episode.objects.select_related("clinic").filter(external_id=episode_id).first()
    if episode is None or episode.stage != Stage.TRIAL:
        return _closed(request, "The trial diary is closed",
                       "Your trial has ended, so the diary no longer takes entries. Thank you.", status=410)
    form = DiaryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _, created = services.diary_entry_save(
                episode=episode, day=day, nrs=data["nrs"], percent_relief=data["percent_relief"],
                sleep_quality=data["sleep_quality"], activity_limitation=data["activity_limitation"],
                medication_use=data["medication_use"] or None,
            )
        except InvalidInput as error:
            return _closed(request, "Your entry was not saved", error.detail, status=400)
        return render(request, "notifications/diary/thanks.html",
                      {"clinic": episode.clinic, "day": day, "created": created})
    return render(request, "notifications/diary/form.html", {"form": form, "clinic": episode.clinic, "day": day})


@require_http_methods(["GET", "POST"])
def questionnaire(request, token: str):
    """The follow-up questionnaire behind its signed link: answered once; a second answer is refused."""
    from outcomes.models import OutcomeQuestionnaire

    try:
        questionnaire_id = read_questionnaire_token(token)
    except signing.SignatureExpired:
        return _closed(request, "This link has expired",
                       "Questionnaire links work for a limited time. Please call the clinic.", status=410)
    except (signing.BadSignature, ValueError, KeyError):
        return _closed(request, "This link is not valid",
                       "The link may have been cut short or changed. Use the link exactly as you received it.",
                       status=400)
    found = (OutcomeQuestionnaire.objects.select_related("milestone__episode__clinic")
             .filter(external_id=questionnaire_id).first())
    if found is None:
        return _closed(request, "This link is not valid", "Use the link exactly as you received it.", status=400)
    clinic = found.milestone.episode.clinic
    if found.answered_at is not None:
        return _closed(request, "Already answered",
                       "This questionnaire has been answered already. Thank you.", status=409)
    if found.milestone.episode.stage != Stage.FOLLOW_UP:
        return _closed(request, "The questionnaire is closed",
                       "Your follow-up has ended, so the questionnaire no longer takes answers.", status=410)
    form = QuestionnaireForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.questionnaire_answer_save(
                questionnaire_external_id=found.external_id, nrs=data["nrs"], sleep_quality=data["sleep_quality"],
                activity_limitation=data["activity_limitation"], medication_use=data["medication_use"] or None,
                pgic=data["pgic"],
            )
        except Conflict:
            return _closed(request, "Already answered",
                           "This questionnaire has been answered already. Thank you.", status=409)
        except InvalidInput as error:
            return _closed(request, "Your answers were not saved", str(error.detail), status=400)
        return render(request, "notifications/questionnaire/thanks.html", {"clinic": clinic})
    return render(request, "notifications/questionnaire/form.html",
                  {"form": form, "clinic": clinic, "milestone": found.milestone})


def twilio_signature(url: str, params, auth_token: str) -> str:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each parameter name and value,
    sorted by name (a repeated name's distinct values sorted too, as Twilio's own validators do)."""
    payload = url + "".join(
        f"{name}{value}" for name in sorted(set(params)) for value in sorted(set(params.getlist(name)))
    )
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _signature_valid(request) -> bool:
    token = settings.NOTIFICATIONS["TWILIO_AUTH_TOKEN"]
    given = request.headers.get("X-Twilio-Signature", "")
    if not token or not given:
        return False
    url = settings.NOTIFICATIONS["TWILIO_WEBHOOK_URL"] or request.build_absolute_uri()
    return hmac.compare_digest(twilio_signature(url, request.POST, token), given)


# What the stored columns hold (InboundMessage); Twilio's own values are far shorter (a SID is 34 characters).
INBOUND_MAX_LENGTHS = {"MessageSid": 64, "SmsSid": 64, "From": 32, "To": 32, "Body": 1600}


def _inbound_field_problem(params) -> str | None:
    """A signed request can still carry what no provider sends; say which field, before anything is stored.
    (A NUL character is refused for every request by config.middleware.RefuseNulMiddleware.)"""
    for name, limit in INBOUND_MAX_LENGTHS.items():
        if len(params.get(name, "")) > limit:
            return f"{name} is longer than {limit} characters."
    return None


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@csrf_exempt
@require_POST
def sms_inbound(request):
    if not _signature_valid(request):
        return HttpResponseForbidden("Invalid signature.")
    message_sid = request.POST.get("MessageSid") or request.POST.get("SmsSid")
    from_phone = request.POST.get("From", "")
    if not message_sid or not from_phone:
        return HttpResponse("MessageSid and From are required.", status=400)
    if problem := _inbound_field_problem(request.POST):
        return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
    services.inbound_sms_receive(
        provider_message_id=message_sid, from_phone=from_phone, to_phone=request.POST.get("To", ""),
        body=request.POST.get("Body", ""),
    )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
