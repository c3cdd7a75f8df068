"""Each guard failing on its own, in the words a coordinator reads; hold; ended episodes stay closed."""

from datetime import timedelta

import pytest

from pathway import services
from pathway.actors import Actor
from pathway.errors import InvalidInput, NotPermitted, TransitionRefused
from pathway.models import Episode, PriorAuthorization, TransitionLog
from pathway.stages import ENDED_STAGES, OPEN_STAGES, PainPhase, Stage

from .pathway_table import PATHWAY, TODAY, episode_in, snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]


def doctor_of(episode: Episode) -> Actor:
    return Actor.for_user(episode.physician)


def without(data: dict, *keys: str, **changes) -> dict:
    return {**{k: v for k, v in data.items() if k not in keys}, **changes}


def refused_with(episode: Episode, name: str, data: dict) -> TransitionRefused:
    """Run `name` expecting a refusal that changes nothing; return the error."""
    before, logs = snapshot(episode), TransitionLog.objects.count()
    with pytest.raises(TransitionRefused) as refused:
        services.episode_transition(episode=episode, name=name, actor=doctor_of(episode), data=data)
    assert snapshot(episode) == before
    assert TransitionLog.objects.count() == logs
    return refused.value


def update(episode: Episode, **fields) -> None:
    services.episode_update(episode=episode, actor=doctor_of(episode), **fields)


def remove_imaging(episode):
    services.checklist_item_record(episode=episode, kind="imaging", status="not_met", actor=doctor_of(episode))


# (transition, how the episode is spoiled, the inputs, the one sentence the coordinator reads)
GUARDS = [
    pytest.param("start_trial", remove_imaging, {"trial_lead_placement_date": TODAY},
                 "candidacy checklist incomplete: imaging reviewed", id="start_trial-checklist-incomplete"),
    pytest.param("start_trial", lambda e: services.checklist_item_record(
                     episode=e, kind="pain_area", status="pending", actor=doctor_of(e)),
                 {"trial_lead_placement_date": TODAY},
                 "candidacy checklist incomplete: pain in an area DRG stimulation targets",
                 id="start_trial-checklist-item-pending"),
    pytest.param("start_trial", None, {},
                 "the lead placement date is missing", id="start_trial-no-lead-placement-date"),
    # Behind the services' back: through episode_update the met checklist item would reopen and fail too.
    pytest.param("start_trial", lambda e: PriorAuthorization.objects.filter(episode=e, step="trial").update(number=""),
                 {"trial_lead_placement_date": TODAY},
                 "no trial authorization on file", id="start_trial-no-authorization"),
    pytest.param("start_trial", lambda e: update(e, auth_valid_to=TODAY - timedelta(days=1)),
                 {"trial_lead_placement_date": TODAY},
                 "trial authorization expires before the lead placement date", id="start_trial-authorization-expired"),
    pytest.param("start_trial", lambda e: update(e, auth_valid_from=TODAY + timedelta(days=1)),
                 {"trial_lead_placement_date": TODAY},
                 "trial authorization starts after the lead placement date", id="start_trial-authorization-not-yet"),
    pytest.param("decline_candidacy", None, {}, "a reason is required", id="decline_candidacy-no-reason"),
    pytest.param("decline_candidacy", None, {"reason": "   "}, "a reason is required",
                 id="decline_candidacy-blank-reason"),
    pytest.param("end_trial", None, {}, "the lead removal date is missing or before the lead placement date",
                 id="end_trial-no-removal-date"),
    pytest.param("end_trial", None, {"trial_lead_removal_date": TODAY - timedelta(days=1)},
                 "the lead removal date is missing or before the lead placement date",
                 id="end_trial-removed-before-placed"),
    pytest.param("end_trial", lambda e: e.pain_entries.filter(phase=PainPhase.TRIAL).delete(),
                 {"trial_lead_removal_date": TODAY}, "no pain score has been recorded during the trial",
                 id="end_trial-no-trial-pain-score"),
    pytest.param("abort_trial", None, {"reason": "Lead moved"},
                 "a reason category is required (infection, lead migration, intolerance or other)",
                 id="abort_trial-no-category"),
    pytest.param("abort_trial", None, {"end_reason_category": "intolerance"}, "a reason is required",
                 id="abort_trial-no-reason"),
    pytest.param("fail_trial", None, {}, "a reason is required", id="fail_trial-no-reason"),
    pytest.param("record_implant", None, without(PATHWAY["record_implant"][3], "implant_date"),
                 "the implant date is missing", id="record_implant-no-date"),
    *[
        pytest.param("record_implant", None, without(PATHWAY["record_implant"][3], field),
                     "the device maker, model and serial number are required", id=f"record_implant-no-{field}")
        for field in ("device_maker", "device_model", "device_serial")
    ],
    pytest.param("record_implant", None, without(PATHWAY["record_implant"][3], "lead_levels"),
                 "the lead levels are required", id="record_implant-no-lead-levels"),
    pytest.param("explant", None, {"reason": "Pocket infection"}, "the date is missing", id="explant-no-date"),
    pytest.param("explant", None, {"ended_on": TODAY}, "a reason is required", id="explant-no-reason"),
    pytest.param("discharge", None, {"reason": ""}, "a reason is required", id="discharge-no-reason"),
    *[
        pytest.param("withdraw", None, {}, "a reason is required", id=f"withdraw-from-{stage}-no-reason")
        for stage in OPEN_STAGES
    ],
]


