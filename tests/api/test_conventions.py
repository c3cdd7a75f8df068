"""What every endpoint shares: idempotent POSTs, cursor pages, throttling, the audit trail, the schema."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib import admin
from django.utils import timezone

from api.models import AuditEvent, IdempotencyRecord
from pathway.models import Appointment, Patient
from pathway.stages import Role
from tests.api.conftest import key_client, problem, user_client
from tests.factories import PatientFactory, staff

NEW = {"mrn": "IDEM-1", "given_name": "Emmy", "family_name": "Noether", "birth_date": "1982-03-23"}


# --- Idempotency-Key --------------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_response_without_a_second_effect(desk):
    first = desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Patient.objects.filter(mrn="IDEM-1").count() == 1


def test_the_stored_answer_is_encrypted_and_survives_a_key_rotation(desk, settings):
    first = desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-enc")
    stored = IdempotencyRecord.objects.get(key="k-enc").response_body
    assert NEW["family_name"] not in stored and NEW["mrn"] not in stored and "birth_date" not in stored
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789-abcdefghij"
    again = desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-enc")
    assert again.status_code == 201 and again.json() == first.json()
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: the record can no longer be read
    problem(desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-enc"), 409,
            "idempotency_replay_unavailable")
    assert Patient.objects.filter(mrn=NEW["mrn"]).count() == 1


def test_a_refusal_is_replayed_too(desk, patient):
    url = "/api/v1/appointments/"
    body = {"patient": str(patient.external_id), "kind": "consultation", "starts_at": "2026-12-01T10:00:00Z",
            "ends_at": "2026-12-01T09:00:00Z"}
    first = desk.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    again = desk.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert first.status_code == again.status_code == 400
    assert again["Content-Type"] == "application/problem+json" and first.json() == again.json()


def test_same_key_with_another_body_is_422(desk):
    desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    problem(desk.post("/api/v1/patients/", {**NEW, "mrn": "IDEM-2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3"),
            422, "idempotency_key_reused")
    assert not Patient.objects.filter(mrn="IDEM-2").exists()


def test_a_retry_while_the_first_is_running_is_409(desk):
    assert desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-4").status_code == 201
    IdempotencyRecord.objects.filter(key="k-4").update(completed_at=None)  # as if the first were still running
    problem(desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-4"), 409,
            "idempotency_in_flight")
    assert Patient.objects.filter(mrn="IDEM-1").count() == 1


def test_keys_are_scoped_to_the_caller(desk, coord):
    assert desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-5").status_code == 201
    other = {**NEW, "mrn": "IDEM-3"}
    assert coord.post("/api/v1/patients/", other, format="json", HTTP_IDEMPOTENCY_KEY="k-5").status_code == 201


def test_a_key_expires_after_a_day(desk):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-6")
        clock.shift(timedelta(hours=25))
        second = desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="k-6")
    assert second.status_code == 409  # ran again: the MRN now exists
    assert "Idempotent-Replayed" not in second


def test_a_malformed_key_is_400(desk):
    problem(desk.post("/api/v1/patients/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="has space"), 400, "invalid")


def test_idempotent_action_without_body(desk, patient):
    appointment = Appointment.objects.create(
        clinic=patient.clinic, patient=patient, kind="consultation", starts_at=timezone.now() + timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=1, minutes=30),
    )
    url = f"/api/v1/appointments/{appointment.external_id}/check-in/"
    first = desk.post(url, HTTP_IDEMPOTENCY_KEY="k-7")
    again = desk.post(url, HTTP_IDEMPOTENCY_KEY="k-7")
    assert first.status_code == again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert desk.post(url).status_code == 409  # without the key it really runs again, and is refused


# --- Cursor pagination ------------------------------------------------------------------------------


def test_cursor_pages_walk_every_row_once_while_rows_are_inserted(desk, clinic):
    PatientFactory.create_batch(7, clinic=clinic)
    seen, url = [], "/api/v1/patients/?page_size=3"
    while url:
        page = desk.get(url).json()
        seen += [p["id"] for p in page["results"]]
        PatientFactory(clinic=clinic)  # a concurrent insert lands after the cursor
        url = page["next"]
    assert len(seen) == len(set(seen)) >= 7
    assert set(page) == {"next", "previous", "results"}


def test_page_size_is_at_most_200(desk, clinic):
    PatientFactory.create_batch(201, clinic=clinic)
    assert len(desk.get("/api/v1/patients/?page_size=200").json()["results"]) == 200
    assert len(desk.get("/api/v1/patients/").json()["results"]) == 50


@pytest.mark.parametrize("page_size", ["500", "0", "-1", "null", "", "1.5", "9" * 30])
def test_a_page_size_the_schema_forbids_is_400(desk, page_size):
    body = problem(desk.get(f"/api/v1/patients/?page_size={page_size}"), 400, "invalid")
    assert body["errors"] == {"page_size": ["Enter a whole number from 1 to 200."]}


@pytest.mark.parametrize("cursor", ["garbage", "cD0xOTk5", "cD0xOTk5:forged-signature", ""])
def test_a_forged_or_tampered_cursor_is_400_naming_the_cursor(desk, cursor):
    body = problem(desk.get(f"/api/v1/patients/?cursor={cursor}"), 400, "invalid")
    assert list(body["errors"]) == ["cursor"]


def test_a_tampered_cursor_on_the_caseload_is_400(coord):
    problem(coord.get("/api/v1/caseload/?cursor=cD0xOTk5"), 400, "invalid")


# --- Throttling -------------------------------------------------------------------------------------


def test_throttled_per_key_with_retry_after(desk, clinic, settings):
    settings.API = {**settings.API, "THROTTLE_RATE": "3/min"}
    for _ in range(3):
        assert desk.get("/api/v1/board/").status_code == 200
    response = desk.get("/api/v1/board/")
    problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert key_client(clinic).get("/api/v1/board/").status_code == 200  # another key has its own budget


# --- Audit ------------------------------------------------------------------------------------------


def requests_audited():
    """The rows of requests, without the one a key's first use from an address adds."""
    return AuditEvent.objects.exclude(action="api_key.new_address")


