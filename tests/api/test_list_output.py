"""The list pages' JSON is what DRF's own renderer and the detail serializers give for the same rows.

A sample of episodes in every stage (with pain entries, authorizations, appointments, a consent timestamp with
microseconds, names with non-ASCII and line-separator characters), read through every list endpoint by each
kind of caller; each answer is compared byte for byte with the reference rendering.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from pathway.stages import Role, Stage
from tests.api.conftest import key_client, user_client
from tests.factories import AppointmentFactory, EpisodeFactory, PainEntryFactory, PatientFactory, advance_to, staff

LISTS = ("patients/", "episodes/", "appointments/", "authorizations/", "caseload/", "board/")


@pytest.fixture
def every_stage(clinic, physician, coordinator):
    episodes = []
    for n, stage in enumerate(Stage.values):
        patient = PatientFactory(clinic=clinic, given_name=f"Zoë\u2028{n}", family_name="O’Brien\u2029",
                                 primary_physician=physician if n % 2 else None, sms_consent=True,
                                 sms_consent_at=timezone.now() - timedelta(days=n, microseconds=n * 1001))
        episode = EpisodeFactory(patient=patient, physician=physician, coordinator=coordinator if n % 3 else None)
        PainEntryFactory(episode=episode, nrs=8, recorded_at=timezone.now() - timedelta(days=30))
        advance_to(episode, stage)
        AppointmentFactory(patient=patient, episode=episode if n % 2 else None,
                           external_ref=f"ref-{n}" if n % 3 else None)
        episodes.append(episode)
    return episodes


def callers(clinic, physician):
    return {
        "desk key": key_client(clinic),
        "coordinator key": key_client(clinic, Role.COORDINATOR),
        "coordinator": user_client(staff(clinic, Role.COORDINATOR, username="coord2")),
        "physician": user_client(physician),
    }


@pytest.mark.parametrize("path", LISTS)
def test_orjson_renders_the_bytes_drf_would(every_stage, clinic, physician, path):
    for who, client in callers(clinic, physician).items():
        response = client.get(f"/api/v1/{path}")
        if response.status_code == 403:
            assert who == "desk key" and path == "caseload/"
            continue
        assert response.status_code == 200, (who, response.content[:300])
        assert response.content == JSONRenderer().render(response.data), who
        if path != "board/":
            assert response.data["results"], who
        if path in ("patients/", "episodes/", "caseload/"):
            assert b"\\u2028" in response.content and "’".encode() in response.content
        assert b"+00:00" not in response.content  # datetimes in UTC end in Z, as before


def test_orjson_keeps_drf_forms_of_dates_decimals_and_unusual_values():
    import datetime
    import decimal
    import uuid

    from api.renderers import OrjsonRenderer

    samples = [
        {"at": datetime.datetime(2024, 2, 29, 23, 59, 59, 500, tzinfo=datetime.UTC), "on": datetime.date(2024, 2, 29),
         "time": datetime.time(8, 30), "percent": decimal.Decimal("62.5"), "id": uuid.UUID(int=7)},
        {"text": "é \u2028 \u2029 💥", "nested": [{"a": (1, 2)}, None, True]},
        {1: "a key that is not a string"}, {"big": 2**70},  # orjson refuses these: DRF's renderer answers
    ]
    for data in samples:
        assert OrjsonRenderer().render(data) == JSONRenderer().render(data)
    assert OrjsonRenderer().render(samples[0], "application/json; indent=4") == JSONRenderer().render(
        samples[0], "application/json; indent=4")
    assert OrjsonRenderer().render(None) == b""


def reference(serializer_class, model, ids, **context) -> bytes:
    """The rows as the detail serializer renders them from whole model objects, in the list's order."""
    found = {str(obj.external_id): obj for obj in model.objects.filter(external_id__in=ids)}
    return JSONRenderer().render(serializer_class([found[i] for i in ids], many=True, context=context).data)


@pytest.mark.parametrize(("path", "serializer", "model"), [
    ("patients/", "PatientSerializer", "Patient"), ("appointments/", "AppointmentSerializer", "Appointment"),
])
def test_values_lists_give_the_detail_serializers_rows(every_stage, clinic, physician, path, serializer, model):
    from api import serializers
    from pathway import models

    for who, client in callers(clinic, physician).items():
        results = client.get(f"/api/v1/{path}?page_size=7").json()["results"]
        assert len(results) == 7
        cursor_page = client.get(f"/api/v1/{path}?page_size=200").json()["results"]
        assert len(cursor_page) == len(Stage.values)
        ids = [row["id"] for row in cursor_page]
        assert JSONRenderer().render(cursor_page) == reference(
            getattr(serializers, serializer), getattr(models, model), ids), who


def test_values_lists_page_through_with_their_cursor(every_stage, desk):
    seen, url = [], "/api/v1/patients/?page_size=3"
    while url:
        body = desk.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == len(Stage.values)


@pytest.mark.parametrize("path", ["episodes/", "caseload/"])
def test_episode_lists_give_the_detail_serializers_rows(every_stage, clinic, physician, path):
    """The lists read fewer columns (usernames, not user rows; the patient's brief columns): the same JSON."""
    from api.serializers import CaseloadEntrySerializer, EpisodeSerializer
    from pathway import selectors
    from pathway.actors import Actor
    from pathway.models import Episode

    for who, client in callers(clinic, physician).items():
        response = client.get(f"/api/v1/{path}?page_size=200")
        if response.status_code == 403:
            continue
        results = response.json()["results"]
        assert results, who
        ids = [row["id"] for row in results]
        actor = Actor.for_api_key(client.api_key) if hasattr(client, "api_key") else Actor.for_user(client.user)
        if path == "caseload/":
            whole = selectors.caseload_for(actor=actor, physician=physician if who == "physician" else None)
            serializer = CaseloadEntrySerializer
        else:
            whole = Episode.objects.select_related("clinic", "patient", "physician", "coordinator")
            serializer = EpisodeSerializer
        found = {str(e.external_id): e for e in whole.filter(external_id__in=ids)}
        expected = serializer([found[i] for i in ids], many=True, context={"actor": actor}).data
        assert JSONRenderer().render(results) == JSONRenderer().render(expected), who
