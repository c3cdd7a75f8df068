"""Offsets, quiet hours and daylight saving (clinic: America/Chicago), reschedule and cancel, consent."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction

from notifications.models import Reminder, ReminderStatus
from notifications.scheduling import offsets_for_kind, plan_appointment_reminder
from pathway import services as pathway_services
from pathway.stages import PROCEDURE_KINDS, AppointmentKind
from tests.factories import PatientFactory

from .helpers import CHICAGO, book, chicago, rows, utc

pytestmark = pytest.mark.django_db


def test_offsets_are_72_and_24_hours_plus_2_for_procedures():
    assert offsets_for_kind(AppointmentKind.CONSULTATION) == [72, 24]
    for kind in PROCEDURE_KINDS:
        assert offsets_for_kind(kind) == [72, 24, 2]


def test_offsets_come_from_settings(notification_settings):
    notification_settings["OFFSETS_BY_KIND"] = {"imaging": [48]}
    notification_settings["REMINDER_OFFSETS_HOURS"] = [96, 24]
    assert offsets_for_kind("imaging") == [48]
    assert offsets_for_kind("wound_check") == [96, 24]


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_booking_writes_one_pending_row_per_offset(patient, front_desk):
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    planned = rows(appointment)
    assert set(planned) == {"appointment_72h", "appointment_24h"}
    assert planned["appointment_72h"].due_at == chicago(2026, 3, 9, 10, 0)
    assert planned["appointment_24h"].due_at == chicago(2026, 3, 11, 10, 0)
    assert all(r.status == ReminderStatus.PENDING and r.channel == "sms" for r in planned.values())
    assert all(r.appointment_starts_at == appointment.starts_at for r in planned.values())


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_procedures_get_a_two_hour_reminder(patient, front_desk):
    appointment = book(patient, front_desk, AppointmentKind.IMPLANT_SURGERY, chicago(2026, 3, 12, 11, 0))
    assert rows(appointment)["appointment_2h"].due_at == chicago(2026, 3, 12, 9, 0)


@pytest.mark.parametrize(
    ("starts_at", "hours", "due_at", "real_hours"),
    [
        # Spring forward (2026-03-08 02:00 CST → 03:00 CDT): the day before at the same wall time is 23 real hours.
        (chicago(2026, 3, 8, 10, 0), 24, chicago(2026, 3, 7, 10, 0), 23),
        (chicago(2026, 3, 9, 10, 0), 24, chicago(2026, 3, 8, 10, 0), 24),
        (chicago(2026, 3, 10, 10, 0), 72, chicago(2026, 3, 7, 10, 0), 71),
        # Fall back (2026-11-01 02:00 CDT → 01:00 CST): 25 real hours.
        (chicago(2026, 11, 1, 10, 0), 24, chicago(2026, 10, 31, 10, 0), 25),
        (chicago(2026, 11, 3, 9, 0), 72, chicago(2026, 10, 31, 9, 0), 73),
    ],
)
def test_offsets_keep_the_wall_clock_across_daylight_saving(starts_at, hours, due_at, real_hours):
    plan = plan_appointment_reminder(starts_at=starts_at, hours=hours, zone=CHICAGO, now=utc(2026, 1, 1))
    assert plan.skip_reason == ""
    assert plan.due_at == due_at
    assert plan.due_at.astimezone(CHICAGO).time() == starts_at.astimezone(CHICAGO).time()
    assert starts_at - plan.due_at == timedelta(hours=real_hours)


@pytest.mark.parametrize(
    ("starts_at", "hours", "due_at"),
    [
        # 2 h before 09:30 is 07:30, inside quiet hours: moved to 20:50 the evening before.
        (chicago(2026, 4, 14, 9, 30), 2, chicago(2026, 4, 13, 20, 50)),
        # 08:00 is the first allowed minute.
        (chicago(2026, 4, 14, 10, 0), 2, chicago(2026, 4, 14, 8, 0)),
        # 23:00 the day before is quiet too: 20:50 that same evening.
        (chicago(2026, 4, 15, 23, 30), 24, chicago(2026, 4, 14, 20, 50)),
        # On the spring-forward night the evening before is still CST.
        (chicago(2026, 3, 8, 9, 0), 2, chicago(2026, 3, 7, 20, 50)),
        # On the fall-back night, 01:30 exists twice; it is quiet either way.
        (chicago(2026, 11, 1, 3, 30), 2, chicago(2026, 10, 31, 20, 50)),
    ],
)
def test_quiet_hours_move_a_reminder_to_the_last_allowed_time_before(starts_at, hours, due_at):
    plan = plan_appointment_reminder(starts_at=starts_at, hours=hours, zone=CHICAGO, now=utc(2026, 1, 1))
    assert (plan.due_at, plan.skip_reason) == (due_at, "")


def test_quiet_hours_follow_the_settings(notification_settings):
    notification_settings["QUIET_START"], notification_settings["QUIET_END"] = "22:00", "07:00"
    notification_settings["QUIET_MARGIN_MINUTES"] = 0
    plan = plan_appointment_reminder(starts_at=chicago(2026, 4, 14, 9, 0), hours=2, zone=CHICAGO, now=utc(2026, 1, 1))
    assert plan.due_at == chicago(2026, 4, 14, 7, 0)
    plan = plan_appointment_reminder(starts_at=chicago(2026, 4, 14, 8, 0), hours=2, zone=CHICAGO, now=utc(2026, 1, 1))
    assert plan.due_at == chicago(2026, 4, 13, 22, 0)


@time_machine.travel(chicago(2026, 3, 7, 23, 0), tick=False)
def test_a_reminder_whose_allowed_time_has_passed_is_skipped_with_the_reason(patient, front_desk):
    appointment = book(patient, front_desk, AppointmentKind.IMPLANT_SURGERY, chicago(2026, 3, 8, 9, 0))
    planned = rows(appointment)
    assert {r.status for r in planned.values()} == {ReminderStatus.SKIPPED}
    assert "quiet hours" in planned["appointment_2h"].reason
    assert planned["appointment_24h"].reason == "the appointment was booked after this reminder's time"


@time_machine.travel(chicago(2026, 4, 13, 10, 30), tick=False)
def test_a_reminder_a_little_past_its_time_at_booking_still_goes(patient, front_desk):
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 4, 14, 10, 0))
    planned = rows(appointment)
    assert planned["appointment_24h"].status == ReminderStatus.PENDING
    assert planned["appointment_72h"].status == ReminderStatus.SKIPPED


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_reschedule_cancels_the_old_rows_and_plans_new_ones(patient, front_desk):
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    old = set(Reminder.objects.filter(appointment=appointment).values_list("pk", flat=True))
    pathway_services.appointment_reschedule(appointment=appointment, actor=front_desk,
                                            starts_at=chicago(2026, 3, 19, 14, 0), ends_at=chicago(2026, 3, 19, 15, 0))
    cancelled = Reminder.objects.filter(pk__in=old)
    assert {(r.status, r.reason) for r in cancelled} == {(ReminderStatus.CANCELLED, "appointment rescheduled")}
    planned = rows(appointment)
    assert planned["appointment_24h"].due_at == chicago(2026, 3, 18, 14, 0)
    assert not set(r.pk for r in planned.values()) & old

    # Back to the first time: the first rows plan again (the unique key holds one row per start).
    pathway_services.appointment_reschedule(appointment=appointment, actor=front_desk,
                                            starts_at=chicago(2026, 3, 12, 10, 0), ends_at=chicago(2026, 3, 12, 11, 0))
    assert {r.pk for r in rows(appointment).values()} == old
    assert Reminder.objects.filter(appointment=appointment, status=ReminderStatus.PENDING).count() == 2


@pytest.mark.parametrize(("change", "kwargs", "reason"), [
    ("appointment_cancel", {"reason": "patient unwell"}, "appointment cancelled"),
    ("appointment_enter_in_error", {}, "appointment entered in error"),
    ("appointment_check_in", {}, "appointment checked in"),
])
@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_a_status_change_cancels_pending_reminders(patient, front_desk, change, kwargs, reason):
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    getattr(pathway_services, change)(appointment=appointment, actor=front_desk, **kwargs)
    assert {(r.status, r.reason) for r in Reminder.objects.filter(appointment=appointment)} == {
        (ReminderStatus.CANCELLED, reason)
    }


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_a_rolled_back_booking_leaves_no_reminders(patient, front_desk):
    with pytest.raises(RuntimeError), transaction.atomic():
        book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
        assert Reminder.objects.count() == 2
        raise RuntimeError("the caller's transaction fails after booking")
    assert Reminder.objects.count() == 0


@pytest.mark.parametrize(("consents", "preferred", "channel", "status"), [
    ({"sms_consent": True, "email_consent": True}, "sms", "sms", "pending"),
    ({"sms_consent": True, "email_consent": True}, "email", "email", "pending"),
    # SMS preferred but not consented: email, which is.
    ({"sms_consent": False, "email_consent": True}, "sms", "email", "pending"),
    ({"sms_consent": True, "email_consent": False, "email": ""}, "email", "sms", "pending"),
    # SMS consent without a phone number is no way to reach anyone.
    ({"sms_consent": True, "phone": "", "email_consent": False}, "sms", "sms", "skipped"),
    ({"sms_consent": False, "email_consent": False}, "sms", "sms", "skipped"),
])
@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_the_channel_follows_preference_and_consent(clinic, front_desk, consents, preferred, channel, status):
    patient = PatientFactory(clinic=clinic, preferred_channel=preferred, **consents)
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    planned = rows(appointment)
    assert {(r.channel, r.status) for r in planned.values()} == {(channel, status)}
    if status == "skipped":
        assert all("consent" in r.reason for r in planned.values())


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_no_reminders_when_the_patient_wants_none(clinic, front_desk):
    patient = PatientFactory(clinic=clinic, preferred_channel="none", sms_consent=True, email_consent=True)
    appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    assert not Reminder.objects.filter(appointment=appointment).exists()


def test_consent_given_after_booking_brings_reminders(clinic, front_desk):
    from notifications.services import reminders_resync_changed_patients

    patient = PatientFactory(clinic=clinic, preferred_channel="sms", sms_consent=False)
    with time_machine.travel(utc(2026, 3, 1, 12), tick=False):
        appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
        assert {r.status for r in rows(appointment).values()} == {"skipped"}
    with time_machine.travel(utc(2026, 3, 2, 12), tick=False):
        pathway_services.patient_update(patient=patient, actor=front_desk, sms_consent=True,
                                        sms_consent_method="verbal")
        assert reminders_resync_changed_patients(since=utc(2026, 3, 2, 11, 45)) == 1
    assert {(r.channel, r.status) for r in rows(appointment).values()} == {("sms", "pending")}


@time_machine.travel(utc(2026, 3, 1, 12), tick=False)
def test_revoking_sms_consent_cancels_pending_sms_only(patient, front_desk, clinic):
    sms_appointment = book(patient, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    other = PatientFactory(clinic=clinic, preferred_channel="email", email_consent=True, sms_consent=True)
    email_appointment = book(other, front_desk, AppointmentKind.CONSULTATION, chicago(2026, 3, 12, 10, 0))
    assert pathway_services.patient_revoke_sms_consent(patient=patient) is True
    assert {r.status for r in Reminder.objects.filter(appointment=sms_appointment)} == {ReminderStatus.CANCELLED}
    assert {r.status for r in Reminder.objects.filter(appointment=email_appointment)} == {ReminderStatus.PENDING}