def test_reads_of_patient_data_are_audited_with_who_which_patient_and_request_id(desk, patient):
    response = desk.get(f"/api/v1/patients/{patient.external_id}/", HTTP_X_REQUEST_ID="req-12345678",
                        REMOTE_ADDR="10.1.2.3")
    assert response["X-Request-ID"] == "req-12345678"
    event = requests_audited().get()
    assert event.action == "patients.retrieve" and event.patient_ids == [str(patient.external_id)]
    assert event.actor_api_key_id == desk.api_key.pk and event.request_id == "req-12345678"
    assert event.address == "10.1.2.3" and event.status_code == 200


def test_list_reads_name_every_patient_on_the_page(coord, clinic):
    patients = PatientFactory.create_batch(3, clinic=clinic)
    coord.get("/api/v1/patients/")
    event = requests_audited().get()
    assert event.actor_user == coord.user and event.action == "patients.list"
    assert sorted(event.patient_ids) == sorted(str(p.external_id) for p in patients)


def test_writes_are_audited_even_when_refused(desk, patient):
    desk.patch(f"/api/v1/patients/{patient.external_id}/", {"phone": "+15550002222"}, format="json")
    desk.patch(f"/api/v1/patients/{patient.external_id}/", {"stage": "trial"}, format="json")
    assert [(e.action, e.status_code) for e in requests_audited().order_by("id")] == [
        ("patients.partial_update", 200), ("patients.partial_update", 400)]


def test_reads_without_patient_data_are_not_audited(desk):
    desk.get("/api/v1/board/")
    assert not requests_audited().exists()


