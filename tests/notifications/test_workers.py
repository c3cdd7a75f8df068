"""Real Celery workers and beat on PostgreSQL and Redis, started by the test as subprocesses.

Sends are counted by the redis-list SMS backend: each send appends its reminder's id to a Redis list that the
test reads, so sends made by several worker processes are counted in one place. The Twilio tests send over
HTTP to a local stand-in for Twilio's API (`twilio_standin.py`), which counts the messages it created.
Each fault test checks that the fault hit the window it names (e.g. that rows were mid-send at the kill).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from notifications.models import Reminder, ReminderStatus
from pathway.models import Appointment
from tests.factories import ClinicFactory, PatientFactory

from .twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(ROOT / ".venv" / "bin" / "celery")
LEASE_SECONDS = 20


def daytime_zone() -> str:
    """A fixed-offset zone where it is early afternoon now, so quiet hours never get in the way."""
    hour = datetime.now(UTC).hour
    offset = (13 - hour + 12) % 24 - 12  # -12 … 11
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def due_reminders(count: int, patients: int = 20) -> list[str]:
    """`count` appointment reminders due now, for booked appointments two hours from now, shared among
    `patients` patients."""
    clinic = ClinicFactory(slug=f"c-{uuid.uuid4().hex[:8]}", time_zone=daytime_zone())
    people = [PatientFactory(clinic=clinic, sms_consent=True, preferred_channel="sms") for _ in range(patients)]
    now = timezone.now()
    starts = now + timedelta(hours=2)
    appointments = Appointment.objects.bulk_create(
        Appointment(clinic=clinic, patient=people[n % patients], kind="consultation", starts_at=starts,
                    ends_at=starts + timedelta(minutes=30))
        for n in range(count)
    )
    rows = Reminder.objects.bulk_create(
        Reminder(clinic=clinic, patient_id=a.patient_id, appointment=a, purpose="appointment_2h", channel="sms",
                 appointment_starts_at=starts, scheduled_for=now - timedelta(seconds=5),
                 due_at=now - timedelta(seconds=5))
        for a in appointments
    )
    return [str(r.external_id) for r in rows]


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Workers and beats of one test; every process is stopped in `stop()`."""

    def __init__(self, tmp_path: Path, broker_url: str, record_key: str, delay: float = 0.0,
                 lease_seconds: int = LEASE_SECONDS, twilio: TwilioStandIn | None = None):
        name = connection.settings_dict["NAME"]  # pytest-django's test database, e.g. test_d
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}?conn_max_age=60",
            "REDIS_URL": broker_url,
            "NOTIFICATIONS_SMS_BACKEND": "redis-list",
            "NOTIFICATIONS_SMS_RECORD_REDIS_URL": settings.REDIS_URL,
            "NOTIFICATIONS_SMS_RECORD_KEY": record_key,
            "NOTIFICATIONS_SMS_RECORD_DELAY_SECONDS": str(delay),
            "NOTIFICATIONS_SWEEP_INTERVAL_SECONDS": "1",
            "NOTIFICATIONS_SWEEP_BATCH_SIZE": "200",
            "NOTIFICATIONS_LEASE_SECONDS": str(lease_seconds),
            "TZ": "UTC",  # log times compare with the database's
        }
        if twilio is not None:
            self.env.update({
                "NOTIFICATIONS_SMS_BACKEND": "twilio", "TWILIO_API_BASE": twilio.base_url,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_FROM_NUMBER": "+15005550006",
            })
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp_path / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            [CELERY, "-A", "config", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches the pool's children too
        )

    def worker(self, name: str, concurrency: int = 4) -> None:
        self.start(name, "worker", "-l", "info", "-c", str(concurrency), "-n", f"{name}@%h",
                   "--without-gossip", "--without-mingle", "--without-heartbeat")

    def beat(self, name: str) -> None:
        self.start(name, "beat", "-l", "warning", "-s", str(self.tmp_path / f"{name}-schedule"))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=20)

    def signal(self, name: str, sig: int) -> None:
        os.killpg(self.processes[name].pid, sig)

    def stop(self) -> None:
        for name in list(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.processes[name].pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.processes.clear()

    def sweeps_finished(self, name: str) -> list[datetime]:
        """When each sweep that worker `name` ran finished, from its log."""
        # Celery's own format ("[time: INFO/…]") or the project's ("time INFO celery.app.trace …").
        pattern = re.compile(r"^\[?([\d-]+ [\d:]+,\d+)\S* INFO\S* \S*\s*Task notifications\.sweep\[\S+\] succeeded",
                             re.MULTILINE)
        text = (self.tmp_path / f"{name}.log").read_text()
        return [datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC) for t in pattern.findall(text)]

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp_path.glob("*.log")))


