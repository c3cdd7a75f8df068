"""Reminder sweep benchmark: does the sweep's cost follow what is due, not what is stored?

Times one sweep (claiming the same 1,000 due reminders in batches) with 10,000 and then with 1,000,000 pending
future reminders in the table, and the send rate of one worker process with the in-memory SMS backend.
Runs on PostgreSQL in a database of its own, created and dropped here:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/drg_bench .venv/bin/python benchmarks/reminder_bench.py
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from benchdb import BenchDatabase
from benchtable import record

bench_db = BenchDatabase("_reminders").point_django_at()
os.environ["NOTIFICATIONS_SMS_BACKEND"] = "in-memory"

DUE = 1_000
REPEATS = 5


def daytime_zone() -> str:
    offset = (13 - datetime.now(UTC).hour + 12) % 24 - 12
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def insert_future(clinic_id: int, count: int) -> None:
    """Pending reminders due in the coming weeks, by COPY (a million rows in seconds)."""
    from django.db import connection

    now = datetime.now(UTC)
    columns = ("external_id, created_at, updated_at, clinic_id, purpose, channel, scheduled_for, due_at, status, "
               "attempts, provider_message_id, reason, template")
    with connection.cursor() as cursor, cursor.connection.cursor().copy(
        f"COPY notifications_reminder ({columns}) FROM STDIN"
    ) as copy:
        for n in range(count):
            due = now + timedelta(hours=1, seconds=n % (30 * 24 * 3600))
            copy.write_row((uuid.uuid4(), now, now, clinic_id, "appointment_24h", "sms", due, due, "pending", 0,
                            "", "", ""))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_reminder")


def insert_due(count: int) -> None:
    from notifications.models import Reminder
    from pathway.models import Appointment, Clinic, Patient

    clinic = Clinic.objects.create(slug="due", name="Due Clinic", time_zone=daytime_zone(), phone="+15550100100")
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, mrn=f"B{n:05d}", given_name="Bench", family_name="Patient", birth_date="1970-01-01",
                phone=f"+1555{n:07d}", sms_consent=True)
        for n in range(50)
    )
    now = datetime.now(UTC)
    starts = now + timedelta(hours=2)
    appointments = Appointment.objects.bulk_create(
        Appointment(clinic=clinic, patient=patients[n % 50], kind="consultation", starts_at=starts,
                    ends_at=starts + timedelta(minutes=30))
        for n in range(count)
    )
    Reminder.objects.bulk_create(
        Reminder(clinic=clinic, patient_id=a.patient_id, appointment=a, purpose="appointment_2h", channel="sms",
                 appointment_starts_at=starts, scheduled_for=now - timedelta(seconds=30),
                 due_at=now - timedelta(seconds=30))
        for a in appointments
    )


def sweep_once() -> list:
    """What the sweep task does before enqueueing: claim batches until a short one."""
    from django.conf import settings

    from notifications.services import reminders_claim_due

    batch = settings.NOTIFICATIONS["SWEEP_BATCH_SIZE"]
    claims = []
    while True:
        got = reminders_claim_due(limit=batch)
        claims += got
        if len(got) < batch:
            return claims


def release_all() -> None:
    from notifications.models import Reminder

    Reminder.objects.filter(status="sending").update(status="pending", lease_token=None, lease_expires_at=None)


def time_sweeps() -> tuple[float, int]:
    timings, claimed = [], 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        claims = sweep_once()
        timings.append(time.perf_counter() - start)
        claimed = len(claims)
        release_all()
    return statistics.median(timings), claimed


def query_plan() -> str:
    from django.db import connection
    from django.utils import timezone

    from notifications.models import Reminder

    query = (Reminder.objects.filter(status="pending", due_at__lte=timezone.now()).order_by("due_at")
             .values_list("pk")[:500])
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return " / ".join(row[0].strip() for row in cursor.fetchall()[:3])


def main() -> None:
    import django

    bench_db.create()
    django.setup()
    from django.core.management import call_command

    from notifications.channels import sms
    from notifications.models import Reminder
    from notifications.services import reminder_send
    from pathway.models import Clinic

    try:
        call_command("migrate", verbosity=0)
        future_clinic = Clinic.objects.create(slug="future", name="Future Clinic", time_zone="UTC",
                                              phone="+15550100101")
        insert_due(DUE)
        results = {}
        stored = 0
        for target in (10_000, 1_000_000):
            started = time.perf_counter()
            insert_future(future_clinic.pk, target - stored)
            stored = target
            print(f"inserted pending future reminders up to {target:,} in {time.perf_counter() - started:.1f} s")
            sweep_once()  # warm the cache and the connection
            release_all()
            results[target], claimed = time_sweeps()
            assert claimed == DUE, claimed
            print(f"sweep with {target:>9,} pending future + {DUE:,} due: {results[target] * 1000:7.1f} ms "
                  f"(median of {REPEATS}, claimed {claimed:,})")
        print(f"plan: {query_plan()}")
        ratio = results[1_000_000] / results[10_000]
        print(f"ratio 1,000,000 / 10,000: {ratio:.2f} ({'under' if ratio < 1.5 else 'OVER'} 1.5)")
        record(f"sweep claiming {DUE:,} due, 1M pending (floor: with 10k)", results[1_000_000] * 1000, unit="ms",
               floor=results[10_000] * 1000, max_ratio=1.5, command="benchmarks/reminder_bench.py")

        claims = sweep_once()
        sms.outbox.clear()
        started = time.perf_counter()
        outcomes = [reminder_send(reminder_id=c.reminder_id, claim=c.token) for c in claims]
        elapsed = time.perf_counter() - started
        assert outcomes.count("sent") == DUE == len(sms.outbox), (outcomes[:3], len(sms.outbox))
        assert Reminder.objects.filter(status="sent").count() == DUE
        print(f"send rate, one worker process, in-memory SMS backend: {DUE / elapsed:,.0f} reminders/s "
              f"({DUE:,} in {elapsed:.2f} s)")
        record("reminder sends, one process, in-memory SMS", DUE / elapsed, unit="sends/s", at_least=500,
               command="benchmarks/reminder_bench.py")
    finally:
        bench_db.drop()


if __name__ == "__main__":
    main()
