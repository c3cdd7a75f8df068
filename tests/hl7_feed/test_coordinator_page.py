"""The coordinator's web page of kept HL7 messages: their clinic's unresolved ones only, retry after fixing the
patient re-runs the mapping, resolve takes a note; front desk and physicians are refused; the page's queries
do not grow with its rows."""

import pytest
from django.test import Client

from api.models import AuditEvent
from hl7_feed.models import InboundHL7Message, MessageStatus
from hl7_feed.services import inbound_message_receive
from pathway.models import Appointment
from pathway.stages import Role
from tests.factories import ClinicFactory, PatientFactory, staff

from .conftest import siu, ts

pytestmark = pytest.mark.django_db
URL = "/hl7-messages/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def coordinator(clinic):
    return staff(clinic, Role.COORDINATOR, username="coord")


@pytest.fixture
def kept(clinic, day):
    ClinicFactory(slug="south")
    inbound_message_receive(raw=siu("S12", mrn="MRN-NEW", start=ts(day, "0900"), control_id="N-1"))
    inbound_message_receive(raw=siu("S12", mrn="MRN-NEW", start=ts(day, "0900"), control_id="S-1",
                                    facility="south"))
    return InboundHL7Message.objects.get(control_id="N-1")


def test_it_lists_the_clinics_unresolved_messages_with_their_reason(coordinator, kept):
    response = signed_in(coordinator).get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "N-1" in body and kept.reason in body
    assert "S-1" not in body  # another clinic's
    assert "MRN-NEW" not in body
    assert 'href="/hl7-messages/"' in body  # in the nav


def test_retry_after_registering_the_patient_applies_it_and_it_leaves_the_list(coordinator, kept, clinic):
    client = signed_in(coordinator)
    assert client.post(f"{URL}{kept.pk}/retry/").status_code == 302
    kept.refresh_from_db()
    assert kept.status == MessageStatus.NEEDS_ATTENTION and kept.resolved_at is None  # still no such patient
    PatientFactory(clinic=clinic, mrn="MRN-NEW")
    assert client.post(f"{URL}{kept.pk}/retry/").status_code == 302
    kept.refresh_from_db()
    assert kept.status == MessageStatus.APPLIED and kept.resolved_at is not None
    assert Appointment.objects.filter(patient__mrn="MRN-NEW").count() == 1
    assert client.post(f"{URL}{kept.pk}/retry/").status_code == 404  # gone from the list: no second booking
    assert Appointment.objects.count() == 1
    assert f'id="hl7-{kept.pk}"' not in client.get(URL).content.decode()


def test_resolve_needs_a_note_and_records_it(coordinator, kept):
    client = signed_in(coordinator)
    assert client.post(f"{URL}{kept.pk}/resolve/", {"note": ""}).status_code == 422
    kept.refresh_from_db()
    assert kept.resolved_at is None
    assert client.post(f"{URL}{kept.pk}/resolve/", {"note": "Booked by phone"}).status_code == 302
    kept.refresh_from_db()
    assert kept.resolved_at is not None and "Booked by phone" in kept.resolution_note


def test_another_clinics_message_is_404(clinic, kept):
    south = InboundHL7Message.objects.get(control_id="S-1")
    client = signed_in(staff(clinic, Role.COORDINATOR, username="c2"))
    assert client.post(f"{URL}{south.pk}/resolve/", {"note": "x"}).status_code == 404
    assert client.post(f"{URL}{south.pk}/retry/").status_code == 404
    south.refresh_from_db()
    assert south.resolved_at is None


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.PHYSICIAN])
def test_other_roles_are_refused(clinic, kept, role):
    client = signed_in(staff(clinic, role))
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}{kept.pk}/resolve/", {"note": "x"}).status_code == 403


def test_the_page_is_audited_naming_matched_patients(coordinator, kept, patient, day):
    inbound_message_receive(raw=siu("S14", ref="NOPE", start=ts(day, "1000"), control_id="N-2"))
    signed_in(coordinator).get(URL)
    event = AuditEvent.objects.filter(action="web.hl7_messages").get()
    named = InboundHL7Message.objects.filter(control_id="N-2").values_list("patient__external_id", flat=True)
    assert event.patient_ids == sorted(str(p) for p in named if p)


def test_its_queries_do_not_grow_with_its_rows(coordinator, kept, day, django_assert_num_queries):
    client = signed_in(coordinator)
    client.get(URL)
    with django_assert_num_queries(9) as first:
        assert client.get(URL).status_code == 200
    for n in range(10):
        inbound_message_receive(raw=siu("S12", mrn="MRN-NEW", start=ts(day, "1100"), control_id=f"M-{n}"))
    with django_assert_num_queries(len(first.captured_queries)):
        assert client.get(URL).content.decode().count("Retry") == 11
