"""factory_boy factories for the whole suite; synthetic data only."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from pathway.actors import Actor
from pathway.clinic_time import clinic_today
from pathway.models import Appointment, Clinic, Episode, Membership, PainEntry, Patient, PriorAuthorization
from pathway.stages import AppointmentKind, AuthorizationStatus, AuthorizationStep, ChecklistItemKind, PainPhase, Role


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"clinic-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug.title()} Pain Clinic")
    time_zone = "America/Chicago"
    phone = "+15550100100"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password("pass-word-123")


def staff(clinic: Clinic, role: str, **kwargs):
    user = UserFactory(**kwargs)
    Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": role})
    return user


def actor(clinic: Clinic, role: str) -> Actor:
    return Actor.for_user(staff(clinic, role))


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    birth_date = factory.Faker("date_of_birth", minimum_age=25, maximum_age=85)
    phone = factory.Sequence(lambda n: f"+1555{n:07d}")
    email = factory.LazyAttribute(lambda o: f"{o.mrn.lower()}@example.org")


class EpisodeFactory(factory.django.DjangoModelFactory):
    """An episode in evaluation; the stage is never set directly: use `advance_to`."""

    class Meta:
        model = Episode
        skip_postgeneration_save = True

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.SelfAttribute("patient.clinic")
    physician = factory.LazyAttribute(lambda o: staff(o.patient.clinic, Role.PHYSICIAN))
    relief_threshold = factory.SelfAttribute("clinic.relief_threshold_percent")
    stage_entered_at = factory.LazyFunction(timezone.now)
    diagnosis = "crps_1"
    icd10_code = "G90.521"
    pain_areas = factory.LazyFunction(lambda: [{"area": "foot", "side": "left"}])
    pain_onset_date = factory.LazyAttribute(lambda o: clinic_today(o.clinic) - timedelta(days=400))
    auth_payer = "Synthetic Health Plan"
    auth_number = factory.Sequence(lambda n: f"AUTH-{n:05d}")
    auth_valid_from = factory.LazyAttribute(lambda o: clinic_today(o.clinic) - timedelta(days=10))
    auth_valid_to = factory.LazyAttribute(lambda o: clinic_today(o.clinic) + timedelta(days=80))
    # An approved implant authorization too (the clinic setting requires one by default); False for none.
    implant_authorization = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """The auth_* kwargs (once Episode fields) become the episode's approved trial authorization record."""
        trial = {name: kwargs.pop(f"auth_{name}") for name in ("payer", "number", "valid_from", "valid_to")}
        implant = kwargs.pop("implant_authorization")
        episode = super()._create(model_class, *args, **kwargs)
        if any(value not in ("", None) for value in trial.values()):
            PriorAuthorizationFactory(episode=episode, step=AuthorizationStep.TRIAL, **trial)
        if implant:  # wide, so that implants dated in the past or months ahead are covered
            today = clinic_today(episode.clinic)
            PriorAuthorizationFactory(episode=episode, step=AuthorizationStep.IMPLANT,
                                      valid_from=today - timedelta(days=730), valid_to=today + timedelta(days=730))
        return episode

    @factory.post_generation
    def checklist(self, create, extracted, **kwargs):
        from pathway.models import ChecklistItem

        if create:
            ChecklistItem.objects.bulk_create(ChecklistItem(episode=self, kind=kind) for kind in ChecklistItemKind)


class PriorAuthorizationFactory(factory.django.DjangoModelFactory):
    """Approved by default, valid from ten days ago for a year."""

    class Meta:
        model = PriorAuthorization

    episode = factory.SubFactory(EpisodeFactory)
    step = AuthorizationStep.TRIAL
    payer = "Synthetic Health Plan"
    number = factory.Sequence(lambda n: f"PA-{n:05d}")
    status = AuthorizationStatus.APPROVED
    submitted_on = factory.LazyAttribute(lambda o: clinic_today(o.episode.clinic) - timedelta(days=20))
    valid_from = factory.LazyAttribute(lambda o: clinic_today(o.episode.clinic) - timedelta(days=10))
    valid_to = factory.LazyAttribute(lambda o: clinic_today(o.episode.clinic) + timedelta(days=365))


class PainEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PainEntry

    episode = factory.SubFactory(EpisodeFactory)
    recorded_at = factory.LazyFunction(timezone.now)
    nrs = 7
    phase = PainPhase.BASELINE


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.SelfAttribute("patient.clinic")
    kind = AppointmentKind.CONSULTATION
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=30))


def complete_checklist(episode: Episode, physician_actor: Actor) -> None:
    """Record every candidacy item as met, through the service, with what each needs on file."""
    from pathway import services

    if not episode.pain_entries.filter(phase=PainPhase.BASELINE).exists():
        PainEntryFactory(episode=episode, nrs=8, phase=PainPhase.BASELINE)
    for kind in ChecklistItemKind:
        details = {"tried": ["medications", "physical_therapy"]} if kind == ChecklistItemKind.PRIOR_TREATMENTS else {}
        services.checklist_item_record(episode=episode, kind=kind, status="met", actor=physician_actor,
                                       details=details)


# How each ending is reached: the stage it leaves from, the transition and what it needs.
ENDINGS = {
    "not_candidate": ("evaluation", "decline_candidacy", {"reason": "Pain pattern is not neuropathic"}),
    "trial_failed": ("trial", "abort_trial", {"end_reason_category": "infection", "reason": "Lead site infection"}),
    "withdrawn": ("evaluation", "withdraw", {"reason": "Patient moved away"}),
    "explanted": ("follow_up", "explant", {"reason": "Device infection"}),
    "discharged": ("follow_up", "discharge", {"reason": "Stable on therapy, back to primary care"}),
}


def advance_to(episode: Episode, stage: str) -> Episode:
    """Walk an open episode through the services until `stage`: the happy path, then the ending if any."""
    from pathway import services

    doctor = Actor.for_user(episode.physician)
    today = clinic_today(episode.clinic)
    if stage in ENDINGS:
        source, name, data = ENDINGS[stage]
        advance_to(episode, source)
        if name == "explant":
            data = {**data, "ended_on": today}
        services.episode_transition(episode=episode, name=name, actor=doctor, data=data)
        assert episode.stage == stage, f"could not reach {stage}"
        return episode
    steps = {
        "trial": ("start_trial", {"trial_lead_placement_date": today}),
        "trial_review": ("end_trial", {"trial_lead_removal_date": today}),
        "implant": ("approve_implant", {}),
        "follow_up": ("record_implant", {
            "implant_date": today, "device_maker": "Synthetic Devices", "device_model": "DRG-1",
            "device_serial": "SN-0001", "lead_levels": ["L4 left", "L5 left"],
        }),
    }
    path = ["evaluation", "trial", "trial_review", "implant", "follow_up"]
    for next_stage in path[path.index(episode.stage) + 1:]:
        if episode.stage == stage:
            break
        if next_stage == "trial":
            complete_checklist(episode, doctor)
        if next_stage == "trial_review":
            PainEntryFactory(episode=episode, nrs=3, phase=PainPhase.TRIAL)
        name, data = steps[next_stage]
        services.episode_transition(episode=episode, name=name, actor=doctor, data=data)
    assert episode.stage == stage, f"could not reach {stage}"
    return episode
