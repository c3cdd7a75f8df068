"""Relief = (baseline NRS − mean trial NRS) / baseline NRS × 100, one decimal, and the approve_implant decision."""

from decimal import Decimal

import pytest

from pathway import rules, services
from pathway.actors import Actor
from pathway.errors import TransitionRefused
from pathway.models import Episode, PainEntry, TransitionLog
from pathway.stages import PainPhase, ReliefDecider, Stage
from tests.factories import EpisodeFactory, PainEntryFactory, advance_to

from .pathway_table import TODAY, snapshot

pytestmark = pytest.mark.usefixtures("now")


def entries(baseline=(), trial=(), follow_up=(), reported=()):
    made = [PainEntry(nrs=n, phase=PainPhase.BASELINE) for n in baseline]
    made += [PainEntry(nrs=n, phase=PainPhase.FOLLOW_UP) for n in follow_up]
    reported = list(reported) + [None] * (len(trial) - len(reported))
    made += [PainEntry(nrs=n, phase=PainPhase.TRIAL, percent_relief=r) for n, r in zip(trial, reported, strict=True)]
    return made


@pytest.mark.parametrize(("baseline", "trial", "percent"), [
    pytest.param([8], [4], "50.0", id="half"),
    pytest.param([8], [3], "62.5", id="one-decimal-kept"),
    pytest.param([3], [2], "33.3", id="repeating-decimal-rounds-down"),
    pytest.param([3], [1], "66.7", id="repeating-decimal-rounds-up"),
    pytest.param([8], [1, 1, 2, 2], "81.3", id="exact-half-rounds-up-not-to-even"),
    pytest.param([7, 8], [3], "60.0", id="baseline-is-the-mean-of-its-entries"),
    pytest.param([10, 10, 9], [0, 0, 0, 7, 9, 9, 9], "49.8", id="unrounded-means-then-one-rounding"),
    pytest.param([5], [7], "-40.0", id="pain-got-worse"),
    pytest.param([6], [0, 0], "100.0", id="pain-free"),
])
def test_relief_from_baseline_and_trial_means(baseline, trial, percent):
    relief = rules.relief_from_entries(entries(baseline, trial, follow_up=[0, 0]))
    assert relief.percent == Decimal(percent)
    assert relief.reason is None
    assert relief.trial_entries == len(trial)


@pytest.mark.parametrize(("baseline", "trial", "reason"), [
    pytest.param([0], [0], "baseline pain is 0, so relief cannot be computed", id="baseline-zero"),
    pytest.param([0, 0], [3], "baseline pain is 0, so relief cannot be computed", id="baseline-mean-zero"),
    pytest.param([], [3], "no baseline pain score recorded", id="no-baseline"),
    pytest.param([7], [], "no pain scores recorded during the trial", id="no-trial-entries"),
])
def test_relief_is_not_computed_and_says_why(baseline, trial, reason):
    relief = rules.relief_from_entries(entries(baseline, trial, follow_up=[2]))
    assert relief.percent is None
    assert relief.reason == reason


def test_relief_figures_name_every_input():
    relief = rules.relief_from_entries(entries([7, 8], [3, 4], reported=[60, 45]))
    assert relief.as_figures() == {
        "relief_percent": "53.3", "baseline_nrs": "7.5", "trial_mean_nrs": "3.5", "trial_entries": 2,
        "patient_reported_relief_percent": "52.5", "relief_unavailable_reason": None,
    }


def test_patient_reported_relief_is_the_mean_of_the_trial_reports_rounded_half_up():
    relief = rules.relief_from_entries(entries([8], [3, 3, 3, 3], reported=[33, 34, 34]))
    assert relief.patient_reported == Decimal("33.7")
    assert rules.relief_from_entries(entries([8], [3, 3], reported=[33, 34])).patient_reported == Decimal("33.5")
    assert rules.relief_from_entries(entries([8], [3])).patient_reported is None


# --- approve_implant on the figures ---------------------------------------------------------------


def in_review(clinic, *, baseline, trial, reported=()) -> Episode:
    """An episode in trial review whose diary holds exactly these scores."""
    episode = EpisodeFactory(patient__clinic=clinic)
    for n in baseline:
        PainEntryFactory(episode=episode, nrs=n, phase=PainPhase.BASELINE)
    advance_to(episode, Stage.TRIAL)
    doctor = Actor.for_user(episode.physician)
    reported = list(reported) + [None] * (len(trial) - len(reported))
    for n, r in zip(trial, reported, strict=True):
        services.pain_entry_record(episode=episode, actor=None, nrs=n, phase=PainPhase.TRIAL, source="patient_link",
                                   percent_relief=r)
    services.episode_transition(episode=episode, name="end_trial", actor=doctor,
                                data={"trial_lead_removal_date": TODAY})
    return Episode.objects.get(pk=episode.pk)


def approve(episode, **data) -> TransitionLog:
    return services.episode_transition(episode=episode, name="approve_implant",
                                       actor=Actor.for_user(episode.physician), data=data)


