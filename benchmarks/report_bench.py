"""How quick the clinic report stays over 100,000 episodes in one clinic (issue 11).

Creates a database of its own (BENCH_DATABASE_URL's name + "_report"), fills it in bulk with three years of
synthetic episodes and their history (stage changes, baseline, diary and follow-up scores, milestones,
appointments), then times outcomes.reports.clinic_report (the selector the page, the API and the CSV share)
over the whole three years, one year and one month, and the CSV through the API. Drops the database after.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/drg_bench .venv/bin/python benchmarks/report_bench.py
    options: --episodes N (default 100000), --runs N (default 5), --keep (leave the database)
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--episodes", type=int, default=100_000)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--keep", action="store_true")
args = parser.parse_args()

from benchdb import BenchDatabase  # noqa: E402
from benchtable import record  # noqa: E402

bench_db = BenchDatabase("_report").point_django_at()
bench_db.create()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection as db  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from outcomes.reports import clinic_report  # noqa: E402
from pathway.clinic_time import clinic_today  # noqa: E402
from pathway.models import (  # noqa: E402
    Appointment,
    Clinic,
    Episode,
    FollowUpMilestone,
    Membership,
    PainEntry,
    Patient,
    TransitionLog,
)
from pathway.stages import Role  # noqa: E402

# Where an episode ends up, out of 20: (the stages it passes through, its final stage, the transitions).
PATHS = [
    (["evaluation"], "evaluation", []),
    (["evaluation"], "evaluation", []),
    (["evaluation"], "not_candidate", ["decline_candidacy"]),
    (["evaluation"], "withdrawn", ["withdraw"]),
    (["evaluation", "trial"], "trial", ["start_trial"]),
    (["evaluation", "trial"], "trial_failed", ["start_trial", "abort_trial"]),
    (["evaluation", "trial", "trial_review"], "trial_review", ["start_trial", "end_trial"]),
    (["evaluation", "trial", "trial_review"], "trial_failed", ["start_trial", "end_trial", "fail_trial"]),
    (["evaluation", "trial", "trial_review", "implant"], "implant", ["start_trial", "end_trial", "approve_implant"]),
] + [(["evaluation", "trial", "trial_review", "implant", "follow_up"], "follow_up",
      ["start_trial", "end_trial", "approve_implant", "record_implant"])] * 9 + [
    (["evaluation", "trial", "trial_review", "implant", "follow_up"], "explanted",
     ["start_trial", "end_trial", "approve_implant", "record_implant", "explant"]),
    (["evaluation", "trial", "trial_review", "implant", "follow_up"], "discharged",
     ["start_trial", "end_trial", "approve_implant", "record_implant", "discharge"]),
]
TARGET = {"start_trial": "trial", "end_trial": "trial_review", "approve_implant": "implant",
          "record_implant": "follow_up", "decline_candidacy": "not_candidate", "withdraw": "withdrawn",
          "abort_trial": "trial_failed", "fail_trial": "trial_failed", "explant": "explanted",
          "discharge": "discharged"}
DWELL = {"evaluation": 30, "trial": 6, "trial_review": 5, "implant": 25, "follow_up": 200}


def populate(n: int) -> Clinic:
    """Synthetic load, written in bulk for speed: the product itself only moves episodes through the services."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    clinic = Clinic.objects.create(slug="bench", name="Bench Pain Clinic", time_zone="America/Chicago",
                                   phone="+15550100100")
    coordinator = User.objects.create_user("bench-coordinator", password="pass-word-123")
    Membership.objects.create(user=coordinator, clinic=clinic, role=Role.COORDINATOR)
    physicians = []
    for i in range(8):
        doctor = User.objects.create_user(f"bench-dr{i}", first_name="Doctor", last_name=f"Number{i}")
        Membership.objects.create(user=doctor, clinic=clinic, role=Role.PHYSICIAN)
        physicians.append(doctor)
    now = timezone.now()
    patients = Patient.objects.bulk_create(
        (Patient(clinic=clinic, mrn=f"B{i:07d}", given_name=f"Given{i}", family_name=f"Family{i % 997}",
                 birth_date=now.date() - timedelta(days=365 * 50 + i % 9000)) for i in range(n)), batch_size=5000)
    plans = []
    for i, patient in enumerate(patients):
        stages, final, transitions = PATHS[i % len(PATHS)]
        opened = now - timedelta(days=3 * 365 - 1) + timedelta(minutes=(3 * 365 - 2) * 24 * 60 * i // n)
        moments, at = [], opened
        for _ in transitions:
            at = at + timedelta(days=DWELL[stages[min(len(moments), len(stages) - 1)]] + i % 7)
            moments.append(min(at, now - timedelta(hours=1)))
        plans.append((patient, opened, final, transitions, moments))
    episodes = Episode.objects.bulk_create((
        Episode(clinic=clinic, patient=patient, physician=physicians[i % 8], relief_threshold=50, stage=final,
                stage_entered_at=moments[-1] if moments else opened, end_reason="Synthetic reason" if final in (
                    "not_candidate", "withdrawn", "explanted", "discharged", "trial_failed") else "",
                trial_lead_placement_date=moments[0].date() if transitions[:1] == ["start_trial"] else None,
                trial_lead_removal_date=moments[1].date() if transitions[1:2] == ["end_trial"] else None,
                trial_expected_end=moments[0].date() + timedelta(days=7) if transitions[:1] == ["start_trial"]
                else None,
                implant_date=moments[3].date() if len(transitions) > 3 else None)
        for i, (patient, opened, final, transitions, moments) in enumerate(plans)), batch_size=5000)
    logs, entries, milestones, appointments = [], [], [], []
    for i, (episode, (patient, opened, _final, transitions, moments)) in enumerate(zip(episodes, plans, strict=True)):
        stage = "evaluation"
        for name, at in zip(transitions, moments, strict=True):
            logs.append(TransitionLog(episode=episode, transition=name, from_stage=stage, to_stage=TARGET[name],
                                      actor_label="bench", at=at))
            stage = TARGET[name]
        entries.append(PainEntry(episode=episode, nrs=8, phase="baseline", recorded_at=opened + timedelta(days=1),
                                 sleep_quality=3, activity_limitation=8))
        if transitions[:1] == ["start_trial"]:
            entries += [PainEntry(episode=episode, nrs=3 + d % 3, phase="trial", percent_relief=60,
                                  recorded_at=moments[0] + timedelta(days=d, hours=3)) for d in range(5) if (i + d) % 6]
        if len(transitions) > 3:
            implant = moments[3]
            for months in (3, 6, 12):
                due = implant.date() + timedelta(days=30 * months)
                milestones.append(FollowUpMilestone(
                    episode=episode, key=f"month_{months}", label=f"{months}-month follow-up", kind="follow_up",
                    due_on=due, window_start=due - timedelta(days=14), window_end=due + timedelta(days=14)))
                at = implant + timedelta(days=30 * months)
                if at < now:
                    entries.append(PainEntry(episode=episode, nrs=2 + (i + months) % 5, phase="follow_up",
                                             recorded_at=at, sleep_quality=7, activity_limitation=3,
                                             medication_use="less"))
        for k in range(2):
            starts = opened + timedelta(days=7 * k + 2)
            appointments.append(Appointment(
                clinic=clinic, patient=patient, episode=episode, kind="consultation", starts_at=starts,
                ends_at=starts + timedelta(minutes=30), status="noshow" if (i + k) % 9 == 0 else "fulfilled",
                confirmed_at=starts - timedelta(days=1) if (i + k) % 2 else None))
    TransitionLog.objects.bulk_create(logs, batch_size=5000)
    PainEntry.objects.bulk_create(entries, batch_size=5000)
    FollowUpMilestone.objects.bulk_create(milestones, batch_size=5000)
    Appointment.objects.bulk_create(appointments, batch_size=5000)
    # created_at is auto_now_add: date each episode to the day it was opened.
    with db.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE opened (id bigint, at timestamptz)")
        rows = [(e.pk, plan[1]) for e, plan in zip(episodes, plans, strict=True)]
        for start in range(0, len(rows), 10_000):
            cursor.executemany("INSERT INTO opened VALUES (%s, %s)", rows[start:start + 10_000])
        cursor.execute(f"UPDATE {Episode._meta.db_table} e SET created_at = o.at FROM opened o WHERE e.id = o.id")
        cursor.execute("ANALYZE")
    print(f"{len(logs)} stage changes, {len(entries)} pain entries, {len(milestones)} milestones, "
          f"{len(appointments)} appointments")
    return clinic


def measure(label: str, call) -> None:
    call()  # warm up
    timings, sql = [], []
    for _ in range(args.runs):
        with CaptureQueriesContext(db) as queries:
            start = time.perf_counter()
            call()
            timings.append((time.perf_counter() - start) * 1000)
        sql.append(sum(float(q["time"]) for q in queries) * 1000)
    print(f"{label:<44} median {statistics.median(timings):7.1f} ms (SQL {statistics.median(sql):6.1f} ms)   "
          f"max {max(timings):7.1f} ms   {len(queries):3d} queries")
    record(f"clinic {label}", statistics.median(timings), unit="ms", command="benchmarks/report_bench.py")


def main() -> None:
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        clinic = populate(args.episodes)
        print(f"{Episode.objects.count()} episodes over three years in one clinic (filled in "
              f"{time.perf_counter() - started:.1f} s), {args.runs} runs each, PostgreSQL, DEBUG off")
        today = clinic_today(clinic)
        for label, days in (("report, three years", 3 * 365), ("report, one year", 365), ("report, one month", 30)):
            report = clinic_report(clinic=clinic, start=today - timedelta(days=days - 1), end=today)
            measure(f"{label} ({report.started} episodes)",
                    lambda days=days: clinic_report(clinic=clinic, start=today - timedelta(days=days - 1), end=today))
        doctor = clinic.memberships.filter(role=Role.PHYSICIAN).first().user
        measure("report, one year, one physician", lambda: clinic_report(
            clinic=clinic, start=today - timedelta(days=364), end=today, physician=doctor))
        client = Client()
        client.force_login(clinic.memberships.get(role=Role.COORDINATOR).user)
        query = {"start": (today - timedelta(days=364)).isoformat(), "end": today.isoformat(), "format": "csv"}

        def csv():
            response = client.get("/api/v1/reports/clinic/", query)
            assert response.status_code == 200, response.status_code

        measure("CSV through the API, one year", csv)
    finally:
        db.close()
        if not args.keep:
            bench_db.drop()


if __name__ == "__main__":
    main()
