"""Prior authorizations: records of their own, whose status moves are logged, guarding start_trial and
record_implant, and found by the worklist when they wait too long, were denied, or lapse before the procedure."""

from datetime import datetime, time, timedelta

import pytest
from django.db.models import Q

from pathway import selectors, services
from pathway.actors import Actor
from pathway.errors import Conflict, InvalidInput, NotPermitted, StateRefused, TransitionRefused
from pathway.models import AuthorizationStatusChange, ChecklistItem, Episode, PriorAuthorization
from pathway.stages import Stage
from tests.factories import AppointmentFactory, EpisodeFactory, PriorAuthorizationFactory, advance_to

from .conftest import NOW
from .pathway_table import PATHWAY, TODAY, episode_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]

CHICAGO_NOON = time(12, 0)


def doctor_of(episode: Episode) -> Actor:
    return Actor.for_user(episode.physician)


def history(authorization) -> list[tuple[str, str]]:
    return list(AuthorizationStatusChange.objects.filter(authorization=authorization)
                .values_list("from_status", "to_status"))


@pytest.fixture
def bare(clinic):
    """An episode in evaluation with no authorization at all."""
    return EpisodeFactory(patient__clinic=clinic, auth_payer="", auth_number="", auth_valid_from=None,
                          auth_valid_to=None, implant_authorization=False)


# --- The record and its status ----------------------------------------------------------------------


def test_a_draft_goes_to_submitted_then_approved_and_each_move_is_logged(bare, people):
    coordinator = people["coordinator"]
    draft = services.authorization_create(episode=bare, actor=coordinator, step="trial", payer="Example Mutual")
    assert (draft.status, draft.submitted_on) == ("draft", None)
    services.authorization_update(authorization=draft, actor=coordinator, status="submitted")
    assert draft.submitted_on == TODAY  # the day it went out, when none is given
    services.authorization_update(authorization=draft, actor=coordinator, status="approved", number="PA-1",
                                  valid_from=TODAY, valid_to=TODAY + timedelta(days=60), units=1)
    assert history(draft) == [("", "draft"), ("draft", "submitted"), ("submitted", "approved")]
    change = AuthorizationStatusChange.objects.filter(authorization=draft).last()
    assert (change.actor_label, change.at) == ("riverside-coordinator", NOW)


@pytest.mark.parametrize(("start", "target"), [
    ("draft", "approved"), ("approved", "submitted"), ("expired", "approved"), ("denied", "approved"),
])
def test_a_status_goes_only_where_the_table_allows(bare, people, start, target):
    authorization = PriorAuthorizationFactory(episode=bare, status=start)
    with pytest.raises(StateRefused) as refused:
        services.authorization_update(authorization=authorization, actor=people["coordinator"], status=target)
    assert refused.value.allowed == services.authorization_moves_from(start)
    assert PriorAuthorization.objects.get(pk=authorization.pk).status == start


@pytest.mark.parametrize(("fields", "field"), [
    pytest.param({"status": "approved", "payer": "Plan"}, "number", id="approved-without-number"),
    pytest.param({"status": "approved", "payer": "Plan", "number": "A"}, "valid_from", id="approved-without-dates"),
    pytest.param({"status": "submitted"}, "payer", id="submitted-without-payer"),
    pytest.param({"valid_from": TODAY, "valid_to": TODAY - timedelta(days=1)}, "valid_to", id="ends-before-start"),
    pytest.param({"units": -1}, "units", id="negative-units"),
    pytest.param({"status": "granted"}, "status", id="unknown-status"),
])
def test_incomplete_or_wrong_values_are_refused_and_nothing_is_written(bare, people, fields, field):
    with pytest.raises(InvalidInput) as refused:
        services.authorization_create(episode=bare, actor=people["coordinator"], step="trial", **fields)
    assert field in refused.value.errors
    assert not PriorAuthorization.objects.exists() and not AuthorizationStatusChange.objects.exists()


def test_the_front_desk_and_other_clinics_may_not_write(bare, people):
    for who in ("front_desk", "other_clinic"):
        with pytest.raises(NotPermitted):
            services.authorization_create(episode=bare, actor=people[who], step="trial")
    assert not PriorAuthorization.objects.exists()


def test_two_people_deciding_at_once_one_wins_the_other_gets_a_conflict(bare, people):
    authorization = PriorAuthorizationFactory(episode=bare, status="submitted", number="", valid_from=None,
                                              valid_to=None)
    stale = PriorAuthorization.objects.select_related("episode").get(pk=authorization.pk)
    services.authorization_update(authorization=authorization, actor=people["coordinator"], status="denied")
    with pytest.raises(Conflict):
        services.authorization_update(authorization=stale, actor=people["physician"], status="approved",
                                      number="PA-9", valid_from=TODAY, valid_to=TODAY)
    assert PriorAuthorization.objects.get(pk=authorization.pk).status == "denied"
    assert history(authorization) == [("submitted", "denied")]


