"""episodes/: the front desk sees stage, hold and next action; clinical roles see and do the rest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from pathway.clinic_time import clinic_today
from pathway.models import Episode, PainEntry, TransitionLog
from pathway.stages import Role, Stage
from tests.api.conftest import key_client, problem, queries_of
from tests.factories import EpisodeFactory, PainEntryFactory, PatientFactory, advance_to, complete_checklist

CLINICAL_WORDS = ("diagnosis", "icd10", "G90", "relief", "pain_areas", "nrs")


def url(episode, tail=""):
    return f"/api/v1/episodes/{episode.external_id}/{tail}"


@pytest.mark.parametrize("stage", ["evaluation", "trial_failed", "explanted"])
def test_front_desk_sees_open_or_closed_and_the_hold_but_no_stage(desk, coord, episode, stage):
    """Scheduling needs open or closed; the stage's endings would tell the front desk a trial's outcome."""
    advance_to(episode, stage)
    body = desk.get(url(episode)).json()
    assert body["status"] == ("open" if stage == "evaluation" else "closed") and body["on_hold"] is False
    assert {k: body[k] for k in ("stage", "stage_entered_at", "days_in_stage", "stalled", "next_action",
                                 "clinical")} == dict.fromkeys(("stage", "stage_entered_at", "days_in_stage",
                                                                "stalled", "next_action", "clinical"))
    text = str(body)
    assert not any(word in text for word in CLINICAL_WORDS), text
    assert stage not in text and "trial" not in text
    listed = desk.get("/api/v1/episodes/").json()["results"]
    assert listed[0]["stage"] is None and listed[0]["clinical"] is None
    assert coord.get(url(episode)).json()["stage"] == stage


def test_front_desk_filters_by_status_not_by_stage(desk, episode, clinic, physician):
    closed = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "trial_failed")
    assert [e["id"] for e in desk.get("/api/v1/episodes/?status=closed").json()["results"]] == [
        str(closed.external_id)]
    assert [e["id"] for e in desk.get("/api/v1/episodes/?status=open").json()["results"]] == [
        str(episode.external_id)]
    for query in ("stage=trial_failed", "stalled=true"):
        problem(desk.get(f"/api/v1/episodes/?{query}"), 403, "forbidden")


def test_clinical_roles_see_the_clinical_side(coord, doc, episode):
    for client in (coord, doc):
        clinical = client.get(url(episode)).json()["clinical"]
        assert clinical["diagnosis"] == "crps_1" and clinical["icd10_code"] == "G90.521"
        assert clinical["relief"]["unavailable_reason"] == "no baseline pain score recorded"


def test_front_desk_may_not_read_or_write_pain_entries_or_the_checklist(desk, episode):
    problem(desk.get(url(episode, "pain-entries/")), 403, "forbidden")
    problem(desk.post(url(episode, "pain-entries/"), {"nrs": 5, "phase": "baseline"}, format="json"), 403)
    problem(desk.get(url(episode, "checklist/")), 403, "forbidden")
    problem(desk.post(url(episode, "checklist/"), {"kind": "imaging", "status": "met"}, format="json"), 403)
    assert not PainEntry.objects.exists()


def test_front_desk_reads_no_history_and_may_run_nothing(desk, coord, episode):
    coord.post(url(episode, "hold/"), {"reason": "insurance appeal"}, format="json")
    problem(desk.get(url(episode, "transitions/")), 403, "forbidden")
    body = desk.get(url(episode)).json()
    assert body["on_hold"] is True and body["next_action"] is None


@pytest.mark.parametrize("transition", ["withdraw", "start_trial", "decline_candidacy"])
def test_front_desk_runs_no_transition(desk, episode, transition):
    problem(desk.post(url(episode, "transitions/"), {"transition": transition, "reason": "x"}, format="json"),
            403, "forbidden")
    episode.refresh_from_db()
    assert episode.stage == Stage.EVALUATION


def test_front_desk_may_not_open_an_episode(desk, patient, physician):
    problem(desk.post("/api/v1/episodes/", {"patient": str(patient.external_id), "physician": "doc"},
                      format="json"), 403, "forbidden")


def test_coordinator_opens_an_episode(coord, patient, physician):
    response = coord.post("/api/v1/episodes/", {"patient": str(patient.external_id), "physician": "doc",
                                                "diagnosis": "crps_2", "icd10_code": "G90.522"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["stage"] == "evaluation" and body["clinical"]["diagnosis"] == "crps_2"
    assert Episode.objects.get(external_id=body["id"]).checklist_items.count() == 9


def test_stage_cannot_be_set_when_opening(coord, patient, physician):
    body = problem(coord.post("/api/v1/episodes/", {"patient": str(patient.external_id), "physician": "doc",
                                                    "stage": "implant"}, format="json"), 400)
    assert body["errors"] == {"stage": ["This field cannot be set."]}


def test_get_transitions_lists_what_may_run_with_unmet_guards(doc, episode):
    body = doc.get(url(episode, "transitions/")).json()
    names = {t["name"]: t for t in body["available"]}
    assert set(names) == {"start_trial", "decline_candidacy", "withdraw"}
    assert names["start_trial"]["inputs"] == ["trial_lead_placement_date"]
    assert names["withdraw"]["inputs"] == ["reason"]
    assert any("checklist incomplete" in u for u in names["start_trial"]["unmet"])


def test_unmet_guard_is_409_with_stage_allowed_and_unmet(coord, episode):
    body = problem(coord.post(url(episode, "transitions/"), {"transition": "start_trial",
                                                              "trial_lead_placement_date": "2026-12-01"},
                              format="json"), 409, "transition_refused")
    assert body["stage"] == "evaluation"
    assert set(body["allowed_transitions"]) == {"start_trial", "withdraw"}
    assert any("checklist incomplete" in u for u in body["unmet"])


def test_wrong_stage_is_409(coord, episode):
    body = problem(coord.post(url(episode, "transitions/"), {"transition": "end_trial",
                                                              "trial_lead_removal_date": "2026-12-01"},
                              format="json"), 409, "transition_refused")
    assert body["stage"] == "evaluation" and body["unmet"] == []


def test_a_coordinator_may_not_run_a_physician_transition(coord, episode):
    problem(coord.post(url(episode, "transitions/"), {"transition": "decline_candidacy", "reason": "no"},
                       format="json"), 403, "forbidden")


def test_start_trial_through_the_api(coord, episode, physician):
    from pathway.actors import Actor

    complete_checklist(episode, Actor.for_user(physician))
    today = clinic_today(episode.clinic).isoformat()
    response = coord.post(url(episode, "transitions/"), {"transition": "start_trial",
                                                          "trial_lead_placement_date": today}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["episode"]["stage"] == "trial" and body["transition"]["to_stage"] == "trial"
    assert TransitionLog.objects.get(episode=episode).actor_user == coord.user


@pytest.mark.parametrize("name", ["decline_candidacy", "withdraw"])
def test_a_key_makes_no_clinical_decision_but_may_run_a_coordinators_transition(clinic, episode, name):
    """Clinical decisions belong to a named physician: even a key with the physician role is refused them."""
    client = key_client(clinic, Role.PHYSICIAN)
    response = client.post(url(episode, "transitions/"), {"transition": name, "reason": "pain under 6 months"},
                           format="json")
    if name == "decline_candidacy":
        body = problem(response, 403, "forbidden")
        assert "sign in as yourself" in body["detail"]
        assert not TransitionLog.objects.filter(episode=episode).exists()
        episode.refresh_from_db()
        assert episode.stage == "evaluation"
    else:
        assert response.status_code == 200, response.content
        log = TransitionLog.objects.get(episode=episode)
        assert log.actor_api_key_id == client.api_key.pk and log.reason == "pain under 6 months"


def test_transition_input_not_taken_is_400(doc, episode):
    body = problem(doc.post(url(episode, "transitions/"), {"transition": "withdraw", "reason": "moved",
                                                            "implant_date": "2026-01-01"}, format="json"), 400)
    assert "implant_date" in body["errors"]


def test_hold_and_release(coord, episode):
    response = coord.post(url(episode, "hold/"), {"reason": "insurance appeal"}, format="json")
    assert response.status_code == 200 and response.json()["on_hold"] is True
    assert response.json()["clinical"]["hold_reason"] == "insurance appeal"
    problem(coord.post(url(episode, "hold/"), {"reason": "again"}, format="json"), 409, "conflict")
    body = problem(coord.post(url(episode, "transitions/"), {"transition": "withdraw", "reason": "x"},
                              format="json"), 409, "transition_refused")
    assert any("on hold" in u for u in body["unmet"])
    assert coord.post(url(episode, "release/"), {}, format="json").json()["on_hold"] is False
    problem(coord.post(url(episode, "hold/"), {}, format="json"), 400, "invalid")


def test_front_desk_may_not_hold(desk, episode):
    problem(desk.post(url(episode, "hold/"), {"reason": "x"}, format="json"), 403)


def test_checklist_read_and_record(doc, episode):
    items = doc.get(url(episode, "checklist/")).json()
    assert len(items) == 9 and {i["status"] for i in items} == {"pending"}
    response = doc.post(url(episode, "checklist/"), {"kind": "prior_treatments", "status": "met",
                                                      "details": {"tried": ["medications"]}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["recorded_by"] == "doc"
    # Right in itself, refused because no baseline score is on file yet: a conflict with the episode's state.
    body = problem(doc.post(url(episode, "checklist/"), {"kind": "baseline_pain", "status": "met"}, format="json"),
                   409, "transition_refused")
    assert "status" in body["errors"] and body["unmet"] == ["Record a baseline pain score first."]
    assert body["stage"] == "evaluation"


def test_pain_entries(doc, clinic, episode):
    response = doc.post(url(episode, "pain-entries/"), {"nrs": 8, "phase": "baseline", "sleep_quality": 3},
                        format="json")
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "staff"
    client = key_client(clinic, Role.COORDINATOR)
    assert client.post(url(episode, "pain-entries/"), {"nrs": 7, "phase": "baseline"},
                       format="json").json()["source"] == "integration"
    assert [e["nrs"] for e in doc.get(url(episode, "pain-entries/")).json()] == [8, 7]
    problem(doc.post(url(episode, "pain-entries/"), {"nrs": 11, "phase": "baseline"}, format="json"), 400)


def test_filters(coord, clinic, physician):
    held = EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician)
    held.on_hold = True
    held.save()
    old = EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician,
                         stage_entered_at=timezone.now() - timedelta(days=90))
    trial = advance_to(EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician), "trial")

    def ids(query):
        response = coord.get("/api/v1/episodes/" + query)
        assert response.status_code == 200, response.content
        return {e["id"] for e in response.json()["results"]}

    assert ids("?on_hold=true") == {str(held.external_id)}
    assert ids("?stalled=true") == {str(old.external_id)}
    assert ids("?stage=trial") == {str(trial.external_id)}
    assert ids(f"?patient={trial.patient.external_id}") == {str(trial.external_id)}
    assert len(ids("?physician=doc")) == 3 and ids("?physician=nobody") == set()
    problem(coord.get("/api/v1/episodes/?stage=limbo"), 400, "invalid")


def test_another_clinics_episode_is_not_found(coord, other_clinic):
    stranger = EpisodeFactory(patient=PatientFactory(clinic=other_clinic))
    for tail in ("", "transitions/", "checklist/", "pain-entries/"):
        problem(coord.get(url(stranger, tail)), 404, "not_found")
    problem(coord.post(url(stranger, "transitions/"), {"transition": "withdraw", "reason": "x"}, format="json"), 404)
    body = problem(coord.post("/api/v1/episodes/", {"patient": str(stranger.patient.external_id), "physician": "doc"},
                              format="json"), 404, "not_found")
    assert body["errors"] == {"patient": ["No such patient."]}


@pytest.mark.parametrize("who", ["desk", "coord"])
def test_listing_50_costs_the_same_queries_as_listing_1(request, who, clinic, physician, django_assert_num_queries):
    client = request.getfixturevalue(who)
    first = EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician)
    PainEntryFactory(episode=first)
    client.get("/api/v1/episodes/")
    one = queries_of(lambda: client.get("/api/v1/episodes/"))
    for _ in range(49):
        PainEntryFactory(episode=EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician))
    with django_assert_num_queries(one):
        assert len(client.get("/api/v1/episodes/").json()["results"]) == 50


def test_pgic_is_recorded_with_a_follow_up_score_only_and_from_1_to_7(doc, clinic, episode):
    body = problem(doc.post(url(episode, "pain-entries/"), {"nrs": 8, "phase": "baseline", "pgic": 2},
                            format="json"), 400)
    assert "follow-up" in body["errors"]["pgic"][0]
    follow_up = advance_to(EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=episode.physician),
                           "follow_up")
    for bad in (0, 8):
        body = problem(doc.post(url(follow_up, "pain-entries/"), {"nrs": 3, "phase": "follow_up", "pgic": bad},
                                format="json"), 400)
        assert body["errors"]["pgic"] == ["PGIC is 1 (very much improved) to 7 (very much worse)."]
    assert not PainEntry.objects.filter(pgic__isnull=False).exists()
    response = doc.post(url(follow_up, "pain-entries/"), {"nrs": 3, "phase": "follow_up", "pgic": 2,
                                                          "medication_use": "less"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["pgic"] == 2
    assert [e["pgic"] for e in doc.get(url(follow_up, "pain-entries/")).json()][-1] == 2
    assert PainEntry.objects.get(pgic=2).episode == follow_up
