"""`manage.py hl7_listen` as its own process on PostgreSQL: stopped and started again, it lost nothing it ACKed."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from hl7_feed.models import InboundHL7Message
from pathway.models import Appointment
from tests.factories import PatientFactory

from .conftest import local, siu, ts
from .test_listener import send_all

ROOT = Path(__file__).parents[2]


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_listener(port: int) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    host, port_ = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port_}/{db['NAME']}"  # the test database
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    process = subprocess.Popen([sys.executable, "manage.py", "hl7_listen", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    assert "HL7 v2 MLLP listener on" in line, line
    return process


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(20)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_restarted_listener_keeps_what_it_acked_and_takes_the_resend_once(clinic, day):
    PatientFactory(clinic=clinic, mrn="MRN1001")
    booking = siu("S12", ref="APT-R", start=ts(day, "0900"), control_id="R-1")
    port = spare_port()

    first = start_listener(port)
    try:
        assert [str(a["MSA.F1"]) for a in send_all(port, [booking])] == ["AA"]
    finally:
        assert stop(first) == 0

    second = start_listener(port)
    try:
        # The engine did not see the ACK (say) and sends R-1 again, then the reschedule.
        acks = send_all(port, [booking, siu("S13", ref="APT-R", start=ts(day, "1000"), control_id="R-2")])
    finally:
        assert stop(second) == 0

    assert [(str(a["MSA.F1"]), str(a["MSA.F2"])) for a in acks] == [("AA", "R-1"), ("AA", "R-2")]
    appointment = Appointment.objects.get(clinic=clinic)
    assert (appointment.external_ref, appointment.starts_at) == ("APT-R", local(day, "1000"))
    assert sorted(InboundHL7Message.objects.values_list("control_id", flat=True)) == ["R-1", "R-2"]
