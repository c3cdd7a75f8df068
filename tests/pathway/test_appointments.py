"""The appointment lifecycle (HL7 FHIR Appointment.status): every allowed and refused change, and bad input."""

from datetime import datetime, timedelta

import pytest

from pathway import services
from pathway.errors import Conflict, InvalidInput, NotPermitted
from pathway.models import Appointment
from pathway.stages import AppointmentStatus
from tests.factories import EpisodeFactory, PatientFactory

from .conftest import NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]

STARTS = NOW + timedelta(days=3)
ENDS = STARTS + timedelta(minutes=30)
LATER = NOW + timedelta(days=5)

ACTIONS = {
    "check_in": lambda a, who: services.appointment_check_in(appointment=a, actor=who),
    "complete": lambda a, who: services.appointment_complete(appointment=a, actor=who),
    "cancel": lambda a, who: services.appointment_cancel(appointment=a, actor=who, reason="Patient has the flu"),
    "no_show": lambda a, who: services.appointment_no_show(appointment=a, actor=who),
    "enter_in_error": lambda a, who: services.appointment_enter_in_error(appointment=a, actor=who),
    "reschedule": lambda a, who: services.appointment_reschedule(
        appointment=a, actor=who, starts_at=LATER, ends_at=LATER + timedelta(minutes=30)),
}
# How each status is reached from booked.
REACH = {
    "booked": [], "arrived": ["check_in"], "fulfilled": ["check_in", "complete"], "cancelled": ["cancel"],
    "noshow": ["no_show"], "entered-in-error": ["enter_in_error"],
}
# from status -> {action: resulting status}; anything absent is refused.
LIFECYCLE = {
    "booked": {"check_in": "arrived", "complete": "fulfilled", "cancel": "cancelled", "no_show": "noshow",
               "enter_in_error": "entered-in-error", "reschedule": "booked"},
    "arrived": {"complete": "fulfilled", "cancel": "cancelled", "enter_in_error": "entered-in-error"},
    "fulfilled": {}, "cancelled": {}, "noshow": {}, "entered-in-error": {},
}
CASES = [
    pytest.param(status, action, LIFECYCLE[status].get(action), id=f"{action}-when-{status}")
    for status in LIFECYCLE for action in ACTIONS
]


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


def book(patient, actor, **kwargs) -> Appointment:
    fields = {"kind": "consultation", "starts_at": STARTS, "ends_at": ENDS, **kwargs}
    return services.appointment_book(patient=patient, actor=actor, **fields)


def row(appointment) -> dict:
    return Appointment.objects.filter(pk=appointment.pk).values().get()


def test_the_lifecycle_covers_every_status():
    assert set(LIFECYCLE) == set(AppointmentStatus.values) == set(REACH)


@pytest.mark.parametrize(("status", "action", "result"), CASES)
def test_status_change(patient, people, status, action, result):
    front_desk = people["front_desk"]
    appointment = book(patient, front_desk)
    for step in REACH[status]:
        ACTIONS[step](appointment, front_desk)
    assert appointment.status == status
    before = row(appointment)

    if result is None:
        with pytest.raises(InvalidInput):
            ACTIONS[action](appointment, front_desk)
        assert row(appointment) == before
        return

    ACTIONS[action](appointment, front_desk)
    stored = Appointment.objects.get(pk=appointment.pk)
    assert stored.status == result == appointment.status
    if action == "cancel":
        assert stored.cancellation_reason == "Patient has the flu"
    if action == "reschedule":
        assert (stored.starts_at, stored.ends_at) == (LATER, LATER + timedelta(minutes=30))


def test_a_finished_appointment_says_why_it_cannot_be_rescheduled(patient, people):
    appointment = book(patient, people["coordinator"])
    services.appointment_complete(appointment=appointment, actor=people["coordinator"])
    with pytest.raises(InvalidInput, match="A completed appointment cannot be rescheduled"):
        ACTIONS["reschedule"](appointment, people["coordinator"])


def test_rescheduling_clears_the_patients_confirmation(patient, people):
    appointment = book(patient, people["front_desk"])
    services.appointment_confirm(appointment=appointment)
    assert Appointment.objects.get(pk=appointment.pk).confirmed_at == NOW
    ACTIONS["reschedule"](appointment, people["front_desk"])
    assert Appointment.objects.get(pk=appointment.pk).confirmed_at is None


def test_confirmation_is_a_flag_with_a_time_not_a_status(patient, people, time_machine):
    appointment = book(patient, people["front_desk"])
    services.appointment_confirm(appointment=appointment)
    time_machine.move_to(NOW + timedelta(hours=1), tick=False)
    services.appointment_confirm(appointment=appointment)
    stored = Appointment.objects.get(pk=appointment.pk)
    assert (stored.status, stored.confirmed_at) == ("booked", NOW)


def test_cancelling_needs_a_reason(patient, people):
    appointment = book(patient, people["front_desk"])
    with pytest.raises(InvalidInput):
        services.appointment_cancel(appointment=appointment, actor=people["front_desk"], reason="  ")
    assert Appointment.objects.get(pk=appointment.pk).status == "booked"


@pytest.mark.parametrize("role", ["coordinator", "physician", "front_desk"])
def test_staff_book_and_change_appointments(patient, people, role):
    appointment = book(patient, people[role])
    services.appointment_check_in(appointment=appointment, actor=people[role])
    assert Appointment.objects.get(pk=appointment.pk).status == "arrived"


