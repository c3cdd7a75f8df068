"""A physician's and a clinic's calendar feed, read as a calendar application reads it (parsed with icalendar):
each appointment once, moved in place when rescheduled, removed when cancelled, nothing outside its window,
no name, MRN or diagnosis, and the token a secret that opens nothing once revoked."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from icalendar import Calendar

from api.models import AuditEvent
from calendars import services
from calendars.models import CalendarFeed
from pathway import services as pathway_services
from pathway.actors import Actor
from pathway.models import Membership
from pathway.stages import AppointmentKind, Role
from tests.factories import AppointmentFactory, EpisodeFactory, PatientFactory, staff

pytestmark = pytest.mark.django_db
CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 3, 5, 9, 0, tzinfo=CHICAGO)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def zoned(clinic):
    clinic.time_zone = "America/Chicago"
    clinic.save()
    return clinic


def feed_of(**owner) -> str:
    creator = owner.get("physician") or staff(owner["clinic"], Role.COORDINATOR)
    _, token = services.calendar_feed_create(actor=Actor.for_user(creator), **owner)
    return f"/calendars/{token}.ics"


def read(url: str) -> tuple[Calendar, str]:
    response = Client().get(url)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content.decode()
    return Calendar.from_ical(body), body


def events_by_uid(calendar: Calendar) -> dict:
    uids = [str(event["UID"]) for event in calendar.events]
    assert len(uids) == len(set(uids)), "an appointment appears twice"
    return {str(event["UID"]): event for event in calendar.events}


def uid(appointment) -> str:
    return f"{appointment.external_id}@drg-pathway.invalid"


def book(patient, *, at: datetime, kind=AppointmentKind.CONSULTATION, episode=None, minutes=30):
    return AppointmentFactory(patient=patient, episode=episode, kind=kind, starts_at=at,
                              ends_at=at + timedelta(minutes=minutes))


def test_a_physicians_feed_has_each_of_their_appointments_once_with_kind_place_and_initials(
    zoned, physician, other_clinic,
):
    episode = EpisodeFactory(patient__clinic=zoned, patient__given_name="Walter", patient__family_name="Quill",
                             physician=physician)
    placement = book(episode.patient, at=NOW + timedelta(days=2), kind=AppointmentKind.TRIAL_LEAD_PLACEMENT,
                     episode=episode, minutes=90)
    # No episode: the patient's primary physician is the appointment's physician (as on the schedule).
    walk_in = book(PatientFactory(clinic=zoned, primary_physician=physician, given_name="ann", family_name="Lee"),
                   at=NOW + timedelta(days=3))
    colleague = staff(zoned, Role.PHYSICIAN, username="drother")
    theirs = book(EpisodeFactory(patient__clinic=zoned, physician=colleague).patient, at=NOW + timedelta(days=2))
    elsewhere = book(PatientFactory(clinic=other_clinic, primary_physician=physician), at=NOW + timedelta(days=2))

    url = feed_of(physician=physician)
    calendar, body = read(url)
    assert read(url)[1] == body  # nothing changed, nothing differs: a calendar sees no spurious update

    events = events_by_uid(calendar)
    assert set(events) == {uid(placement), uid(walk_in)}
    assert uid(theirs) not in body and uid(elsewhere) not in body  # not theirs; a clinic they do not work in
    event = events[uid(placement)]
    assert str(event["SUMMARY"]) == "Trial lead placement · W.Q."
    assert str(events[uid(walk_in)]["SUMMARY"]) == "Consultation · A.L."
    assert str(event["LOCATION"]) == "North Pain Clinic"
    assert event["STATUS"] == "CONFIRMED"
    assert event.start == placement.starts_at and event.end == placement.ends_at
    assert event["DTSTART"].params["TZID"] == "America/Chicago"
    assert [str(tz["TZID"]) for tz in calendar.timezones] == ["America/Chicago"]
    assert "DTSTART;TZID=America/Chicago:20260307T090000" in body
    # The calendar itself: named, the same UID on every read, and asking to be read again hourly.
    feed = CalendarFeed.objects.get()
    assert str(calendar["UID"]) == f"feed-{feed.external_id}@drg-pathway.invalid"
    assert calendar.calendar_name == "DRG pathway · Paula Hysician"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in body and "X-PUBLISHED-TTL:PT1H" in body


def test_a_clinic_on_utc_gives_utc_times(clinic, physician):
    clinic.time_zone = "UTC"
    clinic.save()
    appointment = book(EpisodeFactory(patient__clinic=clinic, physician=physician).patient, at=NOW)
    calendar, body = read(feed_of(clinic=clinic))
    (event,) = calendar.events
    assert event.start == appointment.starts_at and "DTSTART:20260305T150000Z" in body
    assert not calendar.timezones


def test_the_feed_holds_the_last_30_and_next_90_days_only(zoned, physician):
    patient = EpisodeFactory(patient__clinic=zoned, physician=physician).patient
    patient.primary_physician = physician
    patient.save()
    inside = [book(patient, at=NOW - timedelta(days=29)), book(patient, at=NOW + timedelta(days=89))]
    outside = [book(patient, at=NOW - timedelta(days=31)), book(patient, at=NOW + timedelta(days=91))]
    for url in (feed_of(physician=physician), feed_of(clinic=zoned)):
        events = events_by_uid(read(url)[0])
        assert set(events) == {uid(a) for a in inside}
        assert not {uid(a) for a in outside} & set(events)


def test_a_reschedule_moves_the_same_event_with_a_higher_sequence(zoned, physician, coordinator, frozen):
    episode = EpisodeFactory(patient__clinic=zoned, physician=physician)
    appointment = pathway_services.appointment_book(
        patient=episode.patient, actor=Actor.for_user(coordinator), kind=AppointmentKind.TRIAL_CHECK,
        starts_at=NOW + timedelta(days=4), ends_at=NOW + timedelta(days=4, minutes=20), episode=episode)
    url = feed_of(physician=physician)
    before = events_by_uid(read(url)[0])[uid(appointment)]

    frozen.shift(timedelta(hours=2))
    pathway_services.appointment_reschedule(appointment=appointment, actor=Actor.for_user(coordinator),
                                            starts_at=NOW + timedelta(days=6),
                                            ends_at=NOW + timedelta(days=6, minutes=20))
    (after,) = read(url)[0].events

    assert str(after["UID"]) == uid(appointment)
    assert after.start == NOW + timedelta(days=6)
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after["LAST-MODIFIED"].dt > before["LAST-MODIFIED"].dt
    assert after["DTSTAMP"].dt == after["LAST-MODIFIED"].dt == NOW + timedelta(hours=2)


@pytest.mark.parametrize("change", ["cancel", "enter_in_error"])
def test_a_cancelled_appointment_is_marked_so_calendars_remove_it(zoned, physician, coordinator, frozen, change):
    episode = EpisodeFactory(patient__clinic=zoned, physician=physician)
    appointment = book(episode.patient, at=NOW + timedelta(days=1), episode=episode)
    kept = book(episode.patient, at=NOW + timedelta(days=2), episode=episode)
    url = feed_of(clinic=zoned)
    first = events_by_uid(read(url)[0])[uid(appointment)]
    frozen.shift(timedelta(minutes=5))
    actor = Actor.for_user(coordinator)
    if change == "cancel":
        pathway_services.appointment_cancel(appointment=appointment, actor=actor, reason="patient unwell")
    else:
        pathway_services.appointment_enter_in_error(appointment=appointment, actor=actor)

    events = events_by_uid(read(url)[0])
    assert events[uid(appointment)]["STATUS"] == "CANCELLED"
    assert int(events[uid(appointment)]["SEQUENCE"]) > int(first["SEQUENCE"])
    assert events[uid(kept)]["STATUS"] == "CONFIRMED"


def test_the_feed_names_no_patient_and_no_diagnosis(zoned, physician):
    episode = EpisodeFactory(patient__clinic=zoned, patient__given_name="Walkthrough",
                             patient__family_name="Quillfeather", patient__mrn="DEMO-WALK", physician=physician,
                             diagnosis="crps_1", icd10_code="G90.521", diagnosis_other="burning after surgery")
    book(episode.patient, at=NOW + timedelta(days=1), episode=episode, kind=AppointmentKind.IMPLANT_SURGERY)
    for url in (feed_of(physician=physician), feed_of(clinic=zoned)):
        _, body = read(url)
        assert "W.Q." in body
        for secret in ("Walkthrough", "Quillfeather", "DEMO-WALK", "G90.521", "CRPS", "burning",
                       str(episode.patient.external_id), episode.patient.phone or "+1555", "1961"):
            assert secret not in body, secret


def test_a_clinic_feed_shows_its_clinic_only(zoned, other_clinic, physician):
    ours = book(EpisodeFactory(patient__clinic=zoned, physician=physician).patient, at=NOW + timedelta(days=1))
    theirs = book(PatientFactory(clinic=other_clinic), at=NOW + timedelta(days=1))
    events = events_by_uid(read(feed_of(clinic=zoned))[0])
    assert set(events) == {uid(ours)}
    assert set(events_by_uid(read(feed_of(clinic=other_clinic))[0])) == {uid(theirs)}


def test_a_revoked_or_unknown_token_opens_nothing(zoned, physician):
    url = feed_of(physician=physician)
    feed = CalendarFeed.objects.get()
    services.calendar_feed_revoke(actor=Actor.for_user(physician), feed=feed)
    assert Client().get(url).status_code == 404
    assert Client().get("/calendars/not-a-token-at-all-but-long-enough.ics").status_code == 404
    assert Client().get(url.replace(".ics", "x.ics")).status_code == 404


def test_a_new_link_replaces_the_old_one(zoned, physician):
    old = feed_of(physician=physician)
    new = feed_of(physician=physician)
    assert Client().get(old).status_code == 404
    assert Client().get(new).status_code == 200
    assert CalendarFeed.objects.filter(physician=physician, revoked_at__isnull=True).count() == 1


@pytest.mark.parametrize("gone", ["role changed", "account deactivated"])
def test_a_physician_who_is_no_longer_one_has_no_feed(zoned, physician, gone):
    url = feed_of(physician=physician)
    if gone == "role changed":
        Membership.objects.filter(user=physician).update(role=Role.COORDINATOR)
    else:
        physician.is_active = False
        physician.save()
    assert Client().get(url).status_code == 404


def test_only_the_token_hash_is_stored(zoned, physician):
    url = feed_of(physician=physician)
    token = url.removeprefix("/calendars/").removesuffix(".ics")
    feed = CalendarFeed.objects.get()
    assert len(token) >= 43 and feed.token_hash == services.token_hash(token) and token not in feed.token_hash


def test_a_feed_read_is_audited_with_its_patients_and_without_its_token(zoned, physician):
    episodes = [EpisodeFactory(patient__clinic=zoned, physician=physician) for _ in range(2)]
    for episode in episodes:
        book(episode.patient, at=NOW + timedelta(days=1), episode=episode)
    url = feed_of(physician=physician)
    token = url.removeprefix("/calendars/").removesuffix(".ics")
    read(url)
    feed = CalendarFeed.objects.get()
    row = AuditEvent.objects.get(action="calendars.feed")
    assert row.patient_ids == sorted(str(e.patient.external_id) for e in episodes)
    assert row.path == "/calendars/[token].ics" and row.status_code == 200
    assert row.actor_label == "calendar feed of Paula Hysician" and row.detail == f"feed {feed.external_id}"
    assert feed.last_used_at == NOW

    Client().get("/calendars/guessed-token-guessed-token.ics")
    denied = AuditEvent.objects.get(action="calendars.feed.denied")
    assert denied.status_code == 404 and denied.path == "/calendars/[token].ics" and denied.patient_ids == []
    assert not AuditEvent.objects.filter(path__contains=token).exists()


def feed_with(clinic, physician, n: int) -> str:
    for _ in range(n):
        episode = EpisodeFactory(patient__clinic=clinic, physician=physician)
        book(episode.patient, at=NOW + timedelta(days=1), episode=episode)
        book(PatientFactory(clinic=clinic, primary_physician=physician), at=NOW - timedelta(days=2))
    return feed_of(physician=physician)


# The feed (physician), the physician's memberships, the appointments with clinic and patient joined, the
# last-used update and the audit row: 5, however many appointments; a clinic feed has no memberships to read.
@pytest.mark.parametrize("n", [1, 10])
@pytest.mark.parametrize(("owner", "queries"), [("physician", 5), ("clinic", 4)])
def test_a_feed_costs_the_same_queries_whatever_it_holds(zoned, physician, n, owner, queries,
                                                         django_assert_num_queries):
    url = feed_with(zoned, physician, n)
    if owner == "clinic":
        url = feed_of(clinic=zoned)
    with django_assert_num_queries(queries):
        response = Client().get(url)
    assert len(Calendar.from_ical(response.content).events) == 2 * n