def recorded(key: str) -> list[str]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return [json.loads(item)["reference"] for item in client.lrange(key, 0, -1)]


def open_count() -> int:
    return Reminder.objects.filter(status__in=[ReminderStatus.PENDING, ReminderStatus.SENDING]).count()


def mid_send() -> set[str]:
    """Rows whose send had started and whose outcome was not written: what a kill interrupted."""
    return {str(pk) for pk in Reminder.objects.filter(
        status=ReminderStatus.SENDING, send_started_at__isnull=False).values_list("external_id", flat=True)}


def wait_until(condition, timeout: float, cluster: Cluster, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    counts = dict(Reminder.objects.values_list("status").annotate(n=Count("pk")))
    reasons = list(Reminder.objects.values_list("reason", flat=True).distinct()[:5])
    pytest.fail(f"timed out waiting for {what}: {counts} {reasons}\n{cluster.logs()}")


@pytest.fixture
def record_key():
    key = f"test-sms-{uuid.uuid4().hex}"
    yield key
    redis.Redis.from_url(settings.REDIS_URL).delete(key, f"{key}:by-reference")


@pytest.fixture
def shared_broker():
    """The suite's Redis database, emptied of any queued task before and after."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("celery", "unacked", "unacked_index")
    yield settings.REDIS_URL
    client.delete("celery", "unacked", "unacked_index")


def test_two_sweeps_and_two_workers_send_each_of_1000_reminders_exactly_once(tmp_path, record_key, shared_broker):
    ids = due_reminders(1000)
    cluster = Cluster(tmp_path, shared_broker, record_key)
    try:
        cluster.worker("w1")
        cluster.worker("w2")
        cluster.beat("beat1")
        cluster.beat("beat2")  # two schedulers: sweeps overlap, claims must not
        wait_until(lambda: open_count() == 0, 120, cluster, "every reminder to be sent")
        time.sleep(2)  # a late duplicate would show up here
    finally:
        cluster.stop()
    sent = recorded(record_key)
    assert len(sent) == 1000 and sorted(sent) == sorted(ids)
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == 1000
    assert not Reminder.objects.filter(provider_message_id="").filter(status=ReminderStatus.SENT).exists()


def test_a_worker_killed_mid_batch_then_restarted_loses_nothing_and_sends_nothing_twice(
    tmp_path, record_key, shared_broker
):
    ids = due_reminders(1000)
    cluster = Cluster(tmp_path, shared_broker, record_key, delay=0.02)
    try:
        cluster.worker("w1")
        cluster.beat("beat")
        wait_until(lambda: len(recorded(record_key)) >= 150, 60, cluster, "the batch to be under way")
        # Freeze the worker and its pool until the freeze holds sends in flight (a loaded machine can stop it
        # between two sends), then SIGKILL the frozen group: the kill lands mid-send.
        for _ in range(50):
            wait_until(lambda: bool(mid_send()), 60, cluster, "a send to be in flight")
            cluster.signal("w1", signal.SIGSTOP)
            if mid_send():
                break
            cluster.signal("w1", signal.SIGCONT)
        cluster.kill("w1")  # SIGKILL to the worker and its pool, mid-batch
        at_kill = recorded(record_key)
        interrupted = mid_send()
        cluster.worker("w1b")
        wait_until(lambda: open_count() == 0, 120, cluster, "every reminder to be settled")
        time.sleep(2)
    finally:
        cluster.stop()
    # The window this test is about was hit: sends were under way when the worker died.
    assert interrupted and len(at_kill) < 1000
    delivered_unrecorded = interrupted & set(at_kill)
    print(f"killed after {len(at_kill)} sends; {len(interrupted)} mid-send, "
          f"{len(delivered_unrecorded)} of them delivered but not recorded")
    sent = recorded(record_key)
    assert len(sent) == len(set(sent)), "a reminder was sent twice"
    assert sorted(sent) == sorted(ids)
    rows = {str(r.external_id): r for r in Reminder.objects.all()}
    assert {i for i, r in rows.items() if r.status == ReminderStatus.SENT} == set(ids)
    # Each interrupted send was resolved by asking the provider on a later attempt, not by a blind resend.
    assert all(rows[i].attempts >= 2 for i in interrupted)


@pytest.mark.parametrize("backend", ["redis-list", "twilio"])
def test_sends_slower_than_the_lease_go_out_once_and_their_rows_say_sent(tmp_path, record_key, shared_broker,
                                                                         backend):
    """The issue's case: LEASE_SECONDS=1 and a 3-second send gave two deliveries (or, with Twilio, one
    delivery and a row saying "failed, outcome unknown")."""
    lease = 1
    ids = due_reminders(4, patients=4)
    with TwilioStandIn(delay=3.0 if backend == "twilio" else 0.0) as twilio:
        cluster = Cluster(tmp_path, shared_broker, record_key, delay=3.0 if backend == "redis-list" else 0.0,
                          lease_seconds=lease, twilio=twilio if backend == "twilio" else None)
        try:
            cluster.worker("w1", concurrency=8)  # free pool slots: the sweeps run while the sends are held up
            cluster.beat("beat")  # a sweep every second
            wait_until(lambda: open_count() == 0, 90, cluster, "every reminder to be sent")
            time.sleep(3)  # a late duplicate would show up here
        finally:
            cluster.stop()
        deliveries = [m["to"] for m in twilio.messages] if backend == "twilio" else recorded(record_key)
        sweeps = cluster.sweeps_finished("w1")
    rows = list(Reminder.objects.all())
    assert len(deliveries) == 4 and len(set(deliveries)) == 4
    assert {r.status for r in rows} == {ReminderStatus.SENT} and {r.attempts for r in rows} == {1}
    # The window was hit: for every row, a sweep ran after its send had outlived its lease and before it ended.
    for row in rows:
        past_lease = row.send_started_at + timedelta(seconds=lease)
        assert any(past_lease < sweep < row.sent_at for sweep in sweeps), (row.send_started_at, row.sent_at, sweeps)
    if backend == "redis-list":
        assert sorted(deliveries) == sorted(ids)
    else:
        assert {r.provider_message_id for r in rows} == {m["sid"] for m in twilio.messages}


def test_a_worker_paused_past_its_lease_mid_send_keeps_its_rows_and_nothing_is_sent_twice(
    tmp_path, record_key, shared_broker
):
    ids = due_reminders(40, patients=40)
    cluster = Cluster(tmp_path, shared_broker, record_key, delay=0.5, lease_seconds=1)
    try:
        cluster.worker("w1")
        cluster.beat("beat")
        wait_until(lambda: len(recorded(record_key)) >= 4, 60, cluster, "the sends to be under way")
        # A long GC pause, a frozen VM: the worker holds its sends. On a loaded machine the worker can be
        # between sends at that instant; then let it go on and pause it again, until sends are held.
        for _ in range(50):
            wait_until(lambda: bool(mid_send()), 60, cluster, "a send to be in flight")
            cluster.signal("w1", signal.SIGSTOP)
            paused = mid_send()
            if paused:
                break
            cluster.signal("w1", signal.SIGCONT)
        cluster.worker("w2")  # a healthy worker sweeps meanwhile and would take over any row it could
        time.sleep(4)  # four leases
        held = mid_send()
        cluster.signal("w1", signal.SIGCONT)
        wait_until(lambda: open_count() == 0, 120, cluster, "every reminder to be settled")
        time.sleep(2)
    finally:
        cluster.stop()
    # The window was hit: sends were under way at the pause and still held, unanswered, four leases later.
    assert paused and paused <= held
    sent = recorded(record_key)
    assert len(sent) == len(set(sent)) == 40 and sorted(sent) == sorted(ids)
    rows = {str(r.external_id): r for r in Reminder.objects.all()}
    assert {r.status for r in rows.values()} == {ReminderStatus.SENT}
    assert all(rows[i].attempts == 1 for i in paused)  # finished by the paused worker, never taken over


def test_twilio_a_worker_killed_mid_send_each_reminder_is_delivered_once_and_its_row_tells_the_truth(
    tmp_path, record_key, shared_broker
):
    """Twilio's real HTTP path: a killed worker leaves messages Twilio created but the row never heard of."""
    count = 80
    ids = due_reminders(count, patients=count)  # one number each: a number's messages tell whose they are
    phones = dict(Reminder.objects.values_list("external_id", "patient__phone"))
    with TwilioStandIn(delay=0.5) as twilio:  # answers half a second after creating the message
        cluster = Cluster(tmp_path, shared_broker, record_key, lease_seconds=5, twilio=twilio)
        try:
            cluster.worker("w1")
            cluster.beat("beat")
            wait_until(lambda: len(twilio.messages) >= 20, 60, cluster, "the sends to be under way")
            cluster.kill("w1")
            interrupted = mid_send()
            created_at_kill = {m["to"]: m["sid"] for m in twilio.messages}
            cluster.worker("w1b")
            wait_until(lambda: open_count() == 0, 120, cluster, "every reminder to be settled")
            time.sleep(2)
        finally:
            cluster.stop()
        messages, posts = list(twilio.messages), twilio.posts()
        lookups = sum(1 for method, _ in twilio.requests if method == "GET")
    # The window was hit: rows were mid-send at the kill, and Twilio had created messages for some of them
    # that their rows had not recorded.
    unrecorded = {i for i in interrupted if str(phones[uuid.UUID(i)]) in created_at_kill}
    print(f"{len(interrupted)} mid-send at the kill, {len(unrecorded)} created by Twilio but unrecorded; "
          f"{lookups} lookups")
    assert unrecorded and lookups >= len(interrupted)
    # Every reminder delivered exactly once, and each row says so with the id Twilio gave that message.
    by_number = {}
    for message in messages:
        by_number.setdefault(message["to"], []).append(message["sid"])
    assert posts == len(messages) == count
    assert all(len(sids) == 1 for sids in by_number.values()) and len(by_number) == count
    rows = {str(r.external_id): r for r in Reminder.objects.all()}
    assert sorted(rows) == sorted(ids)
    for i, row in rows.items():
        assert row.status == ReminderStatus.SENT
        assert [row.provider_message_id] == by_number[phones[uuid.UUID(i)]]


def test_redis_stopped_and_started_during_a_sweep_loses_nothing(tmp_path, record_key):
    port = spare_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis_args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", str(tmp_path)]

    def start_redis():
        process = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        for _ in range(50):
            try:
                client.ping()
                return process
            except redis.ConnectionError:
                time.sleep(0.1)
        process.kill()
        pytest.fail("redis-server did not start")

    ids = due_reminders(600)
    server = start_redis()
    cluster = Cluster(tmp_path, broker, record_key, delay=0.02)
    try:
        cluster.worker("w1")
        cluster.beat("beat")
        wait_until(lambda: len(recorded(record_key)) >= 100, 60, cluster, "the sweep to be under way")
        server.terminate()  # without persistence: every queued send task is lost with it
        server.wait(timeout=10)
        time.sleep(3)
        server = start_redis()
        wait_until(lambda: open_count() == 0, 150, cluster, "every reminder to be settled after the restart")
        time.sleep(2)
    finally:
        cluster.stop()
        server.terminate()
        server.wait(timeout=10)
    sent = recorded(record_key)
    assert len(sent) == len(set(sent)), "a reminder was sent twice"
    assert sorted(sent) == sorted(ids)
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == 600