@pytest.mark.parametrize("role", ["admin", "other_clinic"])
def test_admins_and_other_clinics_touch_no_appointment(patient, people, role):
    with pytest.raises(NotPermitted):
        book(patient, people[role])
    appointment = book(patient, people["front_desk"])
    before = row(appointment)
    for action in ACTIONS.values():
        with pytest.raises(NotPermitted):
            action(appointment, people[role])
    assert row(appointment) == before


def test_a_stale_appointment_is_a_conflict(patient, people):
    appointment = book(patient, people["front_desk"])
    stale = Appointment.objects.get(pk=appointment.pk)
    services.appointment_check_in(appointment=appointment, actor=people["front_desk"])
    before = row(appointment)
    with pytest.raises(Conflict):
        services.appointment_no_show(appointment=stale, actor=people["front_desk"])
    assert row(appointment) == before


def test_external_ref_is_unique_per_clinic(patient, people, other_clinic):
    book(patient, people["front_desk"], external_ref="EHR-1001")
    with pytest.raises(InvalidInput, match="already has an appointment with this reference"):
        book(patient, people["front_desk"], external_ref="EHR-1001", starts_at=LATER,
             ends_at=LATER + timedelta(hours=1))
    assert Appointment.objects.filter(external_ref="EHR-1001").count() == 1

    elsewhere = PatientFactory(clinic=other_clinic)
    book(elsewhere, people["other_clinic"], external_ref="EHR-1001")
    # At other times: the same kind at the same time would be the same booking twice.
    book(patient, people["front_desk"], starts_at=LATER, ends_at=LATER + timedelta(hours=1))
    book(patient, people["front_desk"], external_ref="", starts_at=LATER + timedelta(days=1),
         ends_at=LATER + timedelta(days=1, hours=1))
    assert Appointment.objects.filter(external_ref__isnull=True).count() == 2
    assert Appointment.objects.filter(external_ref="EHR-1001").count() == 2


@pytest.mark.parametrize("fields", [
    pytest.param({"starts_at": datetime(2026, 11, 28, 9, 0)}, id="naive-start"),
    pytest.param({"ends_at": datetime(2026, 11, 28, 9, 30)}, id="naive-end"),
    pytest.param({"starts_at": "2026-11-28T09:00:00"}, id="naive-text"),
    pytest.param({"starts_at": "2026-02-30T09:00:00Z"}, id="no-such-day"),
    pytest.param({"starts_at": "soon"}, id="not-a-time"),
    pytest.param({"starts_at": STARTS.date()}, id="a-date-not-a-time"),
    pytest.param({"ends_at": STARTS - timedelta(minutes=1)}, id="ends-before-it-starts"),
    pytest.param({"ends_at": STARTS}, id="ends-as-it-starts"),
    pytest.param({"kind": "massage"}, id="unknown-kind"),
])
def test_bad_booking_is_refused_with_nothing_written(patient, people, fields):
    with pytest.raises(InvalidInput):
        book(patient, people["front_desk"], **fields)
    assert not Appointment.objects.exists()


def test_bad_reschedule_is_refused_with_nothing_written(patient, people):
    appointment = book(patient, people["front_desk"])
    before = row(appointment)
    for starts_at, ends_at in [(datetime(2026, 12, 1, 9), datetime(2026, 12, 1, 10)), (LATER, LATER)]:
        with pytest.raises(InvalidInput):
            services.appointment_reschedule(appointment=appointment, actor=people["front_desk"],
                                            starts_at=starts_at, ends_at=ends_at)
    assert row(appointment) == before


def test_times_with_an_offset_are_stored_in_utc(patient, people):
    appointment = book(patient, people["front_desk"], starts_at="2026-11-28T09:00:00-06:00",
                       ends_at="2026-11-28T09:30:00-06:00")
    assert Appointment.objects.get(pk=appointment.pk).starts_at == datetime.fromisoformat("2026-11-28T15:00:00+00:00")


@pytest.mark.parametrize(("starts_at", "ends_at"), [
    ("2026-11-28T09:00:00+20:33", "2026-11-28T09:30:00+20:33"),
    ("0447-08-02T01:43:29.833+20:33", "0447-08-02T02:13:29.833+20:33"),
])
def test_any_offset_python_reads_is_stored_as_utc(patient, people, starts_at, ends_at):
    appointment = book(patient, people["front_desk"], starts_at=starts_at, ends_at=ends_at)
    stored = Appointment.objects.get(pk=appointment.pk)
    assert stored.starts_at == datetime.fromisoformat(starts_at)
    assert stored.starts_at.utcoffset() == timedelta(0)


def test_a_time_that_leaves_the_calendar_in_utc_is_invalid(patient, people):
    with pytest.raises(InvalidInput):
        book(patient, people["front_desk"], starts_at="0001-01-01T01:00:00+05:00",
             ends_at="0001-01-01T02:00:00+05:00")
    assert not Appointment.objects.exists()


def test_an_appointment_cannot_carry_another_patients_episode(patient, people, clinic):
    someone_else = EpisodeFactory(patient__clinic=clinic)
    with pytest.raises(InvalidInput):
        book(patient, people["front_desk"], episode=someone_else)
    assert not Appointment.objects.exists()
