"""How the API's 50-row pages compare with the floor: the same rows by one raw SQL query, JSON-encoded.

Creates a database of its own (BENCH_DATABASE_URL's name + "_api"), seeds 10,000 synthetic patients, each
with an open episode, pain entries, an appointment and a trial authorization, in bulk; then times a page of
patients/ and appointments/ (front-desk key), episodes/, caseload/ and authorizations/ (coordinator key, so the
clinical side is serialized too) through the full stack (Django's test client: middleware, authentication,
throttling, audit row, serializers, rendering) next to the floor, prints the ratios, and drops the database.
Database connections are kept between requests as production keeps them (DATABASE_CONN_MAX_AGE=60).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/drg_bench .venv/bin/python benchmarks/api_bench.py
    options: --patients N (default 10000), --runs N (default 30), --keep (leave the database)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--patients", type=int, default=10_000)
parser.add_argument("--runs", type=int, default=30)
parser.add_argument("--keep", action="store_true")
args = parser.parse_args()

import os  # noqa: E402

from benchdb import BenchDatabase  # noqa: E402
from benchtable import record  # noqa: E402

os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")  # as production: a connection per process, not per request

bench_db = BenchDatabase("_api").point_django_at()
bench_db.create()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection as db  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.utils.encoders import JSONEncoder  # noqa: E402

from api.models import ClinicAPIKey  # noqa: E402
from pathway.models import (  # noqa: E402
    Appointment,
    ChecklistItem,
    Clinic,
    Episode,
    Membership,
    PainEntry,
    Patient,
    PriorAuthorization,
)
from pathway.stages import ChecklistItemKind, PainPhase, Role  # noqa: E402


def seed(n: int) -> tuple[str, str]:
    from django.contrib.auth import get_user_model

    now = timezone.now()
    clinic = Clinic.objects.create(slug="bench", name="Bench Pain Clinic", phone="+15550100100",
                                   time_zone="America/Chicago")
    users = get_user_model().objects
    physicians = [users.create_user(f"doc{i}") for i in range(4)]
    coordinator = users.create_user("coord")
    Membership.objects.bulk_create(
        [Membership(user=p, clinic=clinic, role=Role.PHYSICIAN) for p in physicians]
        + [Membership(user=coordinator, clinic=clinic, role=Role.COORDINATOR)]
    )
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, mrn=f"B{i:06d}", given_name=f"Given{i}", family_name=f"Family{i % 997}",
                birth_date=(now - timedelta(days=365 * 40 + i)).date(), phone=f"+1555{i:07d}",
                email=f"p{i}@example.org", sms_consent=i % 2 == 0, sms_consent_at=now if i % 2 == 0 else None)
        for i in range(n)
    )
    # Synthetic benchmark rows in the first stage; the stage itself is never assigned.
    episodes = Episode.objects.bulk_create(
        Episode(clinic=clinic, patient=patient, physician=physicians[i % 4], coordinator=coordinator,
                stage_entered_at=now - timedelta(days=i % 120), relief_threshold=50, diagnosis="crps_1",
                icd10_code="G90.521", pain_areas=[{"area": "foot", "side": "left"}])
        for i, patient in enumerate(patients)
    )
    ChecklistItem.objects.bulk_create(ChecklistItem(episode=e, kind=k) for e in episodes for k in ChecklistItemKind)
    PainEntry.objects.bulk_create(
        PainEntry(episode=e, recorded_at=now - timedelta(days=d), nrs=7 - d, phase=PainPhase.BASELINE)
        for e in episodes for d in (1, 2)
    )
    Appointment.objects.bulk_create(
        Appointment(clinic=clinic, patient=e.patient, episode=e if i % 2 else None, kind="consultation",
                    starts_at=now + timedelta(days=i % 60, hours=1), ends_at=now + timedelta(days=i % 60, hours=2))
        for i, e in enumerate(episodes)
    )
    PriorAuthorization.objects.bulk_create(
        PriorAuthorization(episode=e, step="trial", status="approved", payer="Synthetic Health Plan",
                           number=f"PA-{i:06d}", submitted_on=now.date(), valid_from=now.date(),
                           valid_to=(now + timedelta(days=90)).date())
        for i, e in enumerate(episodes)
    )
    _, desk_key = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.FRONT_DESK, name="bench desk")
    _, coord_key = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.COORDINATOR, name="bench coord")
    with db.cursor() as cursor:
        cursor.execute("ANALYZE")
    return desk_key, coord_key


FLOORS = {
    "patients/": """
        SELECT p.external_id, p.mrn, p.given_name, p.family_name, p.birth_date, p.phone, p.email,
               p.preferred_channel, p.sms_consent, p.sms_consent_at, p.sms_consent_method, p.email_consent,
               p.email_consent_at, p.email_consent_method, p.diary_consent, p.diary_consent_at,
               p.diary_consent_method, u.username, p.created_at, p.updated_at
        FROM pathway_patient p LEFT JOIN auth_user u ON u.id = p.primary_physician_id
        WHERE p.clinic_id = %(clinic)s ORDER BY p.created_at, p.id LIMIT 50""",
    "episodes/": """
        SELECT e.*, p.external_id, p.mrn, p.given_name, p.family_name, d.username, c.username
        FROM pathway_episode e JOIN pathway_patient p ON p.id = e.patient_id
        JOIN auth_user d ON d.id = e.physician_id LEFT JOIN auth_user c ON c.id = e.coordinator_id
        WHERE e.clinic_id = %(clinic)s ORDER BY e.created_at, e.id LIMIT 50""",
    "appointments/": """
        SELECT a.external_id, p.external_id AS patient, e.external_id AS episode, a.kind, a.starts_at, a.ends_at,
               a.status, a.cancellation_reason, a.confirmed_at, a.external_ref, a.created_at, a.updated_at
        FROM pathway_appointment a JOIN pathway_patient p ON p.id = a.patient_id
        LEFT JOIN pathway_episode e ON e.id = a.episode_id
        WHERE a.clinic_id = %(clinic)s ORDER BY a.created_at, a.id LIMIT 50""",
    "authorizations/": """
        SELECT a.*, e.external_id AS episode, p.external_id AS patient,
               (SELECT json_agg(c ORDER BY c.at, c.id) FROM pathway_authorizationstatuschange c
                WHERE c.authorization_id = a.id) AS history
        FROM pathway_priorauthorization a JOIN pathway_episode e ON e.id = a.episode_id
        JOIN pathway_patient p ON p.id = e.patient_id
        WHERE e.clinic_id = %(clinic)s ORDER BY a.created_at, a.id LIMIT 50""",
    "caseload/": """
        SELECT e.*, p.external_id, p.mrn, p.given_name, p.family_name, d.username, c.username
        FROM pathway_episode e JOIN pathway_patient p ON p.id = e.patient_id
        JOIN auth_user d ON d.id = e.physician_id LEFT JOIN auth_user c ON c.id = e.coordinator_id
        WHERE e.clinic_id = %(clinic)s AND e.stage IN ('evaluation', 'trial', 'trial_review', 'implant',
              'follow_up') AND d.username = 'doc0'
        ORDER BY CASE WHEN e.stage = 'trial_review' THEN 0 WHEN e.stage_entered_at < now() - interval '60 days'
                 THEN 2 ELSE 3 END, e.stage_entered_at, e.id LIMIT 50""",
}


def floor(sql: str, clinic_id: int) -> bytes:
    with db.cursor() as cursor:
        cursor.execute(sql, {"clinic": clinic_id})
        names = [col.name for col in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(rows) == 50
    return json.dumps(rows, cls=JSONEncoder).encode()


def median_ms(fn, runs: int) -> float:
    for _ in range(3):
        fn()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def main() -> None:
    call_command("migrate", verbosity=0)
    settings.API = {**settings.API, "THROTTLE_RATE": "1000000/min"}
    started = time.perf_counter()
    desk_key, coord_key = seed(args.patients)
    print(f"seeded {args.patients} patients with an episode, 9 checklist items and 2 pain entries each "
          f"in {time.perf_counter() - started:.1f} s")
    clinic_id = Clinic.objects.get(slug="bench").pk
    desk = Client(HTTP_AUTHORIZATION=f"Api-Key {desk_key}")
    coord = Client(HTTP_AUTHORIZATION=f"Api-Key {coord_key}")
    cases = [("patients/", desk, ""), ("appointments/", desk, ""), ("episodes/", coord, ""),
             ("authorizations/", coord, ""), ("caseload/", coord, "?physician=doc0")]

    print(f"{'page of 50':<16}{'API (ms)':>10}{'floor (ms)':>12}{'ratio':>8}   (median of {args.runs})")
    for path, client, query in cases:
        def api(path=path, client=client, query=query):
            response = client.get(f"/api/v1/{path}{query}")
            assert response.status_code == 200, response.content[:300]
            assert len(response.json()["results"]) == 50

        api_ms = median_ms(api, args.runs)
        floor_ms = median_ms(lambda path=path: floor(FLOORS[path], clinic_id), args.runs)
        print(f"{path:<16}{api_ms:>10.2f}{floor_ms:>12.2f}{api_ms / floor_ms:>7.1f}x")
        record(f"API {path} page of 50, in-process", api_ms, unit="ms", floor=floor_ms, max_ratio=2.0,
               command=f"benchmarks/api_bench.py --runs {args.runs}")


try:
    main()
finally:
    db.close()
    if not args.keep:
        bench_db.drop()