@pytest.mark.parametrize(("name", "spoil", "data", "message"), GUARDS)
def test_each_guard_fails_on_its_own_in_words(clinic, name, spoil, data, message):
    stages = sorted(PATHWAY[name][0])
    episode = episode_in(clinic, stages[0])
    if spoil is not None:
        spoil(episode)
        episode = Episode.objects.get(pk=episode.pk)

    error = refused_with(episode, name, data)

    assert error.unmet == [message]
    assert message in error.detail
    assert error.stage == stages[0]
    assert name in error.allowed


def test_withdraw_needs_a_reason_from_every_open_stage(clinic):
    for stage in OPEN_STAGES:
        episode = episode_in(clinic, stage)
        assert refused_with(episode, "withdraw", {"reason": ""}).unmet == ["a reason is required"]


@pytest.mark.parametrize(("field", "offset"), [("auth_valid_to", 0), ("auth_valid_from", 0)])
def test_authorization_valid_on_the_placement_date_itself_is_enough(clinic, field, offset):
    episode = episode_in(clinic, Stage.EVALUATION)
    update(episode, **{field: TODAY + timedelta(days=offset)})
    log = services.episode_transition(episode=episode, name="start_trial", actor=doctor_of(episode),
                                      data={"trial_lead_placement_date": TODAY})
    assert log.figures == {"trial_lead_placement_date": TODAY.isoformat(),
                           "trial_authorization_valid_to": PriorAuthorization.objects.get(
                               episode=episode, step="trial").valid_to.isoformat(),
                           "waived": []}


def test_start_trial_sets_the_expected_end_from_the_clinic_setting(clinic):
    clinic.trial_expected_days = 5
    clinic.save()
    episode = episode_in(clinic, Stage.EVALUATION)
    services.episode_transition(episode=episode, name="start_trial", actor=doctor_of(episode),
                                data={"trial_lead_placement_date": TODAY})
    assert Episode.objects.get(pk=episode.pk).trial_expected_end == TODAY + timedelta(days=5)


def test_lead_removed_on_the_placement_day_ends_the_trial(clinic):
    episode = episode_in(clinic, Stage.TRIAL)
    services.episode_transition(episode=episode, name="end_trial", actor=doctor_of(episode),
                                data={"trial_lead_removal_date": episode.trial_lead_placement_date})
    assert episode.stage == Stage.TRIAL_REVIEW


def test_unmet_guards_are_all_named_together(clinic):
    episode = episode_in(clinic, Stage.FOLLOW_UP)
    error = refused_with(episode, "explant", {})
    assert error.unmet == ["the date is missing", "a reason is required"]
    assert error.allowed == ["explant", "discharge", "withdraw"]


def test_abort_reason_must_be_one_of_the_categories(clinic):
    episode = episode_in(clinic, Stage.TRIAL)
    with pytest.raises(InvalidInput):
        services.episode_transition(episode=episode, name="abort_trial", actor=doctor_of(episode),
                                    data={"end_reason_category": "boredom", "reason": "x"})


@pytest.mark.parametrize("data", [
    {"trial_lead_placement_date": "2026-02-30"},
    {"trial_lead_placement_date": "next tuesday"},
    {"trial_lead_placement_date": TODAY, "device_serial": "SN-1"},
])
def test_bad_transition_input_is_invalid_and_writes_nothing(clinic, data):
    episode = episode_in(clinic, Stage.EVALUATION)
    before = snapshot(episode)
    with pytest.raises(InvalidInput):
        services.episode_transition(episode=episode, name="start_trial", actor=doctor_of(episode), data=data)
    assert snapshot(episode) == before


def test_unknown_transition_is_invalid(clinic):
    episode = episode_in(clinic, Stage.EVALUATION)
    with pytest.raises(InvalidInput):
        services.episode_transition(episode=episode, name="teleport", actor=doctor_of(episode))


# --- Hold -----------------------------------------------------------------------------------------

RUNNABLE = [
    pytest.param(name, stage, id=f"{name}-from-{stage}")
    for name, (sources, *_rest) in PATHWAY.items() for stage in sorted(sources)
]


