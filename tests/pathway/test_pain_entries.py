"""Pain entries: whole NRS scores 0–10 with the optional sleep, activity and medication figures; clinical only."""

from datetime import datetime

import pytest

from pathway import services
from pathway.errors import InvalidInput, NotPermitted
from pathway.models import PainEntry
from pathway.stages import PainPhase
from tests.factories import EpisodeFactory, advance_to

from .conftest import NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]


@pytest.fixture
def episode(clinic):
    return EpisodeFactory(patient__clinic=clinic)


def test_a_staff_entry_records_who_and_the_seed_promises(episode, people):
    advance_to(episode, "trial")
    entry = services.pain_entry_record(
        episode=episode, actor=people["coordinator"], nrs=4, phase=PainPhase.TRIAL, percent_relief=60,
        sleep_quality=7, activity_limitation=3, medication_use="less",
    )
    stored = PainEntry.objects.get(pk=entry.pk)
    assert (stored.nrs, stored.phase, stored.source, stored.entered_by, stored.recorded_at) == (
        4, "trial", "staff", people["coordinator"].user, NOW,
    )
    assert (stored.percent_relief, stored.sleep_quality, stored.activity_limitation, stored.medication_use) == (
        60, 7, 3, "less",
    )


def test_the_patients_own_link_records_without_a_staff_actor(episode):
    advance_to(episode, "trial")
    entry = services.pain_entry_record(episode=episode, actor=None, nrs=2, phase=PainPhase.TRIAL,
                                       source="patient_link", recorded_at="2026-11-24T19:05:00-06:00")
    stored = PainEntry.objects.get(pk=entry.pk)
    assert (stored.source, stored.entered_by) == ("patient_link", None)
    assert stored.recorded_at == datetime.fromisoformat("2026-11-25T01:05:00+00:00")


@pytest.mark.parametrize(("stage", "phase", "accepted"), [
    ("evaluation", PainPhase.BASELINE, True),
    ("evaluation", PainPhase.TRIAL, False),
    ("trial", PainPhase.TRIAL, True),
    ("trial", PainPhase.BASELINE, False),
    ("trial_review", PainPhase.TRIAL, True),
    ("follow_up", PainPhase.FOLLOW_UP, True),
    ("follow_up", PainPhase.TRIAL, False),
])
def test_a_score_must_belong_to_the_stage_so_only_trial_days_count_in_relief(episode, people, stage, phase, accepted):
    advance_to(episode, stage)
    before = PainEntry.objects.filter(episode=episode).count()
    record = lambda: services.pain_entry_record(  # noqa: E731
        episode=episode, actor=people["coordinator"], nrs=4, phase=phase)
    if accepted:
        record()
        assert PainEntry.objects.filter(episode=episode).count() == before + 1
    else:
        with pytest.raises(InvalidInput) as refused:
            record()
        assert "phase" in refused.value.errors
        assert PainEntry.objects.filter(episode=episode).count() == before


@pytest.mark.parametrize("fields", [
    pytest.param({"nrs": -1}, id="below-0"),
    pytest.param({"nrs": 11}, id="above-10"),
    pytest.param({"nrs": 3.5}, id="not-whole"),
    pytest.param({"nrs": "7"}, id="text"),
    pytest.param({"nrs": True}, id="boolean"),
    pytest.param({"phase": "post_op"}, id="unknown-phase"),
    pytest.param({"source": "fax"}, id="unknown-source"),
    pytest.param({"percent_relief": 101}, id="relief-over-100"),
    pytest.param({"sleep_quality": 11}, id="sleep-over-10"),
    pytest.param({"activity_limitation": -1}, id="activity-below-0"),
    pytest.param({"medication_use": "lots"}, id="unknown-medication-use"),
    pytest.param({"recorded_at": datetime(2026, 11, 24, 19, 0)}, id="naive-time"),
    pytest.param({"mood": 3}, id="unknown-field"),
])
def test_bad_entries_are_refused_with_nothing_written(episode, people, fields):
    with pytest.raises(InvalidInput):
        services.pain_entry_record(episode=episode, actor=people["physician"],
                                   **{"nrs": 5, "phase": PainPhase.BASELINE, **fields})
    assert not PainEntry.objects.exists()


@pytest.mark.parametrize("role", ["front_desk", "admin", "other_clinic"])
def test_pain_scores_are_clinical(episode, people, role):
    with pytest.raises(NotPermitted):
        services.pain_entry_record(episode=episode, actor=people[role], nrs=5, phase=PainPhase.BASELINE)
    assert not PainEntry.objects.exists()


@pytest.mark.parametrize("role", ["front_desk", "admin", "other_clinic"])
def test_clinical_details_are_changed_by_clinicians_only(episode, people, role):
    for change in (
        lambda who: services.episode_update(episode=episode, actor=who, icd10_code="G57.71"),
        lambda who: services.referral_add(episode=episode, actor=who, finding="stenosis"),
    ):
        with pytest.raises(NotPermitted):
            change(people[role])
    assert episode.referrals.count() == 0
