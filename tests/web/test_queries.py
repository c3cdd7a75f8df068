"""Every page costs the same number of queries whether the clinic has a handful of patients or many.

Each page starts with the session, the user, the user's memberships and clinics (4 queries) and ends by
saving the session (its idle clock restarts: a savepoint, an update, a release).
"""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calendars.services import calendar_feed_create
from outcomes.models import OutcomeQuestionnaire
from pathway import services
from pathway.actors import Actor
from pathway.clinic_time import clinic_today, local_date
from pathway.models import Appointment, Episode
from tests.factories import AppointmentFactory, EpisodeFactory, PainEntryFactory, advance_to

pytestmark = pytest.mark.django_db


def populate(clinic, physician, coordinator, n: int) -> None:
    """n episodes in each open stage, half of them stalled, a third on hold, each with an appointment tomorrow."""
    actor = Actor.for_user(coordinator)
    for i in range(n):
        for stage in ("evaluation", "trial", "trial_review", "implant", "follow_up"):
            episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), stage)
            if i % 2:
                Episode.objects.filter(pk=episode.pk).update(stage_entered_at=timezone.now() - timedelta(days=70))
            if i % 3 == 0:
                services.episode_hold(episode=episode, actor=actor, reason="insurance appeal")
            AppointmentFactory(patient=episode.patient, starts_at=timezone.now() + timedelta(days=1))
            if stage == "follow_up":  # reminded long ago and never answered: on the worklist
                OutcomeQuestionnaire.objects.create(milestone=episode.milestones.get(key="month_3"),
                                                    sent_at=timezone.now() - timedelta(days=30),
                                                    reminded_at=timezone.now() - timedelta(days=20))


def patient_with_history(clinic, physician, coordinator, n: int) -> Episode:
    """A patient with n trial scores and n appointments (each with its reminders) and a second episode."""
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "trial_review")
    for _ in range(n):
        PainEntryFactory(episode=episode, nrs=4, phase="trial")
        services.appointment_book(patient=episode.patient, actor=Actor.for_user(coordinator), kind="trial_check",
                                  starts_at=timezone.now() + timedelta(days=3),
                                  ends_at=timezone.now() + timedelta(days=3, minutes=20), episode=episode)
    EpisodeFactory(patient=episode.patient, physician=physician)
    return episode


# 4 to start, 1 for the inbox count in the header, 3 to save the session, 1 for the audit row naming the
# patients shown, and between them (a card prefetch runs only for the kinds of card shown:
# checklists for evaluation, pain scores for trial and review, milestones for follow-up; trial cards add
# today's diary messages):
#   worklist: 3 lists of episodes + 2 card prefetches (no follow-up card: follow-up has no time limit)
#             + overdue milestones (and its own read of the clinics) + unconfirmed appointments
#             + failed reminders + inbound messages + authorizations needing a chase
#             + unanswered follow-up questionnaires = 12
#   board: counts + 5 columns + 3 card prefetches + diary messages + physicians for the filter = 11
#   caseload: its own read of the clinics (pathway.selectors.caseload_for) + episodes + 3 card prefetches
#             + diary messages = 6
#   patient: patient + episodes + 6 prefetches (spine referrals and authorizations among them) + the
#            authorizations' status changes + appointments + reminders = 11
#   trial summary: episode + pain entries + authorizations + history = 4 (the audit row is the 1 above)
#   reports: (its clinics are the 4's) the physicians to filter by + outcomes.reports' 13 (with the
#            questionnaire response) + its own audit row (it names no patient) = 15, whatever the range
#   schedule (day or week): physicians for the filter + appointments + one aggregate of their reminders = 3
@pytest.mark.parametrize("n", [2, 8])
@pytest.mark.parametrize(("who", "url", "queries"), [
    ("coordinator", "/", 21),
    ("coordinator", "/worklist/", 21),
    ("coordinator", "/board/", 20),
    ("physician", "/caseload/", 15),
    ("coordinator", "patient", 20),
    ("coordinator", "schedule|populated", 12),
    ("coordinator", "schedule_week|populated", 12),
    ("physician", "schedule|own", 12),
    ("coordinator", "summary", 12),
    ("coordinator", "/reports/", 22),
])
def test_page_queries_do_not_grow_with_the_clinic(
    n, who, url, queries, clinic, physician, coordinator, coordinator_client, physician_client,
    django_assert_num_queries,
):
    populate(clinic, physician, coordinator, n)
    episode = patient_with_history(clinic, physician, coordinator, n * 2)
    if url == "patient":
        url = f"/patients/{episode.patient.external_id}/"
    elif url.startswith("schedule"):
        # The day of populate()'s appointments (one per patient, no episode), or of patient_with_history's
        # (booked on the episode, so the physician's own: what a physician's schedule shows by default).
        view, which = url.split("|")
        shown = Appointment.objects.filter(episode__isnull=which == "populated").order_by("starts_at").first()
        url = f"/{view.replace('_', '/')}/?date={local_date(clinic, shown.starts_at).isoformat()}"
    elif url == "summary":
        url = f"/episodes/{episode.external_id}/trial-summary/"
    client = physician_client if who == "physician" else coordinator_client
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("url", ["/worklist/", "/board/", "/caseload/", "/board/evaluation/?page=2"])
def test_lists_cut_at_their_limit_cost_the_same(url, clinic, physician, coordinator, physician_client, settings):
    settings.WEB_LIST_LIMIT = settings.WEB_BOARD_CARDS_PER_COLUMN = 1

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert physician_client.get(url).status_code == 200
        return len(captured)

    populate(clinic, physician, coordinator, 3)
    before = queries()
    populate(clinic, physician, coordinator, 5)
    assert queries() == before


