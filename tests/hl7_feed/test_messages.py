"""Each SIU and ADT message does what an interface analyst expects, through the services the API uses."""

import datetime as dt

import hl7
import pytest

from hl7_feed.models import ClinicFeedSettings, InboundHL7Message, MessageStatus
from hl7_feed.services import inbound_message_receive
from pathway.models import Appointment, Patient
from pathway.stages import AppointmentKind, AppointmentStatus
from tests.factories import AppointmentFactory, ClinicFactory

from .conftest import adt, local, siu, ts

pytestmark = pytest.mark.django_db


def ack_of(raw: str) -> tuple[str, str, str]:
    received = inbound_message_receive(raw=raw)
    ack = hl7.parse(received.ack)
    return str(ack["MSA.F1"]), str(ack["MSA.F2"]), str(ack["MSA.F3"]) if len(ack.segment("MSA")) > 3 else ""


def booked(patient, day, ref="APT-1", start="0930", kind=AppointmentKind.CONSULTATION):
    return AppointmentFactory(patient=patient, external_ref=ref, kind=kind, starts_at=local(day, start),
                              ends_at=local(day, start) + dt.timedelta(minutes=30))


def test_s12_books_the_appointment_in_the_clinics_zone_with_the_feeds_id_as_external_ref(patient, day):
    code, control_id, _ = ack_of(siu("S12", start=ts(day, "0930"), minutes=45, control_id="C-1"))

    assert (code, control_id) == ("AA", "C-1")
    appointment = Appointment.objects.get(external_ref="APT-1")
    assert appointment.patient == patient
    assert appointment.kind == AppointmentKind.CONSULTATION
    assert appointment.starts_at == local(day, "0930")
    assert appointment.ends_at == local(day, "1015")
    assert appointment.status == AppointmentStatus.BOOKED
    record = InboundHL7Message.objects.get(control_id="C-1")
    assert (record.status, record.message_type, record.appointment) == (MessageStatus.APPLIED, "SIU^S12", appointment)


def test_a_time_with_an_offset_keeps_its_offset(patient, day):
    ack_of(siu("S12", start=ts(day, "1500", "+0000")))

    assert Appointment.objects.get(external_ref="APT-1").starts_at == dt.datetime.combine(
        day, dt.time(15), tzinfo=dt.UTC)


def test_the_clinics_kind_mapping_reads_the_senders_code(patient, day):
    ClinicFeedSettings.objects.create(clinic=patient.clinic, kind_codes={"DRGTRIAL": "trial_lead_placement"})

    assert ack_of(siu("S12", start=ts(day, "0800"), code="DRGTRIAL"))[0] == "AA"
    assert Appointment.objects.get(external_ref="APT-1").kind == AppointmentKind.TRIAL_LEAD_PLACEMENT


def test_an_unmapped_kind_code_is_kept_for_attention_and_books_nothing(patient, day):
    code, _, reason = ack_of(siu("S12", start=ts(day, "0800"), code="XRAY2"))

    assert code == "AE"
    assert "kind mapping" in reason
    assert not Appointment.objects.exists()
    assert InboundHL7Message.objects.get().status == MessageStatus.NEEDS_ATTENTION


def test_s13_reschedules(patient, day):
    appointment = booked(patient, day)

    assert ack_of(siu("S13", start=ts(day, "1100"), minutes=30))[0] == "AA"
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.ends_at) == (local(day, "1100"), local(day, "1130"))


def test_s14_moves_the_time_but_refuses_another_kind(patient, day):
    appointment = booked(patient, day)

    assert ack_of(siu("S14", start=ts(day, "1000")))[0] == "AA"
    appointment.refresh_from_db()
    assert appointment.starts_at == local(day, "1000")

    code, _, reason = ack_of(siu("S14", start=ts(day, "1000"), code="imaging"))
    assert code == "AE"
    assert "cannot change" in reason
    appointment.refresh_from_db()
    assert appointment.kind == AppointmentKind.CONSULTATION


def test_s15_cancels_with_the_event_reason(patient, day):
    appointment = booked(patient, day)

    assert ack_of(siu("S15", start=ts(day, "0930"), reason="PATREQ^Patient asked"))[0] == "AA"
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancellation_reason == "Patient asked"


def test_s26_marks_a_no_show(patient, day):
    appointment = booked(patient, day)

    assert ack_of(siu("S26", start=ts(day, "0930")))[0] == "AA"
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NOSHOW


def test_a_change_to_an_appointment_the_feed_never_booked_needs_attention(patient, day):
    code, _, reason = ack_of(siu("S15", ref="APT-404", start=ts(day, "0930")))

    assert code == "AE"
    assert "No appointment with this ID" in reason
    assert InboundHL7Message.objects.get().status == MessageStatus.NEEDS_ATTENTION


def test_a_cancelled_appointment_cannot_be_rescheduled_and_the_refusal_is_kept(patient, day):
    appointment = booked(patient, day)
    ack_of(siu("S15", start=ts(day, "0930")))

    code, _, reason = ack_of(siu("S13", start=ts(day, "1100")))
    assert code == "AE"
    assert "cannot be rescheduled" in reason
    appointment.refresh_from_db()
    assert appointment.starts_at == local(day, "0930")


def test_a04_registers_the_patient(clinic):
    assert ack_of(adt("A04"))[0] == "AA"

    patient = Patient.objects.get(clinic=clinic, mrn="MRN2002")
    assert (patient.given_name, patient.family_name, patient.birth_date) == ("Bao", "Nguyen", dt.date(1958, 6, 30))
    assert (patient.phone, patient.email) == ("+15551230001", "bao@example.org")


