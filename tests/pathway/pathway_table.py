"""The pathway table of DOMAIN.md as data, and episodes built through the services to test it against."""

from pathway import services
from pathway.actors import Actor
from pathway.models import Episode
from pathway.stages import PainPhase, Stage
from tests.factories import EpisodeFactory, advance_to, complete_checklist

from .conftest import NOW

TODAY = NOW.date()
CLINICAL = {"coordinator", "physician"}
PHYSICIAN = {"physician"}

# DOMAIN.md's table: transition -> (from stages, to stage, who may run it, inputs that satisfy every guard).
PATHWAY = {
    "start_trial": (
        {"evaluation"}, "trial", CLINICAL, {"trial_lead_placement_date": TODAY},
    ),
    "decline_candidacy": (
        {"evaluation"}, "not_candidate", PHYSICIAN, {"reason": "Pain is not neuropathic"},
    ),
    "end_trial": (
        {"trial"}, "trial_review", CLINICAL, {"trial_lead_removal_date": TODAY},
    ),
    "abort_trial": (
        {"trial"}, "trial_failed", PHYSICIAN, {"end_reason_category": "lead_migration", "reason": "Lead moved"},
    ),
    "approve_implant": (
        {"trial_review"}, "implant", PHYSICIAN, {},
    ),
    "fail_trial": (
        {"trial_review"}, "trial_failed", PHYSICIAN, {"reason": "Relief did not last"},
    ),
    "record_implant": (
        {"implant"}, "follow_up", CLINICAL,
        {"implant_date": TODAY, "device_maker": "Synthetic Devices", "device_model": "DRG-1",
         "device_serial": "SN-42", "lead_levels": ["L5 left"]},
    ),
    "explant": (
        {"follow_up"}, "explanted", PHYSICIAN, {"ended_on": TODAY, "reason": "Pocket infection"},
    ),
    "discharge": (
        {"follow_up"}, "discharged", CLINICAL, {"reason": "Stable, back to primary care"},
    ),
    "withdraw": (
        {"evaluation", "trial", "trial_review", "implant", "follow_up"}, "withdrawn", CLINICAL,
        {"reason": "Patient chose to stop"},
    ),
}
def episode_in(clinic, stage: str) -> Episode:
    """An episode in `stage` whose next transitions' guards all hold, so only the stage and role decide."""
    episode = advance_to(EpisodeFactory(patient__clinic=clinic), stage)
    doctor = Actor.for_user(episode.physician)
    if stage == Stage.EVALUATION:
        complete_checklist(episode, doctor)
    if stage == Stage.TRIAL:
        services.pain_entry_record(episode=episode, actor=doctor, nrs=4, phase=PainPhase.TRIAL)
    return Episode.objects.get(pk=episode.pk)


def snapshot(episode: Episode) -> dict:
    return Episode.objects.filter(pk=episode.pk).values().get()
