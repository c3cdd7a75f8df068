"""Every page costs the same number of queries whether the clinic has a handful of patients or many.

Each page starts with the session, the user, the user's memberships and clinics (4 queries) and ends by
saving the session (its idle clock restarts: a savepoint, an update, a release).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pathway import services
from pathway.actors import Actor
from pathway.models import Episode
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


# 4 to start, 3 to save the session, 1 for the audit row naming the patients shown, and between them
# (a card prefetch runs only for the kinds of card shown:
# checklists for evaluation, pain scores for trial and review, milestones for follow-up):
#   worklist: 3 lists of episodes + 2 card prefetches (no follow-up card: follow-up has no time limit)
#             + overdue milestones (and its own read of the clinics) + unconfirmed appointments
#             + failed reminders + inbound messages = 10
#   board: counts + 5 columns + 3 card prefetches + physicians for the filter = 10
#   caseload: its own read of the clinics (pathway.selectors.caseload_for) + episodes + 3 card prefetches = 5
#   patient: patient + episodes + 4 prefetches + appointments + reminders = 8
#   trial summary: episode + pain entries + history = 3 (the audit row is the 1 above)
#   reports: (its clinics are the 4's) the physicians to filter by + outcomes.reports' 12 + its own audit row
#            (it names no patient) = 14, whatever the range
@pytest.mark.parametrize("n", [2, 8])
@pytest.mark.parametrize(("who", "url", "queries"), [
    ("coordinator", "/", 18),
    ("coordinator", "/worklist/", 18),
    ("coordinator", "/board/", 18),
    ("physician", "/caseload/", 13),
    ("coordinator", "patient", 16),
    ("coordinator", "summary", 11),
    ("coordinator", "/reports/", 21),
])
def test_page_queries_do_not_grow_with_the_clinic(
    n, who, url, queries, clinic, physician, coordinator, coordinator_client, physician_client,
    django_assert_num_queries,
):
    populate(clinic, physician, coordinator, n)
    episode = patient_with_history(clinic, physician, coordinator, n * 2)
    if url == "patient":
        url = f"/patients/{episode.patient.external_id}/"
    if url == "summary":
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