@pytest.mark.parametrize(("name", "stage"), RUNNABLE)
def test_hold_blocks_every_transition_and_release_lets_it_run(clinic, people, name, stage):
    episode = episode_in(clinic, stage)
    services.episode_hold(episode=episode, actor=people["coordinator"], reason="insurance appeal")
    episode = Episode.objects.get(pk=episode.pk)

    error = refused_with(episode, name, PATHWAY[name][3])
    assert error.unmet == ["the episode is on hold: insurance appeal"]

    services.episode_release(episode=episode, actor=people["physician"])
    services.episode_transition(episode=episode, name=name, actor=people["physician"], data=PATHWAY[name][3])
    assert Episode.objects.get(pk=episode.pk).stage == PATHWAY[name][1]


def test_hold_and_release_are_logged_with_who_and_why(clinic, people, now):
    episode = episode_in(clinic, Stage.TRIAL_REVIEW)
    services.episode_hold(episode=episode, actor=people["coordinator"], reason="infection being treated")
    stored = Episode.objects.get(pk=episode.pk)
    assert (stored.on_hold, stored.hold_reason, stored.held_at) == (True, "infection being treated", now)
    services.episode_release(episode=episode, actor=people["physician"], reason="healed")
    stored = Episode.objects.get(pk=episode.pk)
    assert (stored.on_hold, stored.hold_reason, stored.held_at) == (False, "", None)
    logs = list(TransitionLog.objects.filter(episode=episode, transition__in=["hold", "release"]))
    assert [(log.transition, log.from_stage, log.to_stage, log.reason, log.actor_user) for log in logs] == [
        ("hold", "trial_review", "trial_review", "infection being treated", people["coordinator"].user),
        ("release", "trial_review", "trial_review", "healed", people["physician"].user),
    ]


def test_hold_needs_a_reason_and_a_clinical_role(clinic, people):
    episode = episode_in(clinic, Stage.EVALUATION)
    with pytest.raises(InvalidInput):
        services.episode_hold(episode=episode, actor=people["coordinator"], reason="  ")
    for role in ("front_desk", "admin", "other_clinic"):
        with pytest.raises(NotPermitted):
            services.episode_hold(episode=episode, actor=people[role], reason="insurance appeal")
    assert not Episode.objects.get(pk=episode.pk).on_hold
    assert not TransitionLog.objects.filter(episode=episode, transition="hold").exists()


# --- Ended episodes are closed --------------------------------------------------------------------

CHANGES = {
    "hold": lambda e, a: services.episode_hold(episode=e, actor=a, reason="insurance appeal"),
    "release": lambda e, a: services.episode_release(episode=e, actor=a),
    "checklist": lambda e, a: services.checklist_item_record(episode=e, kind="imaging", status="met", actor=a),
    "pain entry": lambda e, a: services.pain_entry_record(episode=e, actor=a, nrs=3, phase=PainPhase.FOLLOW_UP),
    "diary pain entry": lambda e, a: services.pain_entry_record(
        episode=e, actor=None, nrs=3, phase=PainPhase.FOLLOW_UP, source="patient_link"),
    "episode_update": lambda e, a: services.episode_update(episode=e, actor=a, icd10_code="G57.71"),
    "referral": lambda e, a: services.referral_add(episode=e, actor=a, finding="stenosis"),
}


@pytest.mark.parametrize("stage", ENDED_STAGES)
def test_ended_episode_refuses_every_change(clinic, people, stage):
    episode = episode_in(clinic, stage)
    before = snapshot(episode)
    counts = (TransitionLog.objects.count(), episode.pain_entries.count(), episode.referrals.count())
    checklist = list(episode.checklist_items.values())

    for change, run in CHANGES.items():
        with pytest.raises(TransitionRefused, match="The episode has ended"):
            run(episode, people["physician"])
        assert snapshot(episode) == before, change
    for name in services.TRANSITION_NAMES:
        with pytest.raises(TransitionRefused, match="The episode has ended; nothing changes it"):
            services.episode_transition(episode=episode, name=name, actor=people["physician"], data={})

    assert (TransitionLog.objects.count(), episode.pain_entries.count(), episode.referrals.count()) == counts
    assert list(episode.checklist_items.values()) == checklist
    assert snapshot(episode) == before


def test_an_implant_is_recorded_once_it_has_happened(clinic):
    episode = episode_in(clinic, "implant")
    error = refused_with(episode, "record_implant", {
        "implant_date": TODAY + timedelta(days=1), "device_maker": "Synthetic Devices", "device_model": "DRG-1",
        "device_serial": "SN-1", "lead_levels": ["L5 left"]})
    assert error.unmet == ["the implant date is in the future: record the implant once it has happened"]


@pytest.mark.parametrize("days_after_implant", [-1, 400])
def test_an_explant_date_lies_between_the_implant_and_today(clinic, days_after_implant):
    episode = episode_in(clinic, "follow_up")
    ended_on = episode.implant_date + timedelta(days=days_after_implant)
    error = refused_with(episode, "explant", {"ended_on": ended_on, "reason": "infection"})
    assert error.unmet == ["the explant date must be on or after the implant date and not in the future"]