def test_an_ended_episode_takes_no_new_authorization(clinic, people):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic), "withdrawn")
    with pytest.raises(TransitionRefused):
        services.authorization_create(episode=episode, actor=people["physician"], step="implant")


def test_the_status_history_is_append_only(bare, people):
    authorization = services.authorization_create(episode=bare, actor=people["coordinator"], step="trial")
    change = AuthorizationStatusChange.objects.get(authorization=authorization)
    with pytest.raises(ValueError, match="append-only"):
        change.save()


# --- Guards -----------------------------------------------------------------------------------------


def ready_to_start(clinic, **trial):
    episode = episode_in(clinic, Stage.EVALUATION)
    PriorAuthorization.objects.filter(episode=episode, step="trial").update(**trial) if trial else None
    return Episode.objects.get(pk=episode.pk)


@pytest.mark.parametrize(("status", "message"), [
    ("submitted", "no trial authorization on file"),
    ("denied", "no trial authorization on file"),
    ("appeal", "no trial authorization on file"),
    ("expired", "no trial authorization on file"),
])
def test_start_trial_needs_an_approved_trial_authorization(clinic, status, message):
    episode = ready_to_start(clinic, status=status)
    with pytest.raises(TransitionRefused) as refused:
        services.episode_transition(episode=episode, name="start_trial", actor=doctor_of(episode),
                                    data={"trial_lead_placement_date": TODAY})
    assert refused.value.unmet == [message]


def test_an_implant_authorization_does_not_authorize_the_trial(clinic):
    episode = ready_to_start(clinic, step="implant")
    with pytest.raises(TransitionRefused) as refused:
        services.episode_transition(episode=episode, name="start_trial", actor=doctor_of(episode),
                                    data={"trial_lead_placement_date": TODAY})
    assert refused.value.unmet == ["no trial authorization on file"]


def test_a_second_approval_covering_the_date_is_enough(clinic):
    episode = ready_to_start(clinic, valid_to=TODAY - timedelta(days=1))
    PriorAuthorizationFactory(episode=episode, valid_from=TODAY, valid_to=TODAY + timedelta(days=30))
    log = services.episode_transition(episode=episode, name="start_trial", actor=doctor_of(episode),
                                      data={"trial_lead_placement_date": TODAY})
    assert log.figures["trial_authorization_valid_to"] == (TODAY + timedelta(days=30)).isoformat()


def in_implant(clinic, **implant):
    episode = episode_in(clinic, Stage.IMPLANT)
    PriorAuthorization.objects.filter(episode=episode, step="implant").update(**implant)
    return Episode.objects.get(pk=episode.pk)


@pytest.mark.parametrize(("change", "message"), [
    pytest.param({"status": "submitted"}, "no implant authorization on file", id="not-approved"),
    pytest.param({"step": "trial"}, "no implant authorization on file", id="only-a-trial-one"),
    pytest.param({"valid_to": TODAY - timedelta(days=1)}, "implant authorization expires before the implant date",
                 id="expired"),
    pytest.param({"valid_from": TODAY + timedelta(days=1)}, "implant authorization starts after the implant date",
                 id="not-yet"),
])
def test_record_implant_needs_an_implant_authorization_valid_on_the_implant_date(clinic, change, message):
    episode = in_implant(clinic, **change)
    with pytest.raises(TransitionRefused) as refused:
        services.episode_transition(episode=episode, name="record_implant", actor=doctor_of(episode),
                                    data=PATHWAY["record_implant"][3])
    assert refused.value.unmet == [message]
    assert Episode.objects.get(pk=episode.pk).stage == Stage.IMPLANT


def test_record_implant_writes_the_authorization_it_relied_on(clinic):
    episode = in_implant(clinic, valid_to=TODAY)
    log = services.episode_transition(episode=episode, name="record_implant", actor=doctor_of(episode),
                                      data=PATHWAY["record_implant"][3])
    assert log.figures == {"implant_authorization_valid_to": TODAY.isoformat()}


def test_a_clinic_may_switch_the_implant_authorization_off(clinic):
    clinic.implant_authorization_required = False
    clinic.save()
    episode = in_implant(clinic, status="denied")
    log = services.episode_transition(episode=episode, name="record_implant", actor=doctor_of(episode),
                                      data=PATHWAY["record_implant"][3])
    assert log.to_stage == Stage.FOLLOW_UP and log.figures == {}