def refused_approval(episode, **data) -> list[str]:
    before, logs = snapshot(episode), TransitionLog.objects.count()
    with pytest.raises(TransitionRefused) as refused:
        approve(episode, **data)
    assert (snapshot(episode), TransitionLog.objects.count()) == (before, logs)
    return refused.value.unmet


@pytest.mark.django_db
def test_approve_implant_at_exactly_half_relief_writes_the_figures(clinic):
    episode = in_review(clinic, baseline=[8], trial=[4, 4], reported=[55])
    log = approve(episode)
    assert episode.stage == Stage.IMPLANT
    assert log.figures == {
        "relief_percent": "50.0", "baseline_nrs": "8.0", "trial_mean_nrs": "4.0", "trial_entries": 2,
        "patient_reported_relief_percent": "55.0", "relief_unavailable_reason": None,
        "relief_threshold_percent": "50.0", "relief_decider": "nrs",
    }
    assert log.reason == ""


@pytest.mark.django_db
def test_approve_implant_refused_just_below_half_relief(clinic):
    episode = in_review(clinic, baseline=[10, 10, 9], trial=[0, 0, 0, 7, 9, 9, 9])
    assert refused_approval(episode) == [
        "relief 49.8 % is below the 50.0 % threshold; a physician override with a reason is needed"
    ]


@pytest.mark.django_db
def test_approve_implant_uses_the_threshold_of_the_clinic(clinic):
    clinic.relief_threshold_percent = Decimal("62.6")
    clinic.save()
    episode = in_review(clinic, baseline=[8], trial=[3])
    assert refused_approval(episode) == [
        "relief 62.5 % is below the 62.6 % threshold; a physician override with a reason is needed"
    ]


@pytest.mark.django_db
def test_physician_override_with_a_reason_approves_low_relief(clinic):
    episode = in_review(clinic, baseline=[8], trial=[6])
    log = approve(episode, reason="Relief concentrated at night; sleep restored")
    assert episode.stage == Stage.IMPLANT
    assert log.figures["relief_percent"] == "25.0"
    assert log.figures["physician_override"] is True
    assert log.reason == "Relief concentrated at night; sleep restored"
    assert Episode.objects.get(pk=episode.pk).implant_override_reason == log.reason


@pytest.mark.django_db
def test_a_reason_given_when_relief_suffices_is_not_an_override(clinic):
    log = approve(in_review(clinic, baseline=[8], trial=[2]), reason="Clear success")
    assert log.figures["relief_percent"] == "75.0"
    assert "physician_override" not in log.figures
    assert log.reason == "Clear success"


@pytest.mark.django_db
def test_override_needs_words_not_blanks(clinic):
    episode = in_review(clinic, baseline=[8], trial=[6])
    assert refused_approval(episode, reason="   ") == [
        "relief 25.0 % is below the 50.0 % threshold; a physician override with a reason is needed"
    ]


@pytest.mark.django_db
def test_baseline_of_zero_needs_an_override(clinic):
    episode = in_review(clinic, baseline=[0], trial=[0])
    assert refused_approval(episode) == [
        "relief cannot be computed (baseline pain is 0, so relief cannot be computed); "
        "a physician override with a reason is needed"
    ]
    log = approve(episode, reason="Allodynia only on touch; NRS at rest does not show it")
    assert log.figures["relief_percent"] is None
    assert log.figures["relief_unavailable_reason"] == "baseline pain is 0, so relief cannot be computed"
    assert log.figures["physician_override"] is True


@pytest.mark.django_db
def test_patient_reported_decider_decides_instead_of_nrs(clinic):
    clinic.relief_decider = ReliefDecider.PATIENT_REPORTED
    clinic.save()
    good_nrs_poor_report = in_review(clinic, baseline=[8], trial=[2, 2], reported=[40, 45])
    assert refused_approval(good_nrs_poor_report) == [
        "relief 42.5 % is below the 50.0 % threshold; a physician override with a reason is needed"
    ]
    poor_nrs_good_report = in_review(clinic, baseline=[8], trial=[6], reported=[50])
    log = approve(poor_nrs_good_report)
    assert (log.figures["relief_percent"], log.figures["patient_reported_relief_percent"]) == ("25.0", "50.0")
    assert log.figures["relief_decider"] == "patient_reported"
    assert refused_approval(in_review(clinic, baseline=[8], trial=[2])) == [
        "relief cannot be computed (no patient-reported relief); a physician override with a reason is needed"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["end_trial", "fail_trial"])
def test_trial_verdicts_record_the_relief_figures(clinic, name):
    episode = EpisodeFactory(patient__clinic=clinic)
    advance_to(episode, Stage.TRIAL_REVIEW if name == "fail_trial" else Stage.TRIAL)
    if name == "end_trial":
        PainEntryFactory(episode=episode, nrs=3, phase=PainPhase.TRIAL)
    data = {"reason": "Relief faded by day 5"} if name == "fail_trial" else {"trial_lead_removal_date": TODAY}
    log = services.episode_transition(episode=Episode.objects.get(pk=episode.pk), name=name,
                                      actor=Actor.for_user(episode.physician), data=data)
    assert (log.figures["relief_percent"], log.figures["baseline_nrs"]) == ("62.5", "8.0")
    assert log.figures["relief_threshold_percent"] == "50.0"