def test_audit_rows_are_append_only(desk, patient):
    desk.get(f"/api/v1/patients/{patient.external_id}/")
    event = requests_audited().get()
    event.action = "tampered"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_admins_can_list_audit_rows_and_nobody_can_edit_them(desk, patient, admin_client, admin_user, rf):
    desk.get(f"/api/v1/patients/{patient.external_id}/")
    assert admin_client.get("/admin/api/auditevent/").status_code == 200
    event = requests_audited().get()
    assert admin_client.get(f"/admin/api/auditevent/{event.pk}/change/").status_code == 200  # view only
    assert admin_client.post(f"/admin/api/auditevent/{event.pk}/delete/").status_code == 403
    model_admin = admin.site._registry[AuditEvent]
    request = rf.get("/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)


# --- Schema, docs, probes ---------------------------------------------------------------------------


def test_schema_documents_problem_responses_and_the_idempotency_header(desk):
    schema = desk.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/episodes/{id}/transitions/"]["post"]
    assert {"400", "403", "404", "409", "422", "429"} <= set(operation["responses"])
    assert "application/problem+json" in operation["responses"]["409"]["content"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])
    assert "ApiKey" in schema["components"]["securitySchemes"]


def test_docs_page_serves_its_assets_locally(coord):
    page = coord.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": True, "broker": True}


def test_readyz_answers_503_when_the_broker_is_down(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.API = {**settings.API, "READY_BROKER_TIMEOUT_SECONDS": 0.5}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


# --- Caseload and board -----------------------------------------------------------------------------


def test_board_counts_per_stage(desk, episode):
    body = desk.get("/api/v1/board/").json()
    evaluation = next(s for s in body["stages"] if s["stage"] == "evaluation")
    assert evaluation == {"stage": "evaluation", "label": "Evaluation", "total": 1, "on_hold": 0, "stalled": 0}
    assert body["total"] == 1


def test_front_desk_has_no_caseload(desk):
    problem(desk.get("/api/v1/caseload/"), 403, "forbidden")


def test_a_physician_reads_only_their_own_caseload(doc, clinic):
    other = staff(clinic, Role.PHYSICIAN, username="doc2")
    problem(doc.get("/api/v1/caseload/?physician=doc2"), 403)
    assert user_client(other).get("/api/v1/caseload/").json()["results"] == []


def test_unknown_api_paths_answer_a_problem_document(client, db):
    problem(client.get("/api/v1/nothing-here/"), 404, "not_found")
    problem(client.post("/api/v2/patients/"), 404, "not_found")


@pytest.mark.redis
def test_throttle_counts_are_shared_through_redis(desk, settings):
    from django.core.cache.backends.redis import RedisCache

    settings.API = {**settings.API, "THROTTLE_RATE": "2/min", "THROTTLE_REDIS_URL": settings.CELERY_BROKER_URL}
    counter = RedisCache(settings.CELERY_BROKER_URL, {"KEY_PREFIX": "api-throttle"})
    count_key = f"throttle_caller_key:{desk.api_key.pk}"  # API keys are random: no clash with other runs
    try:
        assert [desk.get("/api/v1/board/").status_code for _ in range(3)] == [200, 200, 429]
        assert len(counter.get(count_key)) == 2
    finally:
        counter.delete(count_key)


def test_a_down_throttle_store_lets_requests_through(desk, settings):
    settings.API = {**settings.API, "THROTTLE_RATE": "1/min", "THROTTLE_REDIS_URL": "redis://127.0.0.1:1/0"}
    assert [desk.get("/api/v1/board/").status_code for _ in range(2)] == [200, 200]


def test_a_nul_character_in_an_echoed_error_is_stored_and_replayed(desk, patient):
    body = {"patient": str(patient.external_id), "kind": "\x00", "starts_at": "2030-01-01T10:00:00Z",
            "ends_at": "2030-01-01T10:30:00Z"}
    first = desk.post("/api/v1/appointments/", body, format="json", HTTP_IDEMPOTENCY_KEY="nul-1")
    again = desk.post("/api/v1/appointments/", body, format="json", HTTP_IDEMPOTENCY_KEY="nul-1")
    assert problem(first, 400)["errors"].keys() == {"kind"}
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    problem(desk.get("/api/v1/patients/%00/"), 400, "nul_character")