def test_a08_updates_only_what_it_sends_and_hl7_null_clears_the_contact(clinic):
    ack_of(adt("A04"))

    assert ack_of(adt("A08", family="Tran", birth="", telecom='""'))[0] == "AA"
    patient = Patient.objects.get(clinic=clinic, mrn="MRN2002")
    assert (patient.family_name, patient.birth_date) == ("Tran", dt.date(1958, 6, 30))
    assert (patient.phone, patient.email) == ("", "")


def test_a08_for_an_unknown_patient_is_kept_for_attention(clinic):
    code, _, reason = ack_of(adt("A08", mrn="MRN9999"))

    assert code == "AE"
    assert "No patient with this MRN" in reason
    assert not Patient.objects.exists()


def test_a04_with_a_phone_that_is_not_e164_needs_attention_and_registers_nobody(clinic):
    code, _, reason = ack_of(adt("A04", telecom="(555)123-4567"))

    assert code == "AE"
    assert "E.164" in reason
    assert not Patient.objects.exists()


def test_siu_for_an_unknown_patient_is_kept_as_needs_attention_with_the_raw_message(clinic, day):
    raw = siu("S12", mrn="MRN-NEW", start=ts(day, "0930"))

    code, _, reason = ack_of(raw)

    assert code == "AE"
    record = InboundHL7Message.objects.get()
    assert (record.status, record.clinic, record.raw) == (MessageStatus.NEEDS_ATTENTION, clinic, raw)
    assert "MRN-NEW" not in record.reason and "MRN-NEW" not in reason
    assert not Appointment.objects.exists()


def test_the_same_control_id_twice_has_one_effect_and_the_same_answer(patient, day):
    raw = siu("S12", start=ts(day, "0930"), control_id="DUP-1")

    first, second = inbound_message_receive(raw=raw), inbound_message_receive(raw=raw)

    assert Appointment.objects.count() == 1
    assert InboundHL7Message.objects.count() == 1
    assert second.duplicate and second.record == first.record
    assert hl7.parse(second.ack)["MSA.F1"] == "AA"


def test_the_same_control_id_from_another_sender_is_another_message(patient, day):
    ack_of(siu("S12", start=ts(day, "0930"), control_id="X-1"))
    other = siu("S12", ref="APT-2", start=ts(day, "1030"), control_id="X-1").replace("|NORTHEHR|", "|NORTHLAB|", 1)

    assert ack_of(other)[0] == "AA"
    assert Appointment.objects.count() == 2


@pytest.mark.parametrize(("raw", "expected"), [
    ("this is not HL7", "must begin with an MSH"),
    (siu("S12", control_id=""), "MSH-10"),
    (siu("S12", facility="nowhere"), "MSH-6"),
    (siu("S12").replace("SIU^S12^SIU_S12", "ORM^O01^ORM_O01"), "not taken here"),
])
def test_a_message_we_cannot_take_is_rejected_and_kept(clinic, raw, expected):
    code, _, reason = ack_of(raw)

    assert code == "AR"
    assert expected in reason
    record = InboundHL7Message.objects.get()
    assert (record.status, record.raw) == (MessageStatus.REJECTED, raw)


@pytest.mark.parametrize(("start", "expected"), [("", "AIS-4"), ("20261", "to the minute"), ("2026131509", "AIS-4")])
def test_a_bad_start_time_needs_attention(patient, start, expected):
    code, _, reason = ack_of(siu("S12", start=start))

    assert code == "AE"
    assert expected in reason
    assert not Appointment.objects.exists()


def test_another_clinics_patient_is_not_found_by_mrn(patient, day):
    ClinicFactory(slug="south")
    code, _, _ = ack_of(siu("S12", start=ts(day, "0930"), facility="south"))

    assert code == "AE"
    assert not Appointment.objects.exists()


def test_a_header_without_a_trigger_event_still_gets_an_ack(clinic):
    raw = siu("S12").replace("SIU^S12^SIU_S12", "SIU")

    code, control_id, reason = ack_of(raw)

    assert (code, control_id) == ("AR", str(hl7.parse(raw)["MSH.F10"]))
    assert "not taken here" in reason


def test_a_second_booking_under_an_id_already_used_needs_attention(patient, day):
    ack_of(siu("S12", start=ts(day, "0930")))

    code, _, reason = ack_of(siu("S12", start=ts(day, "1130")))

    assert code == "AE"
    assert "already has an appointment with this reference" in reason
    assert Appointment.objects.count() == 1


def test_the_ack_is_stamped_with_its_offset(patient, day):
    ack = hl7.parse(inbound_message_receive(raw=siu("S12", start=ts(day, "0930"))).ack)

    assert str(ack["MSH.F7"]).endswith("+0000")
    assert (str(ack["MSH.F3"]), str(ack["MSH.F4"]), str(ack["MSH.F6"])) == ("DRG-PATHWAY", "north", "NORTHEHR")


def test_no_patient_data_reaches_the_log(clinic, day, caplog):
    caplog.set_level("DEBUG")

    ack_of(adt("A04", mrn="MRN-LOG-1", family="Quintero", given="Lucia"))
    ack_of(siu("S12", mrn="MRN-LOG-2", start=ts(day, "0930")))
    ack_of(adt("A04", mrn="MRN-LOG-3", telecom="555-not-a-number"))

    assert caplog.records, "the outcomes are logged"
    for secret in ("MRN-LOG", "Quintero", "Lucia", "19580630", "555-not", "+1555"):
        assert secret not in caplog.text
