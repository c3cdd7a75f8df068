"""Every read of patient data leaves one audit row, whichever door it came through: pages, admin, API.

Refusals on patient-data paths, sign-ins and a key's first use from an address leave rows too.
"""

import pytest
from django.test import Client

from api.models import AuditEvent, ClinicAPIKey
from pathway.management.staff_access import staff_access_sync
from pathway.stages import Role
from tests.factories import EpisodeFactory, PatientFactory, advance_to

from .conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def patients(clinic, physician):
    episodes = [EpisodeFactory(patient__clinic=clinic, physician=physician) for _ in range(3)]
    advance_to(episodes[1], "trial_review")
    return [e.patient for e in episodes]


def only_row() -> AuditEvent:
    rows = list(AuditEvent.objects.all())
    assert len(rows) == 1, [(r.action, r.status_code) for r in rows]
    return rows[0]


def ids(patients) -> list[str]:
    return sorted(str(p.external_id) for p in patients)


@pytest.mark.parametrize(("url", "action"), [
    ("/worklist/", "web.worklist"),
    ("/board/", "web.board"),
    ("/board/evaluation/", "web.board_column"),
])
def test_a_list_page_leaves_one_row_naming_the_patients_it_shows(coordinator_client, coordinator, patients, url,
                                                                   action):
    response = coordinator_client.get(url, HTTP_X_REQUEST_ID="page-req-0001", REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 200
    row = only_row()
    assert (row.action, row.actor_user, row.request_id, row.address, row.status_code) == (
        action, coordinator, "page-req-0001", "10.9.8.7", 200)
    shown = {p for p in patients if str(p.external_id) in response.content.decode() or p.family_name in
             response.content.decode()}
    assert set(row.patient_ids) == {str(p.external_id) for p in shown} and row.patient_ids


def test_the_caseload_names_the_physicians_patients(physician_client, physician, patients):
    physician_client.get("/caseload/")
    row = only_row()
    assert (row.action, row.actor_user) == ("web.caseload", physician)
    assert row.patient_ids == ids(patients)


def test_the_patient_page_names_its_patient(coordinator_client, patients):
    coordinator_client.get(f"/patients/{patients[0].external_id}/")
    row = only_row()
    assert (row.action, row.patient_ids) == ("web.patient", ids(patients[:1]))


def test_a_search_names_the_patients_found(coordinator_client, patients):
    coordinator_client.get("/patients/", {"q": patients[2].family_name})
    row = only_row()
    assert row.action == "web.patient_search" and str(patients[2].external_id) in row.patient_ids


def test_a_write_on_a_page_names_its_patient(coordinator_client, patients):
    episode = patients[0].episodes.get()
    coordinator_client.post(f"/episodes/{episode.external_id}/hold/", {"reason": "insurance appeal"})
    row = only_row()
    assert row.action == "web.episode_hold" and row.patient_ids == ids(patients[:1])


@pytest.mark.parametrize(("url", "action"), [
    ("/admin/pathway/patient/", "admin.patient.list"),
    ("/admin/pathway/episode/", "admin.episode.list"),
    ("/admin/pathway/painentry/", "admin.painentry.list"),
])
def test_an_admin_list_leaves_one_row(coordinator, patients, url, action):
    staff_access_sync(user=coordinator)
    assert signed_in(coordinator).get(url).status_code == 200
    row = only_row()
    assert row.action == action and row.patient_ids


def test_an_admin_change_page_leaves_one_row(coordinator, patients):
    staff_access_sync(user=coordinator)
    response = signed_in(coordinator).get(f"/admin/pathway/patient/{patients[0].pk}/change/")
    assert response.status_code == 200
    row = only_row()
    assert (row.action, row.patient_ids) == ("admin.patient.view", ids(patients[:1]))


# --- Refusals ------------------------------------------------------------------------------------------


def test_another_clinics_patient_page_is_a_denied_read(outsider, patients):
    client = signed_in(outsider)
    assert client.get(f"/patients/{patients[0].external_id}/").status_code == 404
    row = only_row()
    assert (row.action, row.status_code, row.actor_user, row.patient_ids) == ("denied.web:patient", 404, outsider,
                                                                             [])


def test_front_desk_on_a_page_is_a_denied_read(front_desk, patients):
    assert signed_in(front_desk).get("/worklist/").status_code == 403
    row = only_row()
    assert (row.action, row.status_code) == ("denied.web:worklist", 403)


def test_another_clinics_patient_in_the_api_is_a_denied_read(other_clinic, patients):
    _, key = ClinicAPIKey.objects.create_key(clinic=other_clinic, role=Role.FRONT_DESK, name="elsewhere")
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get(f"/api/v1/patients/{patients[0].external_id}/").status_code == 404
    denied = AuditEvent.objects.get(status_code=404)
    assert denied.action.startswith("denied.") and denied.actor_label.startswith("API key ")


def test_an_unknown_key_is_recorded(patients):
    assert Client(HTTP_AUTHORIZATION="Api-Key nope.nope").get("/api/v1/patients/").status_code == 401
    row = only_row()
    assert (row.status_code, row.actor_label) == (401, "anonymous")


def test_static_files_and_unknown_paths_elsewhere_leave_nothing(client):
    client.get("/favicon.ico")
    client.get("/healthz")
    assert not AuditEvent.objects.exists()


# --- Sign-in and keys ------------------------------------------------------------------------------------


def test_sign_in_success_and_failure_are_recorded_without_the_password(coordinator):
    coordinator.set_password("right-horse-battery")
    coordinator.save()
    client = Client()
    client.post("/login/", {"username": coordinator.username, "password": "wrong-staple-9"},
                REMOTE_ADDR="10.0.0.5")
    client.post("/login/", {"username": coordinator.username, "password": "right-horse-battery"},
                REMOTE_ADDR="10.0.0.5")
    rows = list(AuditEvent.objects.order_by("id").values("action", "actor_label", "address", "status_code"))
    assert rows[0] == {"action": "sign_in.failed", "actor_label": f"anonymous as '{coordinator.username}'",
                       "address": "10.0.0.5", "status_code": 401}
    assert {"action": "sign_in", "actor_label": coordinator.username, "address": "10.0.0.5",
            "status_code": 200} in rows
    stored = repr(list(AuditEvent.objects.values()))
    assert "wrong-staple-9" not in stored and "right-horse-battery" not in stored


def test_a_key_used_from_a_new_address_is_recorded_once(clinic, patients):
    _, key = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.FRONT_DESK, name="scheduling")
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    for address in ("10.1.1.1", "10.1.1.1", "10.2.2.2", "10.1.1.1"):
        client.get("/api/v1/board/", REMOTE_ADDR=address)
    seen = list(AuditEvent.objects.filter(action="api_key.new_address").order_by("id").values_list("address",
                                                                                                   flat=True))
    assert seen == ["10.1.1.1", "10.2.2.2"]


def test_patient_factory_in_another_clinic_is_never_named(coordinator_client, other_clinic, patients):
    stranger = PatientFactory(clinic=other_clinic)
    coordinator_client.get("/worklist/")
    coordinator_client.get("/board/")
    assert all(str(stranger.external_id) not in row.patient_ids for row in AuditEvent.objects.all())
