"""caseload/: a physician's open episodes, what needs them first at the top."""

from datetime import timedelta

import pytest
from django.utils import timezone

from pathway.clinic_time import clinic_today
from pathway.stages import Role
from tests.api.conftest import problem, queries_of
from tests.factories import EpisodeFactory, PatientFactory, advance_to, staff


def open_episode(clinic, physician, **kwargs):
    return EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician, **kwargs)


def test_caseload_orders_reviews_then_ending_trials_then_stalled(doc, coord, clinic, physician):
    fresh = open_episode(clinic, physician)
    stalled = open_episode(clinic, physician, stage_entered_at=timezone.now() - timedelta(days=90))
    review = advance_to(open_episode(clinic, physician), "trial_review")
    ending = advance_to(open_episode(clinic, physician), "trial")
    type(ending).objects.filter(pk=ending.pk).update(trial_expected_end=clinic_today(clinic))
    advance_to(open_episode(clinic, physician), "trial")  # ends in a week: among the rest
    elsewhere = open_episode(clinic, staff(clinic, Role.PHYSICIAN, username="doc2"))

    rows = doc.get("/api/v1/caseload/").json()["results"]
    assert [r["id"] for r in rows[:3]] == [str(review.external_id), str(ending.external_id),
                                          str(stalled.external_id)]
    assert [r["needs"] for r in rows[:3]] == ["trial review pending", "trial ending", "stalled"]
    assert rows[2]["stalled"] is True and rows[2]["days_in_stage"] >= 89
    assert str(fresh.external_id) in {r["id"] for r in rows} and len(rows) == 5
    assert str(elsewhere.external_id) not in {r["id"] for r in rows}

    assert [r["id"] for r in coord.get("/api/v1/caseload/?physician=doc2").json()["results"]] == [
        str(elsewhere.external_id)]
    assert len(coord.get("/api/v1/caseload/").json()["results"]) == 6
    problem(coord.get("/api/v1/caseload/?physician=nobody"), 404, "not_found")


def test_ended_episodes_leave_the_caseload(doc, clinic, physician):
    from pathway import services
    from pathway.actors import Actor

    episode = open_episode(clinic, physician)
    services.episode_transition(episode=episode, name="withdraw", actor=Actor.for_user(physician),
                                data={"reason": "moved away"})
    assert doc.get("/api/v1/caseload/").json()["results"] == []


@pytest.mark.parametrize("size", [50])
def test_caseload_of_50_costs_the_same_queries_as_of_1(doc, clinic, physician, size, django_assert_num_queries):
    open_episode(clinic, physician)
    one = queries_of(lambda: doc.get("/api/v1/caseload/"))
    for _ in range(size - 1):
        open_episode(clinic, physician)
    with django_assert_num_queries(one):
        assert len(doc.get("/api/v1/caseload/").json()["results"]) == size


def test_board_and_caseload_count_only_the_callers_clinic(coord, desk, clinic, other_clinic, physician):
    open_episode(clinic, physician)
    stranger = open_episode(other_clinic, staff(other_clinic, Role.PHYSICIAN, username="south-doc"))
    assert desk.get("/api/v1/board/").json()["total"] == 1
    assert str(stranger.external_id) not in {r["id"] for r in coord.get("/api/v1/caseload/").json()["results"]}
    assert coord.get("/api/v1/caseload/?physician=south-doc").json()["results"] == []


def test_caseload_reads_are_audited(doc, clinic, physician):
    from api.models import AuditEvent

    episode = open_episode(clinic, physician)
    doc.get("/api/v1/caseload/")
    event = AuditEvent.objects.get()
    assert event.action == "caseload.get" and event.patient_ids == [str(episode.patient.external_id)]
