"""The coordinator's list of feed messages to resolve: their clinic's only, audited, resolvable."""

import pytest
from django.test import Client

from api.models import AuditEvent
from hl7_feed.models import InboundHL7Message
from hl7_feed.services import inbound_message_receive
from pathway.management.staff_access import staff_access_sync
from pathway.stages import Role
from tests.factories import ClinicFactory, staff

from .conftest import siu, ts

pytestmark = pytest.mark.django_db
URL = "/admin/hl7_feed/inboundhl7message/"


def signed_in(user) -> Client:
    staff_access_sync(user=user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def problems(clinic, patient, day):
    ClinicFactory(slug="south")
    inbound_message_receive(raw=siu("S12", mrn="MRN-UNKNOWN", start=ts(day, "0900"), control_id="N-1"))
    inbound_message_receive(raw=siu("S12", mrn="MRN-UNKNOWN", start=ts(day, "0900"), control_id="S-1",
                                    facility="south"))
    inbound_message_receive(raw=siu("S12", start=ts(day, "1000"), control_id="N-2"))
    return InboundHL7Message.objects.get(control_id="N-1")


def test_the_coordinator_lists_their_clinics_messages_needing_attention(clinic, problems):
    response = signed_in(staff(clinic, Role.COORDINATOR)).get(URL, {"open": "yes"})

    assert response.status_code == 200
    assert [row.control_id for row in response.context["cl"].result_list] == ["N-1"]


def test_the_raw_message_is_shown_to_the_coordinator_and_the_read_is_audited(clinic, problems, patient):
    applied = InboundHL7Message.objects.get(control_id="N-2")
    response = signed_in(staff(clinic, Role.COORDINATOR)).get(f"{URL}{applied.pk}/change/")

    assert response.status_code == 200
    assert "MRN1001" in response.content.decode()
    row = AuditEvent.objects.get(action="admin.inboundhl7message.view")
    assert row.patient_ids == [str(patient.external_id)]


def test_the_physician_and_another_clinic_see_none(clinic, problems):
    physician_rows = signed_in(staff(clinic, Role.PHYSICIAN)).get(URL).context["cl"].result_list
    south = ClinicFactory(slug="south")
    south_rows = signed_in(staff(south, Role.COORDINATOR)).get(URL).context["cl"].result_list

    assert list(physician_rows) == []
    assert [row.control_id for row in south_rows] == ["S-1"]


def test_marking_resolved_takes_it_off_the_list(clinic, problems):
    client = signed_in(staff(clinic, Role.COORDINATOR, username="cora"))

    response = client.post(URL, {"action": "mark_resolved", "_selected_action": [problems.pk]})

    assert response.status_code == 302
    problems.refresh_from_db()
    assert problems.resolved_at is not None
    assert problems.resolution_note == "Resolved in the admin by cora."
    assert list(client.get(URL, {"open": "yes"}).context["cl"].result_list) == []
