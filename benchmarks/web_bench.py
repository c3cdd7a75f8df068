"""How quick the board stays with 10,000 open episodes in one clinic.

Creates a database of its own (BENCH_DATABASE_URL's name + "_web"), fills it with synthetic episodes in bulk,
then times the pages as a signed-in coordinator through Django's test client, and drops the database.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/drg_bench .venv/bin/python benchmarks/web_bench.py
    options: --episodes N (default 10000), --runs N (default 15), --keep (leave the database)
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--episodes", type=int, default=10_000)
parser.add_argument("--runs", type=int, default=15)
parser.add_argument("--keep", action="store_true")
args = parser.parse_args()

from benchdb import BenchDatabase  # noqa: E402
from benchtable import record  # noqa: E402

bench_db = BenchDatabase("_web").point_django_at()
bench_db.create()

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection as db  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from pathway.models import ChecklistItem, Clinic, Episode, FollowUpMilestone, Membership, PainEntry, Patient  # noqa: E402
from pathway.stages import ChecklistItemKind, Role  # noqa: E402


def populate(n: int) -> None:
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
    today = now.date()
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, mrn=f"B{i:07d}", given_name=f"Given{i}", family_name=f"Family{i % 997}",
                birth_date=today - timedelta(days=365 * 50 + i % 9000)) for i in range(n)
    )
    shares = [("evaluation", 40), ("trial", 15), ("trial_review", 10), ("implant", 10), ("follow_up", 25)]
    stages = [stage for stage, share in shares for _ in range(share)]
    episodes = Episode.objects.bulk_create(
        Episode(
            clinic=clinic, patient=patient, physician=physicians[i % len(physicians)], relief_threshold=50,
            stage_entered_at=now - timedelta(days=i % 120), on_hold=(i % 37 == 0),
            hold_reason="insurance appeal" if i % 37 == 0 else "", pain_onset_date=today - timedelta(days=400),
            trial_lead_placement_date=today - timedelta(days=i % 10),
            trial_expected_end=today + timedelta(days=3 - i % 9),
            implant_date=today - timedelta(days=i % 400),
        )
        for i, patient in enumerate(patients)
    )
    for stage in {s for s, _ in shares} - {"evaluation"}:
        ids = [e.pk for i, e in enumerate(episodes) if stages[i % len(stages)] == stage]
        Episode.objects.filter(pk__in=ids).update(stage=stage)
    items = []
    for i, episode in enumerate(episodes):
        for k, kind in enumerate(ChecklistItemKind):
            items.append(ChecklistItem(episode=episode, kind=kind, status="met" if (i + k) % 4 else "pending"))
    ChecklistItem.objects.bulk_create(items, batch_size=5000)
    entries = []
    for i, episode in enumerate(episodes):
        entries.append(PainEntry(episode=episode, nrs=8, phase="baseline", recorded_at=now - timedelta(days=30)))
        if stages[i % len(stages)] in ("trial", "trial_review", "implant", "follow_up"):
            entries += [PainEntry(episode=episode, nrs=3 + d % 3, phase="trial", recorded_at=now - timedelta(days=d))
                        for d in range(4)]
    PainEntry.objects.bulk_create(entries, batch_size=5000)
    milestones = []
    for i, episode in enumerate(episodes):
        if stages[i % len(stages)] == "follow_up":
            implant = today - timedelta(days=i % 400)
            for m, (due, start, end) in enumerate([(10, 7, 14), (14, 10, 21), (30, 16, 44), (91, 77, 105)]):
                milestones.append(FollowUpMilestone(
                    episode=episode, key=f"m{m}", label=f"Milestone {m}", kind="follow_up",
                    due_on=implant + timedelta(days=due), window_start=implant + timedelta(days=start),
                    window_end=implant + timedelta(days=end),
                ))
    FollowUpMilestone.objects.bulk_create(milestones, batch_size=5000)
    with db.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(client: Client, label: str, method: str, url: str, data=None) -> None:
    call = getattr(client, method)
    call(url, data or {})  # warm up
    timings, sql = [], []
    for _ in range(args.runs):
        with CaptureQueriesContext(db) as queries:
            start = time.perf_counter()
            response = call(url, data or {})
            timings.append((time.perf_counter() - start) * 1000)
        sql.append(sum(float(q["time"]) for q in queries) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    timings.sort()
    record(f"web {label}, {Episode.objects.count():,} open episodes, in-process", statistics.median(timings),
           unit="ms", command="benchmarks/web_bench.py")
    p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
    print(f"{label:<38} median {statistics.median(timings):7.1f} ms (SQL {statistics.median(sql):5.1f} ms)   "
          f"p95 {p95:7.1f} ms   {len(queries):3d} queries   {len(response.content) // 1024:4d} KiB")


def main() -> None:
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        populate(args.episodes)
        open_count = Episode.objects.count()
        print(f"{open_count} open episodes in one clinic (filled in {time.perf_counter() - started:.1f} s), "
              f"{args.runs} runs each, PostgreSQL, DEBUG off")
        client = Client()
        # Signed in as after a real sign-in; django-axes refuses Client.login, which passes it no request.
        client.force_login(get_user_model().objects.get(username="bench-coordinator"))
        measure(client, "board", "get", "/board/")
        measure(client, "board, one physician", "get", "/board/?physician=bench-dr3")
        measure(client, "board, search 'Family42'", "post", "/board/", {"q": "Family42"})
        measure(client, "board column 'evaluation', page 40", "get", "/board/evaluation/?page=40")
        measure(client, "worklist", "get", "/worklist/")
        measure(client, "patient search 'Family42'", "get", "/patients/", {"q": "Family42"})
        patient = Patient.objects.order_by("pk").last()
        measure(client, "patient page", "get", f"/patients/{patient.external_id}/")
    finally:
        db.close()
        if not args.keep:
            bench_db.drop()


if __name__ == "__main__":
    main()