def test_a_denied_trial_authorization_reopens_the_met_checklist_item(clinic, people):
    episode = episode_in(clinic, Stage.EVALUATION)
    authorization = PriorAuthorization.objects.select_related("episode").get(episode=episode, step="trial")
    services.authorization_update(authorization=authorization, actor=people["coordinator"], status="denied")
    item = ChecklistItem.objects.get(episode=episode, kind="trial_authorization")
    assert item.status == "pending" and item.note.startswith("Reopened: Record an approved trial authorization")


# --- The deprecated auth_* fields -------------------------------------------------------------------


def test_the_old_fields_on_episode_create_record_an_approved_trial_authorization(clinic, people):
    patient = EpisodeFactory(patient__clinic=clinic).patient
    episode = services.episode_create(
        patient=patient, actor=people["coordinator"], physician=people["physician"].user, auth_payer="Plan",
        auth_number="A-7", auth_valid_from=TODAY, auth_valid_to=TODAY + timedelta(days=9),
    )
    authorization = PriorAuthorization.objects.get(episode=episode)
    assert (authorization.step, authorization.status, authorization.payer, authorization.number,
            authorization.valid_to) == ("trial", "approved", "Plan", "A-7", TODAY + timedelta(days=9))
    assert history(authorization) == [("", "approved")]


# --- The worklist's question ------------------------------------------------------------------------


def problems(today=TODAY) -> set[int]:
    return set(Episode.objects.filter(selectors.authorization_problem_q(today=today)).values_list("pk", flat=True))


def procedure(episode, kind, day):
    starts = datetime.combine(day, CHICAGO_NOON, tzinfo=NOW.tzinfo)
    return AppointmentFactory(patient=episode.patient, episode=episode, kind=kind, starts_at=starts)


def test_a_submission_waiting_longer_than_the_setting_is_a_problem(bare, settings):
    settings.PATHWAY = {**settings.PATHWAY, "AUTHORIZATION_PENDING_DAYS": 14}
    authorization = PriorAuthorizationFactory(episode=bare, status="submitted", submitted_on=TODAY - timedelta(14))
    assert problems() == set()
    PriorAuthorization.objects.filter(pk=authorization.pk).update(submitted_on=TODAY - timedelta(15))
    assert problems() == {bare.pk}


def test_a_denial_is_a_problem_until_appealed_or_replaced(bare):
    denied = PriorAuthorizationFactory(episode=bare, status="denied")
    assert problems() == {bare.pk}
    PriorAuthorization.objects.filter(pk=denied.pk).update(status="appeal")
    assert problems() == set()
    PriorAuthorization.objects.filter(pk=denied.pk).update(status="denied")
    PriorAuthorizationFactory(episode=bare, status="approved")
    assert problems() == set()


def test_an_approval_lapsing_before_the_booked_procedure_is_a_problem(bare):
    PriorAuthorizationFactory(episode=bare, valid_to=TODAY + timedelta(days=30))
    placement = procedure(bare, "trial_lead_placement", TODAY + timedelta(days=30))
    assert problems() == set()  # valid on the day itself
    placement.starts_at += timedelta(days=1)
    placement.ends_at += timedelta(days=1)
    placement.save()
    assert problems() == {bare.pk}


def test_with_nothing_booked_an_approval_lapsing_within_the_look_ahead_is_a_problem(bare, settings):
    settings.PATHWAY = {**settings.PATHWAY, "AUTHORIZATION_LOOKAHEAD_DAYS": 14}
    authorization = PriorAuthorizationFactory(episode=bare, valid_to=TODAY + timedelta(days=14))
    assert problems() == set()
    PriorAuthorization.objects.filter(pk=authorization.pk).update(valid_to=TODAY + timedelta(days=13))
    assert problems() == {bare.pk}


def test_an_authorization_whose_step_is_done_is_no_longer_a_problem(clinic):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic), "trial")
    PriorAuthorization.objects.filter(episode=episode, step="trial").update(valid_to=TODAY)
    PriorAuthorizationFactory(episode=episode, status="denied", step="trial")
    assert problems() == set()
    PriorAuthorization.objects.filter(episode=episode, step="implant").update(status="denied")
    assert problems() == {episode.pk}


def test_the_problem_filter_combines_with_other_episode_filters(bare, clinic):
    PriorAuthorizationFactory(episode=bare, status="denied")
    other = EpisodeFactory(patient__clinic=clinic)
    assert set(Episode.objects.filter(Q(pk=other.pk) | selectors.authorization_problem_q(today=TODAY))
               .values_list("pk", flat=True)) == {bare.pk, other.pk}
