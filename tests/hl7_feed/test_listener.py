"""A day of the scheduling system's messages over real MLLP: the `hl7` library's client against our listener."""

import asyncio
import datetime as dt
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
import pytest
from hl7.client import read_loose
from hl7.mllp import open_hl7_connection

from hl7_feed.listener import serve
from hl7_feed.models import InboundHL7Message, MessageStatus
from notifications.models import Reminder, ReminderStatus
from pathway.models import Appointment, Patient
from pathway.stages import AppointmentStatus, Role
from tests.factories import ClinicFactory, PatientFactory
from tests.fhir.conftest import key_client

from .conftest import adt, local, siu, ts


class Listener:
    """`serve` on a spare port in its own thread and event loop, as `manage.py hl7_listen` runs it."""

    def __init__(self):
        self.port = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._loop.run_until_complete(serve("127.0.0.1", 0, stop=self._stop, on_listening=self._listening))

    def _listening(self, port):
        self.port = port
        self._ready.set()

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(10), "the listener did not start"
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def send_all(port: int, messages: list[str]) -> list[hl7.Message]:
    async def exchange():
        reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
        acks = []
        for raw in messages:
            writer.writemessage(hl7.parse(raw))
            await writer.drain()
            acks.append(await asyncio.wait_for(reader.readmessage(), 10))
        writer.close()
        await writer.wait_closed()
        return acks

    return asyncio.run(exchange())


@pytest.fixture
def day_of_messages(clinic, day):
    PatientFactory(clinic=clinic, mrn="MRN1001", given_name="Ana", family_name="Lopez", sms_consent=True)
    return [
        adt("A04", mrn="MRN2002", control_id="D-01"),                                          # new patient
        siu("S12", ref="APT-1", mrn="MRN1001", start=ts(day, "0900"), control_id="D-02"),
        siu("S12", ref="APT-2", mrn="MRN2002", start=ts(day, "0945"), code="psych_evaluation",
            control_id="D-03"),
        siu("S12", ref="APT-3", mrn="MRN2002", start=ts(day, "1300"), code="imaging", control_id="D-04"),
        siu("S13", ref="APT-1", mrn="MRN1001", start=ts(day, "1100"), minutes=45, control_id="D-05"),
        siu("S13", ref="APT-1", mrn="MRN1001", start=ts(day, "1100"), minutes=45, control_id="D-05"),  # resend
        siu("S15", ref="APT-3", mrn="MRN2002", start=ts(day, "1300"), reason="PATREQ^Patient asked",
            control_id="D-06"),
        siu("S26", ref="APT-2", mrn="MRN2002", start=ts(day, "0945"), control_id="D-07"),
        adt("A08", mrn="MRN2002", family="Tran", telecom="", control_id="D-08"),
        siu("S12", ref="APT-4", mrn="MRN7777", start=ts(day, "1500"), control_id="D-09"),     # unknown patient
        "MSH|^~\\&|EPICCADENCE|NORTHEHR|DRG-PATHWAY|north|20261203080000-0600||SIU^S99^SIU_S12|D-10|P|2.5.1",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_day_of_siu_and_adt_over_mllp(clinic, day, day_of_messages):
    with Listener() as listener:
        acks = send_all(listener.port, day_of_messages)

    assert [(str(a["MSA.F1"]), str(a["MSA.F2"])) for a in acks] == [
        ("AA", "D-01"), ("AA", "D-02"), ("AA", "D-03"), ("AA", "D-04"), ("AA", "D-05"), ("AA", "D-05"),
        ("AA", "D-06"), ("AA", "D-07"), ("AA", "D-08"), ("AE", "D-09"), ("AR", "D-10"),
    ]
    assert all(str(a["MSH.F9.R1.C1"]) == "ACK" for a in acks)
    assert "No patient with this MRN" in str(acks[9]["MSA.F3"])

    appointments = {a.external_ref: a for a in Appointment.objects.filter(clinic=clinic)}
    assert sorted(appointments) == ["APT-1", "APT-2", "APT-3"]
    assert (appointments["APT-1"].starts_at, appointments["APT-1"].ends_at) == (local(day, "1100"),
                                                                                local(day, "1145"))
    assert appointments["APT-1"].status == AppointmentStatus.BOOKED
    assert appointments["APT-2"].status == AppointmentStatus.NOSHOW
    assert appointments["APT-3"].status == AppointmentStatus.CANCELLED
    assert Patient.objects.get(clinic=clinic, mrn="MRN2002").family_name == "Tran"

    # Reminders follow, as for a booking through the API: the moved one has rows for its new time and none
    # still to send for the old; the cancelled and missed ones have none still to send.
    moved = Reminder.objects.filter(appointment=appointments["APT-1"])
    assert moved.filter(appointment_starts_at=local(day, "1100"), status=ReminderStatus.PENDING).exists()
    assert not moved.filter(appointment_starts_at=local(day, "0900"), status=ReminderStatus.PENDING).exists()
    assert not Reminder.objects.filter(appointment__in=[appointments["APT-2"], appointments["APT-3"]],
                                       status=ReminderStatus.PENDING).exists()

    kept = InboundHL7Message.objects.order_by("id")
    assert kept.count() == 10  # the resend of D-05 is not a second message
    assert list(kept.filter(status=MessageStatus.NEEDS_ATTENTION).values_list("control_id", flat=True)) == ["D-09"]
    assert list(kept.filter(status=MessageStatus.REJECTED).values_list("control_id", flat=True)) == ["D-10"]

    # The scheduling system's own FHIR client reads the same appointments back by their feed identifiers.
    fhir = key_client(clinic, Role.COORDINATOR)
    response = fhir.get("/fhir/r4/Appointment", {"identifier": "APT-1"})
    assert response.status_code == 200, response.content[:500]
    bundle = response.json()
    assert bundle["total"] == 1
    resource = bundle["entry"][0]["resource"]
    assert resource["status"] == "booked"
    assert resource["start"].startswith(f"{day:%Y-%m-%d}T11:00:00")


@pytest.mark.django_db(transaction=True)
def test_bytes_outside_an_mllp_block_close_the_connection_and_the_listener_keeps_serving(clinic, day):
    PatientFactory(clinic=clinic, mrn="MRN1001")

    async def garbage(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"not framed\x1c\r")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return data

    with Listener() as listener:
        assert asyncio.run(garbage(listener.port)) == b""
        acks = send_all(listener.port, [siu("S12", start=ts(day, "0900"))])

    assert str(acks[0]["MSA.F1"]) == "AA"


@pytest.mark.django_db(transaction=True)
def test_the_readme_example_file_gives_the_acks_the_readme_shows():
    """docs/hl7/demo-day.hl7 against the demo clinic, split as the library's `mllp_send --loose` splits it."""
    demo = ClinicFactory(slug="demo", time_zone="America/Chicago")
    with open(Path(__file__).parents[2] / "docs" / "hl7" / "demo-day.hl7", "rb") as example:
        messages = [m.decode() for m in read_loose(example)]

    with Listener() as listener:
        acks = send_all(listener.port, messages)

    assert [str(a["MSA.F1"]) for a in acks] == ["AA", "AA", "AA", "AE"]
    appointment = Appointment.objects.get(clinic=demo, external_ref="CAD-9001")
    assert (appointment.patient.mrn, appointment.starts_at) == (
        "HL7-0001", dt.datetime(2027, 1, 22, 14, 0, tzinfo=ZoneInfo("America/Chicago")))