def inbox_with(clinic, coordinator, n: int) -> None:
    """n messages waiting, each answered once, and n handled ones, each answered once too."""
    from notifications import services as notification_services
    from tests.factories import PatientFactory

    actor = Actor.for_user(coordinator)
    for i in range(2 * n):
        patient = PatientFactory(clinic=clinic, sms_consent=True)
        message = notification_services.inbound_sms_receive(
            provider_message_id=f"SM{clinic.pk}-{i}-{n}", from_phone=patient.phone, to_phone=clinic.phone,
            body="Can I come later?",
        )
        notification_services.inbound_reply_queue(message=message, actor=actor, template="call_us",
                                                  request_key=uuid.uuid4())
        if i % 2:
            notification_services.inbound_message_handle(message=message, actor=actor, note="called back")


# The inbox: 4 to start + messages waiting + their replies + handled ones + their replies + the header's count
# + the audit row + 3 to save the session = 13.
@pytest.mark.parametrize("n", [2, 8])
def test_the_inbox_costs_the_same_whatever_is_waiting(n, clinic, coordinator, coordinator_client,
                                                      django_assert_num_queries):
    inbox_with(clinic, coordinator, n)
    with django_assert_num_queries(13):
        response = coordinator_client.get("/inbox/")
    assert response.status_code == 200
    assert response.content.decode().count('class="inbound"') == n


def crowded_board(clinic, physician, coordinator, per_column: int) -> None:
    """`per_column` episodes in every open stage, with trial diaries. Walking each through the services would
    take minutes at 100+ a column, so one episode per stage is advanced and the rest are copies of its shape."""
    from pathway.models import PainEntry

    for stage in ("evaluation", "trial", "trial_review", "implant", "follow_up"):
        model = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), stage)
        copies = EpisodeFactory.create_batch(per_column - 1, patient__clinic=clinic, physician=physician,
                                             patient__sms_consent=True, patient__diary_consent=True)
        Episode.objects.filter(pk__in=[e.pk for e in copies]).update(
            stage=model.stage, trial_lead_placement_date=model.trial_lead_placement_date,
            trial_expected_end=model.trial_expected_end, stage_entered_at=model.stage_entered_at,
        )
        if stage == "trial":
            PainEntry.objects.bulk_create(
                PainEntry(episode=e, nrs=4, phase="trial", source="patient_link", recorded_at=timezone.now())
                for e in copies
            )


