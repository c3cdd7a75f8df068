"""In Debian's chromium: a patient's SMS answered and handled from the inbox, a trial diary followed up from the
board, and a board of over a hundred cards a column filtered from its URL; axe-core on each page."""

from __future__ import annotations

import urllib.parse
import urllib.request
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.http import QueryDict

from notifications import services as notification_services
from notifications.channels import sms
from notifications.models import InboundMessage, Reminder
from notifications.views import twilio_signature
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, advance_to, staff
from tests.mfa import authenticator
from tests.web.accessibility import assert_accessible
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    _second_factor,
    assert_every_control_labelled,
    browser,
    page,
    shot,
    sign_in,
)
from tests.web.test_queries import crowded_board

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHICAGO = ZoneInfo("America/Chicago")
TOKEN = "browser-test-token"


@pytest.fixture(autouse=True)
def sms_settings(settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "SMS_BACKEND": "in-memory", "TWILIO_AUTH_TOKEN": TOKEN,
                              "TWILIO_WEBHOOK_URL": ""}
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def thursday_noon():
    """Quiet hours decide what may be sent, so the clock is set (and runs on) from a Thursday noon in Chicago."""
    with time_machine.travel(datetime(2026, 3, 5, 12, 0, tzinfo=CHICAGO), tick=True) as traveller:
        yield traveller


def twilio_posts(base: str, *, sid: str, sender: str, body: str) -> None:
    """The patient's text arrives as Twilio sends it: a signed form POST to the live server's webhook."""
    url = base + "/sms/inbound/"
    data = {"MessageSid": sid, "From": sender, "To": "+15550100100", "Body": body, "AccountSid": "AC0"}
    params = QueryDict(mutable=True)
    params.update(data)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST", headers={
        "X-Twilio-Signature": twilio_signature(url, params, TOKEN),
        "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def send_due() -> list[str]:
    return [notification_services.reminder_send(reminder_id=c.reminder_id, claim=c.token)
            for c in notification_services.reminders_claim_due()]


def test_an_sms_reply_is_answered_and_handled_from_the_inbox(page, live_server, thursday_noon):  # noqa: F811
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="inbox", name="Riverside Pain Clinic", phone="+15550100100")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora", first_name="Cora", last_name="Reyes")
    authenticator(coordinator)
    patient = PatientFactory(clinic=clinic, family_name="Texter", given_name="Tess", phone="+15557654321",
                             sms_consent=True, preferred_channel="sms")
    base = live_server.url
    twilio_posts(base, sid="SM0001", sender=patient.phone, body="Can I come an hour later on Friday?")
    twilio_posts(base, sid="SM0002", sender=patient.phone, body="STOP")  # handled on arrival, never listed
    message = InboundMessage.objects.get(provider_message_id="SM0001")

    sign_in(page, base, "cora")
    expect(page.get_by_role("heading", name="Today's worklist")).to_be_visible()
    expect(page.locator("section", has_text="Patient messages needing a person")).to_contain_text("Friday?")
    page.get_by_role("link", name="Inbox 1 waiting").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    item = page.locator(f"#message-{message.external_id}")
    expect(item).to_contain_text("Texter, Tess")
    expect(item).to_contain_text("Can I come an hour later on Friday?")
    expect(page.locator(".inbound")).to_have_count(1)
    assert_every_control_labelled(page)
    assert_accessible(page, "inbox")
    shot(page, "inbox.png")

    # STOP revoked SMS consent a moment later; consent comes back at the desk, then the reply goes.
    item.get_by_label("Reply with").select_option(label="Please call us")
    item.get_by_role("button", name="Send reply").click()
    expect(page.locator(f"#message-{message.external_id} .form-errors")).to_contain_text("no SMS consent on file")
    patient.refresh_from_db()
    patient.sms_consent = True
    patient.save()
    item = page.locator(f"#message-{message.external_id}")
    item.get_by_label("Reply with").select_option(label="Please call us")
    item.get_by_role("button", name="Send reply").click()
    expect(page.locator(".messages")).to_contain_text("Reply queued")
    expect(page.locator(f"#message-{message.external_id} .replies")).to_contain_text("Reply “Please call us” · Pending")
    reply = Reminder.objects.get(reply_to=message)
    assert (reply.purpose, reply.channel, reply.template, reply.requested_by) == ("reply", "sms", "call_us",
                                                                                 coordinator)
    assert send_due() == ["sent"] and send_due() == []
    assert [m.text for m in sms.outbox] == [
        "Riverside Pain Clinic: please call us at +15550100100 about your message. Reply STOP to opt out."]

    item = page.locator(f"#message-{message.external_id}")
    item.get_by_label("What was done").fill("Called back: Friday moved to 11:00")
    item.get_by_label("What was done").press("Enter")
    expect(page.locator(".messages")).to_contain_text("Marked handled")
    expect(page.get_by_text("No patient message is waiting.")).to_be_visible()
    expect(page.get_by_role("link", name="Inbox", exact=True)).to_be_visible()  # no count left in the header
    handled = page.locator("section", has_text="Handled in the last 7 days")
    expect(handled).to_contain_text("by cora: “Called back: Friday moved to 11:00”")
    expect(handled).to_contain_text("Reply “Please call us” · Sent")
    assert_accessible(page, "inbox, handled")
    message.refresh_from_db()
    assert (message.handled_by, message.handled_note) == (coordinator, "Called back: Friday moved to 11:00")
    page.get_by_role("link", name="Worklist").click()
    expect(page.get_by_text("No patient message is waiting.")).to_be_visible()


