"""Two people pressing the same button at once: exactly one transition happens, the others get 409."""

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from pathway.actors import Actor
from pathway.clinic_time import clinic_today
from pathway.models import TransitionLog
from pathway.stages import Role, Stage
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, complete_checklist, staff

RACERS = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_start_trials_give_one_200_and_nineteen_409s():
    clinic = ClinicFactory(slug="race")
    physician = staff(clinic, Role.PHYSICIAN, username="race-doc")
    coordinator = staff(clinic, Role.COORDINATOR, username="race-coord")
    episode = EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician)
    complete_checklist(episode, Actor.for_user(physician))
    url = f"/api/v1/episodes/{episode.external_id}/transitions/"
    body = {"transition": "start_trial", "trial_lead_placement_date": clinic_today(clinic).isoformat()}

    start = threading.Barrier(RACERS)
    statuses: list[int] = []
    codes: list[str] = []

    def press():
        client = APIClient()
        client.force_login(coordinator)
        try:
            start.wait()
            response = client.post(url, body, format="json")
            statuses.append(response.status_code)
            if response.status_code == 409:
                codes.append(response.json()["code"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [409] * (RACERS - 1)
    assert set(codes) <= {"conflict", "transition_refused"}
    episode.refresh_from_db()
    assert episode.stage == Stage.TRIAL
    assert TransitionLog.objects.filter(episode=episode, transition="start_trial").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_with_one_idempotency_key_act_once():
    from api.models import ClinicAPIKey
    from pathway.models import Patient

    clinic = ClinicFactory(slug="race-key")
    _, key = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.FRONT_DESK, name="race")
    body = {"mrn": "RACE-1", "given_name": "Rosalind", "family_name": "Franklin", "birth_date": "1970-07-25"}
    start = threading.Barrier(RACERS)
    answers: list[tuple[int, bool]] = []

    def press():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        try:
            start.wait()
            response = client.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
            answers.append((response.status_code, response.has_header("Idempotent-Replayed")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers.count((201, False)) == 1  # ran once; the rest replayed it or were told it is in flight
    assert {a for a in answers if a != (201, False)} <= {(201, True), (409, False)}
    assert Patient.objects.filter(mrn="RACE-1").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_decisions_on_one_authorization_give_one_200_and_nineteen_409s():
    from pathway.models import AuthorizationStatusChange, PriorAuthorization
    from tests.factories import PriorAuthorizationFactory

    clinic = ClinicFactory(slug="race-auth")
    physician = staff(clinic, Role.PHYSICIAN, username="race-auth-doc")
    coordinator = staff(clinic, Role.COORDINATOR, username="race-auth-coord")
    episode = EpisodeFactory(patient=PatientFactory(clinic=clinic), physician=physician, implant_authorization=False)
    authorization = PriorAuthorizationFactory(episode=episode, step="implant", status="submitted")
    url = f"/api/v1/authorizations/{authorization.external_id}/"

    start = threading.Barrier(RACERS)
    statuses: list[int] = []

    def press(target):
        client = APIClient()
        client.force_login(coordinator)
        try:
            start.wait()
            statuses.append(client.patch(url, {"status": target}, format="json").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press, args=("approved" if i % 2 else "denied",)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [409] * (RACERS - 1)
    decided = PriorAuthorization.objects.get(pk=authorization.pk).status
    assert list(AuthorizationStatusChange.objects.filter(authorization=authorization)
                .values_list("from_status", "to_status")) == [("submitted", decided)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_processes_with_cached_keys_seeing_new_addresses_at_once_lose_none_and_audit_each_once():
    """Each web process keeps a checked key's row for a few seconds, so two may hold the same stale
    known_addresses: the note re-reads it under the row's lock."""
    from types import SimpleNamespace

    from api.audit import api_key_note_address
    from api.models import AuditEvent, ClinicAPIKey

    clinic = ClinicFactory(slug="addresses")
    api_key, _ = ClinicAPIKey.objects.create_key(clinic=clinic, role=Role.FRONT_DESK, name="desk")
    addresses = [f"10.0.0.{n}" for n in range(1, 9)] * 2  # each address seen by two racers
    start = threading.Barrier(len(addresses))

    def note(address: str):
        stale = ClinicAPIKey.objects.get(pk=api_key.pk)  # this racer's own cached row
        request = SimpleNamespace(META={"REMOTE_ADDR": address}, method="GET", path="/api/v1/patients/")
        try:
            start.wait()
            api_key_note_address(request=request, api_key=stale)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=note, args=(address,)) for address in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    api_key.refresh_from_db()
    assert sorted(api_key.known_addresses) == sorted(set(addresses))
    noted = AuditEvent.objects.filter(action="api_key.new_address", actor_api_key=api_key)
    assert sorted(noted.values_list("address", flat=True)) == sorted(set(addresses))