@pytest.mark.parametrize("query", ["", "?stage=trial", "?flag=stalled", "?physician=drphys&flag=on_hold"])
def test_a_board_of_over_a_hundred_cards_a_column_costs_what_a_small_one_does(
    query, clinic, physician, coordinator, coordinator_client
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = coordinator_client.get("/board/" + query)
        assert response.status_code == 200
        return len(captured)

    crowded_board(clinic, physician, coordinator, 2)
    small = queries()
    crowded_board(clinic, physician, coordinator, 104)
    assert queries() == small
    if not query:
        page = coordinator_client.get("/board/").content.decode()
        assert page.count('class="card card-compact') == 5 * 25  # one page: the first 25 of each column
        assert "Show more in Trial (25 of 106 shown)" in page  # 2 + 104


def intake_history(clinic, physician, coordinator, n: int) -> Episode:
    """A patient with n consent changes and n spine referrals, and n namesakes born the same day."""
    from pathway.models import Patient

    actor = Actor.for_user(coordinator)
    episode = EpisodeFactory(patient__clinic=clinic, patient__mrn="DUP-1", patient__given_name="Ines",
                             patient__family_name="Quintero", physician=physician)
    for i in range(n):
        services.referral_add(episode=episode, actor=actor, finding="stenosis", referred_to=f"Dr {i}")
        EpisodeFactory(patient__clinic=clinic, patient__given_name="Ines", patient__family_name="Quintero",
                       patient__birth_date=episode.patient.birth_date, physician=physician)
    patient = episode.patient
    for i in range(n):
        patient = services.patient_update(patient=Patient.objects.get(pk=patient.pk), actor=actor,
                                          sms_consent=i % 2 == 0, sms_consent_method="verbal")
        from api.consents import record_consent_changes

        record_consent_changes(before={"sms": None, "email": None, "diary": None}, after=patient, actor=actor,
                               request_id=f"seed-{i}")
    return episode


# The intake pages, after the 4 queries to start (and the header's inbox count) and before the 3 to save the
# session:
#   new referral: physicians + coordinators for the form = 2
#   duplicate warning (POST): those 2 + the matches with their open episodes counted + the audit row = 4
#   patient edit: patient + its clinic's physicians + the latest consent changes + the audit row = 4
#   spine referrals: episode + its referrals + the audit row = 3
@pytest.mark.parametrize("n", [2, 8])
@pytest.mark.parametrize(("page", "queries"), [
    ("new_referral", 10), ("duplicate_warning", 12), ("patient_edit", 12), ("episode_referrals", 11),
])
def test_intake_pages_cost_the_same_whatever_the_history(
    n, page, queries, clinic, physician, coordinator, coordinator_client, django_assert_num_queries,
):
    populate(clinic, physician, coordinator, n)
    episode = intake_history(clinic, physician, coordinator, n)
    patient = episode.patient
    if page == "duplicate_warning":
        data = {"clinic": clinic.slug, "mrn": "NEW-1", "given_name": "Ines", "family_name": "Quintero",
                "birth_date": patient.birth_date.isoformat(), "preferred_channel": "sms", "physician": "drphys",
                "referral_date": clinic_today(clinic).isoformat()}
        with django_assert_num_queries(queries):
            response = coordinator_client.post("/patients/new/", data)
        assert "This may be a patient already on file" in response.content.decode()
        return
    url = {"new_referral": "/patients/new/", "patient_edit": f"/patients/{patient.external_id}/edit/",
           "episode_referrals": f"/episodes/{episode.external_id}/referrals/"}[page]
    with django_assert_num_queries(queries):
        response = coordinator_client.get(url)
    assert response.status_code == 200


# The calendar feed page, after the 4 queries to start and the header's inbox count and before the 3 to save the
# session: the physician's own feeds, or the coordinator's clinics' feeds = 1, however many were made and revoked.
@pytest.mark.parametrize("n", [1, 6])
@pytest.mark.parametrize("who", ["physician", "coordinator"])
def test_the_calendar_feed_page_costs_the_same_whatever_was_made(
    n, who, clinic, physician, coordinator, coordinator_client, physician_client, django_assert_num_queries,
):
    for _ in range(n):
        if who == "physician":
            calendar_feed_create(actor=Actor.for_user(physician), physician=physician)
        else:
            calendar_feed_create(actor=Actor.for_user(coordinator), clinic=clinic)
    client = physician_client if who == "physician" else coordinator_client
    with django_assert_num_queries(9):
        response = client.get("/calendar-feeds/")
    assert response.status_code == 200 and response.content.decode().count("Revoked ") == min(n, 5) - 1