def test_diary_adherence_on_the_board_and_a_resend_that_a_double_click_sends_once(
    page, live_server, thursday_noon  # noqa: F811
):
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="diary", name="Riverside Pain Clinic")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", last_name="Hart")
    authenticator(coordinator)
    thursday_noon.move_to(datetime(2026, 3, 2, 9, 0, tzinfo=CHICAGO))
    episode = advance_to(EpisodeFactory(
        patient__clinic=clinic, patient__family_name="Diarist", patient__given_name="Dana",
        patient__sms_consent=True, patient__diary_consent=True, patient__preferred_channel="sms",
        physician=physician), "trial")
    for day in (2, 3):
        thursday_noon.move_to(datetime(2026, 3, day, 19, 0, tzinfo=CHICAGO))
        notification_services.diary_entry_save(episode=episode, day=date(2026, 3, day), nrs=4)
    thursday_noon.move_to(datetime(2026, 3, 5, 12, 0, tzinfo=CHICAGO))
    base = live_server.url

    sign_in(page, base, "cora")
    page.goto(base + "/board/?stage=trial")
    card = page.locator(".card", has_text="Diarist, Dana")
    expect(card).to_contain_text("Diary: 2 of 3 days (67 %) · last entry Tue 03 Mar")
    assert_accessible(page, "board, trial diary")
    card.get_by_role("button", name="Send today's link now: Dana Diarist").dblclick()
    expect(page.locator(".messages")).to_contain_text("Dana Diarist: today's diary link")
    assert page.url == base + "/board/?stage=trial"
    assert Reminder.objects.filter(episode=episode, for_date=date(2026, 3, 5)).count() == 1
    assert send_due() == ["sent"] and len(sms.outbox) == 1

    page.reload()
    card = page.locator(".card", has_text="Diarist, Dana")
    expect(card).to_contain_text("link sent today 12:")
    card.get_by_role("button", name="Send today's link again: Dana Diarist").click()
    expect(page.locator(".messages")).to_contain_text("is being sent now")
    assert send_due() == ["sent"] and len(sms.outbox) == 2

    page.goto(base + f"/patients/{episode.patient.external_id}/")
    expect(page.get_by_role("heading", name="Trial diary")).to_be_visible()
    expect(page.locator(".diary")).to_contain_text("2 of 3 days (67 %)")
    assert_accessible(page, "patient page, trial diary")


def test_a_board_of_over_a_hundred_cards_a_column_filters_from_its_url(page, live_server):  # noqa: F811
    from playwright.sync_api import expect

    clinic = ClinicFactory(slug="crowd", name="Riverside Pain Clinic")
    coordinator = staff(clinic, Role.COORDINATOR, username="cora")
    physician = staff(clinic, Role.PHYSICIAN, username="drphys", first_name="Paula", last_name="Hart")
    authenticator(coordinator)
    crowded_board(clinic, physician, coordinator, 104)
    base = live_server.url

    sign_in(page, base, "cora")
    page.goto(base + "/board/")
    expect(page.get_by_role("heading", name="Trial 104")).to_be_visible()
    expect(page.locator(".card")).to_have_count(5 * 25)
    assert_accessible(page, "board, 104 a column")
    shot(page, "board-crowded.png", full_page=False)

    page.get_by_label("Stage").select_option(label="Trial")
    page.get_by_label("Flag").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the Filter button, by keyboard
    expect(page).to_have_url(base + "/board/?physician=&stage=trial&flag=")
    expect(page.get_by_role("heading", name="Trial 104")).to_be_visible()
    expect(page.get_by_role("heading", name="Evaluation")).to_have_count(0)
    page.get_by_role("button", name="Show more in Trial (25 of 104 shown)").click()
    expect(page.locator(".card")).to_have_count(50)

    page.goto(base + "/board/?physician=drphys&stage=trial")  # a bookmark
    expect(page.get_by_label("Stage")).to_have_value("trial")
    expect(page.get_by_label("Physician")).to_have_value("drphys")
    page.set_viewport_size({"width": 820, "height": 1180})
    expect(page.get_by_label("Patient name or MRN")).to_be_in_viewport()
    assert_accessible(page, "board, filtered, tablet")
