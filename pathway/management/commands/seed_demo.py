"""`manage.py seed_demo`: two clinics, one user per role in each, and about 200 synthetic patients.

Every episode is moved through the real services (checklist, transitions, holds, appointments), then its
timestamps are moved into the past with queryset.update() so that the board shows realistic ages, stalled
episodes and overdue milestones. A fixed random seed makes the data the same on every machine; patients are
keyed by MRN, so a second run adds nothing.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from pathway import services
from pathway.actors import Actor
from pathway.management.staff_access import staff_access_sync, staff_groups_sync
from pathway.models import Appointment, ChecklistItem, Clinic, Episode, Membership, PainEntry, Patient
from pathway.rules import episode_relief
from pathway.stages import (
    AbortReason,
    AppointmentKind,
    AuthorizationStatus,
    AuthorizationStep,
    ChecklistItemKind,
    ChecklistStatus,
    ConsentMethod,
    Diagnosis,
    MedicationUse,
    PainPhase,
    PainSource,
    Role,
    Stage,
)

SEED = 2026
PASSWORD = "drg-demo-2026"
SUPERUSER = ("admin", "admin-demo-2026")

CLINICS = [
    # slug, name, time zone, phone, number of patients
    ("demo", "Demo Pain & Spine Clinic", "America/Chicago", "+15550100100", 160),
    ("north", "North Demo Pain Center", "America/Denver", "+15550100200", 40),
]
# (username suffix, role, first name, last name); "demo" gets a second physician so filters have a choice.
STAFF = [
    ("coordinator", Role.COORDINATOR, "Casey", "Coordinator"),
    ("physician", Role.PHYSICIAN, "Dana", "Physician"),
    ("frontdesk", Role.FRONT_DESK, "Frankie", "Frontdesk"),
    ("admin", Role.ADMIN, "Ari", "Clinicadmin"),
]
EXTRA_STAFF = {"demo": [("physician2", Role.PHYSICIAN, "Robin", "Secondphysician")]}

# Where the episodes end up, per 160 patients (scaled for smaller clinics). Order matters: it is the plan.
OUTCOMES = [
    ("evaluation", 40), ("not_candidate", 8), ("trial", 18), ("abort_trial", 5), ("trial_review", 14),
    ("fail_trial", 10), ("implant", 14), ("follow_up", 30), ("explanted", 4), ("discharged", 8), ("withdrawn", 9),
]
GIVEN = ["Avery", "Blake", "Cameron", "Drew", "Emery", "Finley", "Gray", "Harper", "Jordan", "Kendall", "Logan",
         "Morgan", "Noel", "Parker", "Quinn", "Reese", "Sage", "Taylor", "Val", "Wren"]
FAMILY = ["Demoson", "Samplewood", "Testbury", "Fictivale", "Mockford", "Placeholder", "Exampleton", "Dummett",
          "Synthley", "Notreal", "Madeupson", "Fauxley", "Pretendly", "Specimen", "Trialby", "Nobodyson"]
DIAGNOSES = [
    (Diagnosis.CRPS_1, {"left": "G90.522", "right": "G90.521"}),
    (Diagnosis.CRPS_2, {"left": "G57.72", "right": "G57.71"}),
    (Diagnosis.POST_SURGICAL, {"left": "G89.28", "right": "G89.28"}),
    (Diagnosis.NERVE_INJURY, {"left": "G57.82", "right": "G57.81"}),
    (Diagnosis.OTHER, {"left": "G89.29", "right": "G89.29"}),
]
AREAS = ["foot", "ankle", "knee", "groin", "hip", "lower_back"]
PAYERS = ["Synthetic Health Plan", "Example Mutual", "Demo Medicare Advantage", "Placeholder Blue"]
HOLD_REASONS = ["Insurance appeal pending", "Infection being treated", "Patient travelling; resumes next month",
                "Awaiting cardiology clearance"]
DEVICES = [("Synthetic Neuro", "DRG-Demo 4"), ("Example Medical", "Ganglia-X")]


@dataclass
class Plan:
    """One synthetic patient and where their episode goes; drawn from the seeded generator only."""

    mrn: str
    phone: str
    given: str
    family: str
    birth: date
    outcome: str
    stalled: bool
    on_hold: bool
    success: bool
    override: bool
    withdraw_from: str
    diagnosis: str
    side: str
    areas: list[str]
    baseline: int
    relief: float
    days: dict[str, int] = field(default_factory=dict)
    physician_index: int = 0
    rng_state: int = 0


class Command(BaseCommand):
    help = "Create the demo clinics, users and ~200 synthetic patients (idempotent, fixed random seed)."

    def handle(self, *args, **options):
        started = timezone.now()
        rng = random.Random(SEED)
        groups = staff_groups_sync()
        logins = [("admin", SUPERUSER[1], "superuser", "all")]
        created = existing = 0
        with transaction.atomic():
            superuser = self._user(SUPERUSER[0], SUPERUSER[1], "Demo", "Superuser", superuser=True)
            staff_access_sync(user=superuser, groups=groups)
            for index, (slug, name, zone, phone, count) in enumerate(CLINICS):
                clinic, _ = Clinic.objects.update_or_create(
                    slug=slug, defaults={"name": name, "time_zone": zone, "phone": phone}
                )
                users = {}
                for suffix, role, first, last in STAFF + EXTRA_STAFF.get(slug, []):
                    username = f"{slug}-{suffix}"
                    user = self._user(username, PASSWORD, first, last)
                    Membership.objects.update_or_create(user=user, clinic=clinic, defaults={"role": role})
                    staff_access_sync(user=user, groups=groups)
                    users[suffix] = user
                    logins.append((username, PASSWORD, role.label, slug))
                for plan in plan_patients(rng, slug, index, count):
                    if Patient.objects.filter(clinic=clinic, mrn=plan.mrn).exists():
                        existing += 1
                        continue
                    PatientSeeder(clinic, users, plan, now=started).run()
                    created += 1
        seconds = (timezone.now() - started).total_seconds()
        self.stdout.write(f"Seeded {created} new patients ({existing} already there) in {seconds:.1f} s.")
        self.stdout.write("")
        self.stdout.write(f"{'login':<20} {'password':<18} {'role':<15} clinic")
        for username, password, role, clinic in logins:
            self.stdout.write(f"{username:<20} {password:<18} {role:<15} {clinic}")
        self.stdout.write("Front desk users work through the API (manage.py create_api_key); the web pages and "
                          "the admin are for clinical staff.")
        if settings.AUTH_MFA_REQUIRED:
            self.stdout.write("AUTH_MFA_REQUIRED is on: each staff user's first sign-in sets up an authenticator app, "
                              "and every sign-in then asks for its code.")

    @staticmethod
    def _user(username: str, password: str, first: str, last: str, superuser: bool = False):
        user, created = get_user_model().objects.get_or_create(username=username)
        user.first_name, user.last_name, user.email = first, last, f"{username}@example.org"
        user.is_superuser = superuser
        user.is_active = True
        if created or not user.has_usable_password():  # a later run keeps the password
            user.password = _hashed(password)
        user.save()
        return user


@functools.cache
def _hashed(password: str) -> str:
    """Hashing is slow on purpose; the demo users share their password, so hash it once."""
    return make_password(password)


def plan_patients(rng: random.Random, slug: str, clinic_index: int, count: int) -> list[Plan]:
    """The same list on every run: all random draws happen here, before anything is looked up."""
    scale = count / 160
    outcomes = []
    for outcome, n in OUTCOMES:
        outcomes += [outcome] * max(1, round(n * scale))
    outcomes = (outcomes + ["evaluation"] * count)[:count]
    plans = []
    for number, outcome in enumerate(outcomes, start=1):
        side = rng.choice(["left", "right"])
        diagnosis = rng.choice(DIAGNOSES)[0]
        withdraw_from = rng.choice(["evaluation", "evaluation", "trial", "trial_review", "implant", "follow_up"])
        success = outcome in {"implant", "follow_up", "explanted", "discharged"} or (
            outcome == "trial_review" and rng.random() < 0.7) or (
            outcome == "withdrawn" and withdraw_from in {"implant", "follow_up"})
        plan = Plan(
            mrn=f"{slug.upper()}-{number:05d}",
            phone=f"+1555{clinic_index}{number:06d}",
            given=rng.choice(GIVEN),
            family=rng.choice(FAMILY),
            birth=date(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 60)),
            outcome=outcome,
            stalled=outcome in {"evaluation", "trial", "trial_review", "implant"} and rng.random() < 0.22,
            on_hold=outcome in {"evaluation", "trial", "trial_review", "implant", "follow_up"} and rng.random() < 0.1,
            success=success,
            override=success and rng.random() < 0.12,
            withdraw_from=withdraw_from,
            diagnosis=diagnosis,
            side=side,
            areas=rng.sample(AREAS, rng.randint(1, 2)),
            baseline=rng.randint(6, 9),
            relief=rng.uniform(0.58, 0.85),
            physician_index=rng.randint(0, 1),
            rng_state=rng.randint(0, 2**31),
        )
        if not plan.success:
            plan.relief = rng.uniform(0.0, 0.4)
        elif plan.override:
            plan.relief = rng.uniform(0.36, 0.46)
        plan.days = {
            "evaluation": rng.randint(14, 45),
            "trial": rng.randint(5, 8),
            "trial_review": rng.randint(2, 10),
            "implant": rng.randint(14, 45),
        }
        plans.append(plan)
    if slug == "demo":
        # The README's walk-through patient: everything on file, the checklist still to do.
        plans.insert(0, Plan(
            mrn="DEMO-WALK", phone="+15559000001", given="Pat", family="Walkthrough", birth=date(1968, 5, 17),
            outcome="walkthrough",
            stalled=False, on_hold=False, success=True, override=False, withdraw_from="evaluation",
            diagnosis=Diagnosis.CRPS_1, side="left", areas=["foot"], baseline=8, relief=0.6,
            days={"evaluation": 10}, rng_state=1,
        ))
    return plans


class PatientSeeder:
    """Walks one planned patient through the services, then dates what happened into the past."""

    def __init__(self, clinic: Clinic, users: dict, plan: Plan, *, now: datetime):
        self.clinic, self.plan, self.now = clinic, plan, now
        self.rng = random.Random(plan.rng_state)
        self.auth_rng = random.Random(plan.rng_state + 1)  # its own draws: the rest of the plan stays as it was
        self.zone = ZoneInfo(clinic.time_zone)
        physicians = [users[key] for key in ("physician", "physician2") if key in users]
        self.physician = physicians[plan.physician_index % len(physicians)]
        self.coordinator = users["coordinator"]
        self.doctor = Actor.for_user(self.physician)
        self.coord = Actor.for_user(self.coordinator)
        self.today = now.astimezone(self.zone).date()
        self.schedule = self._schedule()
        self.start = self.today - timedelta(days=self.schedule["end"])
        self.logs: list[int] = []  # the day of each transition, after the episode was opened

    # --- The timeline, in days after the episode was opened ----------------------------------------

    def _schedule(self) -> dict[str, int]:
        plan, days, rng = self.plan, self.plan.days, self.rng
        path = {"evaluation": ["evaluation"], "walkthrough": ["evaluation"], "not_candidate": ["evaluation"],
                "trial": ["evaluation", "trial"], "abort_trial": ["evaluation", "trial"],
                "trial_review": ["evaluation", "trial", "trial_review"],
                "fail_trial": ["evaluation", "trial", "trial_review"],
                "implant": ["evaluation", "trial", "trial_review", "implant"],
                "follow_up": ["evaluation", "trial", "trial_review", "implant", "follow_up"],
                "explanted": ["evaluation", "trial", "trial_review", "implant", "follow_up"],
                "discharged": ["evaluation", "trial", "trial_review", "implant", "follow_up"]}
        order = ["evaluation", "trial", "trial_review", "implant", "follow_up"]
        stages = path.get(plan.outcome) or order[: order.index(plan.withdraw_from) + 1]
        dwell = {  # days spent in the last stage reached, up to today or to the ending
            "evaluation": rng.randint(61, 120) if plan.stalled else rng.randint(1, 50),
            "trial": rng.randint(9, 14) if plan.stalled else rng.randint(1, 6),
            "trial_review": rng.randint(15, 30) if plan.stalled else rng.randint(0, 10),
            "implant": rng.randint(61, 100) if plan.stalled else rng.randint(3, 45),
            "follow_up": rng.randint(30, 500),
        }
        if plan.outcome == "walkthrough":
            dwell["evaluation"] = days["evaluation"]
        if plan.outcome == "abort_trial":
            dwell["trial"] = rng.randint(1, 4)
        if plan.outcome == "discharged":
            dwell["follow_up"] = rng.randint(380, 700)
        if plan.outcome == "follow_up" and random.Random(plan.rng_state + 2).random() < 0.3:
            # Some implanted patients have years of follow-up (yearly milestones, questionnaires, PGIC); their
            # own draw, so every other patient's plan stays as it was.
            dwell["follow_up"] = random.Random(plan.rng_state + 3).randint(760, 1850)
        day, schedule = 0, {}
        for stage in stages:
            schedule[stage] = day
            day += dwell[stage] if stage == stages[-1] else days[stage]
        ending = plan.outcome not in {"evaluation", "walkthrough", "trial", "trial_review", "implant", "follow_up"}
        if ending:  # ended some time ago
            schedule["ended"] = day
            day += rng.randint(1, 200)
        schedule["end"] = day
        return schedule

    def day(self, offset: int) -> date:
        return self.start + timedelta(days=offset)

    def moment(self, offset: int, hour: int = 10) -> datetime:
        return datetime.combine(self.day(offset), time(hour, self.rng.choice([0, 15, 30, 45])), self.zone)

    # --- The walk ----------------------------------------------------------------------------------

    def run(self) -> None:
        plan, s = self.plan, self.schedule
        self.patient = self._patient()
        self.episode = self._episode()
        self._consultation()
        self._pain(PainPhase.BASELINE, [(d, plan.baseline + self.rng.choice([-1, 0, 0, 1]))
                                        for d in sorted(self.rng.sample(range(1, 9), 3))])
        reached = list(s)
        eval_done = "trial" in reached
        self._checklist(complete=eval_done)
        if plan.outcome == "not_candidate":
            self._run("decline_candidacy", self.doctor, s["ended"], reason=self.rng.choice(
                ["Psychological evaluation advises against a trial", "Pain pattern not dermatomal; DRG unsuitable",
                 "Patient prefers conservative care"]))
        if eval_done:
            self._trial()
        if "trial_review" in reached:
            self._review()
        if "implant" in reached:
            self._implant()
        if "follow_up" in reached:
            self._follow_up()
        if plan.outcome == "withdrawn":
            actor = self.coord if self.rng.random() < 0.5 else self.doctor
            self._run("withdraw", actor, s["ended"], reason=self.rng.choice(
                ["Patient moved out of state", "Patient chose not to continue", "Insurance denied coverage"]))
        if self.episode.is_open:
            self._upcoming()
            if plan.on_hold:
                held = self.now - timedelta(days=self.rng.randint(2, 20))
                services.episode_hold(episode=self.episode, actor=self.coord, reason=self.rng.choice(HOLD_REASONS),
                                      now=held)
        self._date_history()

    def _patient(self) -> Patient:
        plan = self.plan
        consent = self.rng.random() < 0.8
        return services.patient_create(
            clinic=self.clinic, actor=self.coord, mrn=plan.mrn, given_name=plan.given, family_name=plan.family,
            birth_date=plan.birth, phone=plan.phone, email=f"{plan.mrn.lower()}@example.org",
            preferred_channel=self.rng.choice(["sms", "sms", "email"]), primary_physician=self.physician,
            sms_consent=consent, sms_consent_method=ConsentMethod.WRITTEN if consent else "",
            email_consent=True, email_consent_method=ConsentMethod.PORTAL,
            diary_consent=consent, diary_consent_method=ConsentMethod.WRITTEN if consent else "",
        )

    def _episode(self) -> Episode:
        plan = self.plan
        codes = dict(DIAGNOSES)[plan.diagnosis]
        placement = self.day(self.schedule.get("trial", plan.days["evaluation"]))
        other = plan.diagnosis == Diagnosis.OTHER
        extra = {"diagnosis_other": "Chronic post-herniorrhaphy groin pain"} if other else {}
        episode = services.episode_create(
            patient=self.patient, actor=self.coord, physician=self.physician, coordinator=self.coordinator,
            diagnosis=plan.diagnosis, icd10_code=codes[plan.side],
            pain_areas=[{"area": area, "side": plan.side} for area in plan.areas],
            pain_onset_date=self.start - timedelta(days=self.rng.randint(200, 1500)),
            **extra,
        )
        self.payer = self.rng.choice(PAYERS)
        self._trial_authorization(episode, placement)
        return episode

    def _trial_authorization(self, episode: Episode, placement: date) -> None:
        """Approved for every episode that goes on to a trial; some still in evaluation wait on the payer, or
        were denied and await an appeal (the worklist shows both)."""
        waiting = self.plan.outcome == "evaluation" and self.auth_rng.random() < 0.25
        submitted = placement - timedelta(days=30)
        if waiting:
            submitted = self.today - timedelta(days=self.auth_rng.randint(3, 30))
            status = self.auth_rng.choice([AuthorizationStatus.SUBMITTED, AuthorizationStatus.SUBMITTED,
                                           AuthorizationStatus.DENIED])
            notes = "Payer asked for the psychological evaluation report." if status == "denied" else ""
            services.authorization_create(episode=episode, actor=self.coord, step=AuthorizationStep.TRIAL,
                                          status=status, payer=self.payer, submitted_on=submitted, notes=notes)
            return
        services.authorization_create(
            episode=episode, actor=self.coord, step=AuthorizationStep.TRIAL, status=AuthorizationStatus.APPROVED,
            payer=self.payer, number=f"AUTH-{self.plan.mrn}", submitted_on=submitted,
            valid_from=placement - timedelta(days=20), valid_to=placement + timedelta(days=70), units=1,
        )
        if self.plan.outcome == "walkthrough":  # the README walks this patient to the implant: both on file
            services.authorization_create(
                episode=episode, actor=self.coord, step=AuthorizationStep.IMPLANT,
                status=AuthorizationStatus.APPROVED, payer=self.payer, number=f"IMP-{self.plan.mrn}",
                submitted_on=submitted, valid_from=placement - timedelta(days=20),
                valid_to=placement + timedelta(days=180), units=1,
            )

    def _implant_authorization(self) -> None:
        """Requested when the trial review starts; approved for 90 days once the physician approves the implant
        (some implant-stage episodes are still waiting on the payer)."""
        s = self.schedule
        requested = self.day(s["trial_review"])
        decided = "implant" in s and not (self.plan.outcome == "implant" and self.auth_rng.random() < 0.2)
        if not decided:
            services.authorization_create(episode=self.episode, actor=self.coord, step=AuthorizationStep.IMPLANT,
                                          status=AuthorizationStatus.SUBMITTED, payer=self.payer,
                                          submitted_on=requested)
            return
        start = self.day(s["implant"])
        services.authorization_create(
            episode=self.episode, actor=self.coord, step=AuthorizationStep.IMPLANT,
            status=AuthorizationStatus.APPROVED, payer=self.payer, number=f"IMP-{self.plan.mrn}",
            submitted_on=requested, valid_from=start, valid_to=start + timedelta(days=90), units=1,
        )

    def _pain(self, phase: str, scores: list[tuple[int, int]], relief: bool = False) -> list[PainEntry]:
        entries = []
        for offset, nrs in scores:
            nrs = max(0, min(10, nrs))
            entry = PainEntry(
                episode=self.episode, recorded_at=self.moment(offset, hour=19), nrs=nrs, phase=phase,
                source=PainSource.PATIENT_LINK if phase == PainPhase.TRIAL else PainSource.STAFF,
                sleep_quality=max(0, min(10, 10 - nrs + self.rng.randint(-1, 1))),
                activity_limitation=max(0, min(10, nrs + self.rng.randint(-1, 1))),
            )
            if phase != PainPhase.BASELINE:
                entry.medication_use = MedicationUse.LESS if nrs < self.plan.baseline - 2 else MedicationUse.SAME
            if relief:
                entry.percent_relief = max(0, min(100, round((1 - nrs / self.plan.baseline) * 100)
                                                  + self.rng.randint(-10, 10)))
            entries.append(entry)
        return PainEntry.objects.bulk_create(entries)

    def _checklist(self, *, complete: bool) -> None:
        kinds = list(ChecklistItemKind)
        if not complete:
            kinds = self.rng.sample(kinds, self.rng.randint(0, len(kinds) - 1))
            if self.plan.outcome == "walkthrough":
                kinds = []
        trial_approved = self.episode.authorizations.filter(step=AuthorizationStep.TRIAL,
                                                            status=AuthorizationStatus.APPROVED).exists()
        for kind in kinds:
            if kind == ChecklistItemKind.TRIAL_AUTHORIZATION and not trial_approved:
                continue
            details = {"tried": self.rng.sample(["medications", "injections", "physical_therapy"], 2)} if (
                kind == ChecklistItemKind.PRIOR_TREATMENTS) else {}
            if kind == ChecklistItemKind.PSYCH_EVALUATION and self.rng.random() < 0.08:
                services.checklist_item_record(
                    episode=self.episode, kind=kind, status=ChecklistStatus.WAIVED, actor=self.doctor,
                    note="Evaluated by an outside psychologist last year; report on file.",
                )
                continue
            services.checklist_item_record(episode=self.episode, kind=kind, status=ChecklistStatus.MET,
                                           actor=self.coord, details=details)
        if not complete and kinds and self.rng.random() < 0.2:
            services.checklist_item_record(episode=self.episode, kind=ChecklistItemKind.IMAGING,
                                           status=ChecklistStatus.NOT_MET, actor=self.coord,
                                           note="MRI older than 12 months; new imaging ordered.")
        recorded = self.moment(max(1, self.schedule.get("trial", self.schedule["end"]) - 3))
        ChecklistItem.objects.filter(episode=self.episode).exclude(recorded_at=None).update(recorded_at=recorded)

    def _trial(self) -> None:
        s, plan = self.schedule, self.plan
        placement = self.day(s["trial"])
        self._book(AppointmentKind.TRIAL_LEAD_PLACEMENT, s["trial"], complete=True)
        self._run("start_trial", self.coord, s["trial"], trial_lead_placement_date=placement)
        last = s.get("trial_review", s.get("ended", s["end"]))
        if plan.outcome == "abort_trial":
            self._pain(PainPhase.TRIAL, self._trial_scores(s["trial"] + 1, last), relief=True)
            category = self.rng.choice(AbortReason.values)
            self._run("abort_trial", self.doctor, s["ended"], end_reason_category=category,
                      reason={"infection": "Superficial infection at the lead exit site",
                              "lead_migration": "Lead migrated; coverage lost",
                              "intolerance": "Could not tolerate the paresthesia",
                              "other": "Trial stopped at the patient's request"}[category])
            return
        until = last if "trial_review" in s else min(last, s["end"])
        if plan.stalled and "trial_review" not in s:
            until = s["trial"] + 3  # the diary stopped; the trial is past its expected end
        self._pain(PainPhase.TRIAL, self._trial_scores(s["trial"] + 1, until), relief=True)

    def _trial_scores(self, first: int, last: int) -> list[tuple[int, int]]:
        """One score a day, except the days a patient forgets: most keep the diary, some miss more than half."""
        mean = self.plan.baseline * (1 - self.plan.relief)
        diligence = self.rng.choice([0.97, 0.97, 0.9, 0.75, 0.35])
        return [(d, round(mean + self.rng.uniform(-1, 1))) for d in range(first, last + 1)
                if d == first or self.rng.random() < diligence]

    def _review(self) -> None:
        s, plan = self.schedule, self.plan
        removal = s["trial_review"]
        self._book(AppointmentKind.TRIAL_LEAD_REMOVAL, removal, complete=True)
        self._run("end_trial", self.coord, removal, trial_lead_removal_date=self.day(removal))
        if self.episode.is_open and plan.outcome != "fail_trial":
            self._implant_authorization()
        if plan.outcome == "fail_trial":
            self._run("fail_trial", self.doctor, s["ended"],
                      reason="Relief below the clinic's threshold during the trial")
        elif "implant" in s:
            relief = episode_relief(Episode.objects.get(pk=self.episode.pk))
            below = relief.percent is None or relief.percent < self.episode.relief_threshold
            reason = "Function and sleep clearly better; relief under threshold by NRS" if below else ""
            self._run("approve_implant", self.doctor, s["implant"], reason=reason)

    def _implant(self) -> None:
        s = self.schedule
        if "follow_up" not in s:
            return
        self._book(AppointmentKind.PRE_OP, s["follow_up"] - 7, complete=True)
        self._book(AppointmentKind.IMPLANT_SURGERY, s["follow_up"], complete=True)
        maker, model = self.rng.choice(DEVICES)
        level = self.rng.choice(["L4", "L5", "S1"])
        side = self.plan.side
        self._run(
            "record_implant", self.coord, s["follow_up"], implant_date=self.day(s["follow_up"]),
            device_maker=maker, device_model=model, device_serial=f"SYN-{self.plan.mrn}",
            lead_levels=[f"{level} {side}", f"{'L5' if level == 'L4' else 'S1'} {side}"],
        )

    def _follow_up(self) -> None:
        s, plan = self.schedule, self.plan
        last = s.get("ended", s["end"])
        scores, asked = [], []
        for milestone in self.episode.milestones.order_by("due_on"):
            due = (milestone.due_on - self.start).days
            if due > last:
                break
            if self.rng.random() < 0.85:
                self._book(milestone.kind, due, complete=True)
                scores.append((due, round(plan.baseline * (1 - plan.relief) + self.rng.uniform(-1, 1.5))))
                asked.append(milestone)
        entries = self._pain(PainPhase.FOLLOW_UP, scores)
        self._questionnaires(asked, entries, last)
        if plan.outcome == "explanted":
            self._run("explant", self.doctor, s["ended"], ended_on=self.day(s["ended"]),
                      reason=self.rng.choice(["Loss of therapeutic effect", "Device infection",
                                              "Patient requested removal"]))
        elif plan.outcome == "discharged":
            self._run("discharge", self.coord, s["ended"],
                      reason="Stable at 12 months; care returned to the referring physician")

    def _questionnaires(self, milestones: list, entries: list[PainEntry], last: int) -> None:
        """The follow-up questionnaire at each questionnaire milestone: PGIC from the patient's own change (a
        synthetic, plausible spread), usually answered through the link, sometimes unanswered after its
        reminder (those show on the worklist), or entered by staff at the visit."""
        from outcomes.models import OutcomeQuestionnaire

        rng = random.Random(self.plan.rng_state + 4)
        keys = set(settings.OUTCOMES["QUESTIONNAIRE_MILESTONES"])
        remind = timedelta(days=settings.OUTCOMES["QUESTIONNAIRE_REMINDER_DAYS"])
        changed, questionnaires = [], []
        for milestone, entry in zip(milestones, entries, strict=True):
            if milestone.key not in keys:
                continue
            reduction = 1 - entry.nrs / max(1, self.plan.baseline)
            pgic = 1 if reduction >= 0.6 else 2 if reduction >= 0.4 else 3 if reduction >= 0.2 else 4
            pgic = max(1, min(7, pgic + rng.choice([-1, 0, 0, 0, 1]) + (2 if reduction < 0 else 0)))
            sent = datetime.combine(milestone.window_start, time(10), self.zone)
            if not self.patient.diary_consent:
                entry.pgic = pgic  # no questionnaire without consent: asked at the visit
                changed.append(entry)
                continue
            answered = rng.random() < 0.8
            if answered:
                entry.pgic, entry.source = pgic, PainSource.PATIENT_LINK
                entry.recorded_at = min(self.now, sent + timedelta(hours=rng.randint(1, 120)))
                changed.append(entry)
            questionnaires.append(OutcomeQuestionnaire(
                milestone=milestone, sent_at=sent, reminded_at=None if answered else sent + remind,
                answered_at=entry.recorded_at if answered else None, answer=entry if answered else None))
        PainEntry.objects.bulk_update(changed, ["pgic", "source", "recorded_at"])
        OutcomeQuestionnaire.objects.bulk_create(questionnaires)

    def _consultation(self) -> None:
        self._book(AppointmentKind.CONSULTATION, 0, complete=True)

    def _upcoming(self) -> None:
        """The next appointment an open episode is waiting for, booked in the future."""
        kind = {
            Stage.EVALUATION: AppointmentKind.PSYCH_EVALUATION,
            Stage.TRIAL: AppointmentKind.TRIAL_LEAD_REMOVAL,
            Stage.TRIAL_REVIEW: AppointmentKind.FOLLOW_UP,
            Stage.IMPLANT: AppointmentKind.IMPLANT_SURGERY,
        }.get(self.episode.stage)
        if self.episode.stage == Stage.FOLLOW_UP:
            upcoming = self.episode.milestones.filter(due_on__gt=self.today).order_by("due_on").first()
            kind = upcoming.kind if upcoming else None
            offset = (upcoming.due_on - self.start).days if upcoming else 0
        else:
            offset = self.schedule["end"] + self.rng.randint(2, 21)
        if kind is None or (self.plan.stalled and self.rng.random() < 0.6):
            return
        appointment = self._book(kind, offset, complete=False)
        if self.rng.random() < 0.4:
            services.appointment_confirm(appointment=appointment)

    def _book(self, kind: str, offset: int, *, complete: bool):
        starts = self.moment(offset, hour=self.rng.randint(8, 15))
        appointment = services.appointment_book(
            patient=self.patient, actor=self.coord, kind=kind, starts_at=starts,
            ends_at=starts + timedelta(minutes=90 if kind == AppointmentKind.IMPLANT_SURGERY else 30),
            episode=self.episode,
        )
        if complete:
            # About half the patients confirm their reminder ("C"), the day before; those who do miss fewer visits.
            confirmed = self.rng.random() < 0.55
            if confirmed:
                services.appointment_confirm(appointment=appointment)
                Appointment.objects.filter(pk=appointment.pk).update(confirmed_at=starts - timedelta(days=1))
            missed = 0.04 if confirmed else 0.16
            if self.rng.random() < missed and kind in {AppointmentKind.FOLLOW_UP, AppointmentKind.CONSULTATION}:
                services.appointment_no_show(appointment=appointment, actor=self.coord)
            else:
                services.appointment_complete(appointment=appointment, actor=self.coord)
        return appointment

    def _run(self, name: str, actor: Actor, offset: int, reason: str = "", **data) -> None:
        # The history is written on the planned day: the log is append-only, never re-dated afterwards.
        services.episode_transition(episode=self.episode, name=name, actor=actor, data={**data, "reason": reason},
                                    now=self.moment(offset, hour=16))
        self.logs.append(offset)

    def _date_history(self) -> None:
        """Move what the services stamped 'now' on the episode and patient to the planned days."""
        entered = self.moment(self.logs[-1], hour=16) if self.logs else self.moment(0, hour=9)
        update = {"stage_entered_at": entered, "created_at": self.moment(0, hour=9)}
        if self.episode.stage in {Stage.NOT_CANDIDATE, Stage.TRIAL_FAILED, Stage.WITHDRAWN, Stage.DISCHARGED}:
            update["ended_on"] = self.day(self.schedule["ended"])
        Episode.objects.filter(pk=self.episode.pk).update(**update)
        Patient.objects.filter(pk=self.patient.pk).update(created_at=self.moment(0, hour=8))
