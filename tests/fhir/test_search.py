"""Each search parameter filters; Bundles page with total and links, _count is capped, _include adds patients."""

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from fhir_r4 import codes
from pathway import services
from pathway.actors import Actor
from pathway.clinic_time import local_date
from tests.factories import AppointmentFactory, EpisodeFactory, PainEntryFactory, PatientFactory, advance_to, staff

from .conftest import fhir_get, outcome


def ids(bundle: dict, mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


@pytest.fixture
def ada(clinic, physician):
    return PatientFactory(clinic=clinic, given_name="Ada", family_name="Lovelace", mrn="MRN-1",
                          birth_date=date(1960, 5, 17))


@pytest.fixture
def alan(clinic):
    return PatientFactory(clinic=clinic, given_name="Alan", family_name="Turing", mrn="MRN-2",
                          birth_date=date(1972, 6, 23))


# --- Patient --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    ({"identifier": "MRN-1"}, {"ada"}),
    ({"identifier": "urn:drg-pathway:clinic:north:mrn|MRN-2"}, {"alan"}),
    ({"identifier": "urn:oid:9.9|MRN-2"}, set()),
    ({"identifier": "MRN-1,MRN-2"}, {"ada", "alan"}),
    ({"name": "love"}, {"ada"}),
    ({"name": "AL"}, {"alan"}),
    ({"name": "a"}, {"ada", "alan"}),
    ({"name:exact": "Ada"}, {"ada"}),
    ({"name:exact": "ada"}, set()),
    ({"name:contains": "rin"}, {"alan"}),
    ({"birthdate": "1960-05-17"}, {"ada"}),
    ({"birthdate": "1972"}, {"alan"}),
    ({"birthdate": "1960-05"}, {"ada"}),
    ({"birthdate": "lt1970-01-01"}, {"ada"}),
    ({"birthdate": "ge1972-06-23"}, {"alan"}),
    ({"birthdate": "ne1972-06-23"}, {"ada"}),
])
def test_patient_search_parameters_filter(ehr, ada, alan, params, expected):
    found = ids(fhir_get(ehr, "Patient", **params))
    assert found == {str(p.external_id) for p in (ada, alan) if p.given_name.lower() in expected}


def test_repeated_parameters_and_together(ehr, ada, alan):
    assert ids(fhir_get(ehr, "Patient", name="a", birthdate="gt1970")) == {str(alan.external_id)}


def test_last_updated_gt_gives_what_changed_since(ehr, clinic, ada, coordinator):
    later = timezone.now() + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        services.patient_update(patient=ada, actor=Actor.for_user(coordinator), email="ada@example.org")
    since = (later - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert ids(fhir_get(ehr, "Patient", _lastUpdated=f"gt{since}")) == {str(ada.external_id)}
    assert ids(fhir_get(ehr, "Patient", _lastUpdated=f"lt{since}")) == set()


@pytest.mark.parametrize("bad", [{"birthdate": "17/05/1960"}, {"birthdate": "2020-01-01T10:00:00Z"},
                                 {"_lastUpdated": "gt2026-01-01T10:00"}, {"name:fuzzy": "x"}, {"_sort": "name"},
                                 {"_count": "ten"}, {"_cursor": "forged"}, {"_include": "Patient:organization"}])
def test_an_unreadable_search_is_400_naming_the_parameter(ehr, ada, bad):
    body = outcome(ehr, "Patient", 400, **bad)
    (key,) = bad
    assert body["issue"][0]["code"] == "invalid"
    assert body["issue"][0]["diagnostics"].startswith(f"{key}:")


# --- paging ---------------------------------------------------------------------------------------


def test_pages_follow_next_links_with_total(ehr, clinic, settings):
    settings.FHIR = {**settings.FHIR, "MAX_PAGE_SIZE": 3}
    patients = {str(PatientFactory(clinic=clinic).external_id) for _ in range(7)}
    seen, url, pages = set(), None, 0
    bundle = fhir_get(ehr, "Patient", _count=50)  # capped at 3, not refused
    while True:
        pages += 1
        assert bundle["total"] == 7
        assert len(bundle["entry"]) <= 3
        seen |= ids(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if url is None:
            break
        response = ehr.get(url)
        assert response.status_code == 200
        bundle = response.json()
    assert seen == patients and pages == 3


def test_count_zero_answers_the_total_only(ehr, ada, alan):
    bundle = fhir_get(ehr, "Patient", _count=0)
    assert bundle["total"] == 2 and "entry" not in bundle


# --- EpisodeOfCare and _include ---------------------------------------------------------------------


def test_episode_search_by_patient_and_status_with_the_patient_included(ehr, ada, alan, physician):
    first = EpisodeFactory(patient=ada, physician=physician)
    held = EpisodeFactory(patient=alan, physician=physician)
    services.episode_hold(episode=held, actor=Actor.for_user(physician), reason="Insurance appeal")
    ended = advance_to(EpisodeFactory(patient=ada, physician=physician), "withdrawn")

    assert ids(fhir_get(ehr, "EpisodeOfCare", patient=f"Patient/{ada.external_id}")) == {
        str(first.external_id), str(ended.external_id)}
    assert ids(fhir_get(ehr, "EpisodeOfCare", patient=str(alan.external_id))) == {str(held.external_id)}
    assert ids(fhir_get(ehr, "EpisodeOfCare", status="onhold")) == {str(held.external_id)}
    assert ids(fhir_get(ehr, "EpisodeOfCare", status="active,cancelled")) == {
        str(first.external_id), str(ended.external_id)}
    assert ids(fhir_get(ehr, "EpisodeOfCare", status="finished")) == set()
    outcome(ehr, "EpisodeOfCare", 400, status="paused")

    bundle = fhir_get(ehr, "EpisodeOfCare", status="onhold", _include="EpisodeOfCare:patient")
    assert ids(bundle, "include") == {str(alan.external_id)}
    assert bundle["total"] == 1  # included resources are not counted


# --- Appointment --------------------------------------------------------------------------------------


def test_appointment_search_parameters_filter(ehr, clinic, ada, alan, coordinator):
    day = timezone.now().replace(microsecond=0) + timedelta(days=5)
    a1 = AppointmentFactory(patient=ada, starts_at=day, ends_at=day + timedelta(minutes=30), external_ref="PM-1",
                            kind="imaging")
    a2 = AppointmentFactory(patient=alan, starts_at=day + timedelta(days=3), ends_at=day + timedelta(days=3, hours=1))
    services.appointment_cancel(appointment=a2, actor=Actor.for_user(coordinator), reason="Patient ill")
    local_day = local_date(clinic, day).isoformat()

    def found(**params):
        return ids(fhir_get(ehr, "Appointment", **params))

    assert found(patient=f"Patient/{ada.external_id}") == {str(a1.external_id)}
    assert found(status="cancelled") == {str(a2.external_id)}
    assert found(status="booked,cancelled") == {str(a1.external_id), str(a2.external_id)}
    assert found(date=local_day) == {str(a1.external_id)}
    assert found(date=f"gt{local_day}") == {str(a2.external_id)}
    assert found(date=f"ge{day.isoformat()}", status="cancelled") == {str(a2.external_id)}
    assert found(identifier="PM-1") == {str(a1.external_id)}
    assert found(identifier=f"{codes.appointment_identifier_system(clinic)}|PM-1") == {str(a1.external_id)}
    assert found(**{"service-type": "imaging"}) == {str(a1.external_id)}
    bundle = fhir_get(ehr, "Appointment", _include="Appointment:patient", status="booked")
    assert ids(bundle, "include") == {str(ada.external_id)}


# --- Observation and Condition --------------------------------------------------------------------------


def test_observation_search_by_patient_code_and_date(ehr, clinic, ada, alan, physician):
    e1 = EpisodeFactory(patient=ada, physician=physician)
    e2 = EpisodeFactory(patient=alan, physician=physician)
    old = PainEntryFactory(episode=e1, nrs=8, recorded_at=timezone.now() - timedelta(days=30), sleep_quality=2)
    new = PainEntryFactory(episode=e2, nrs=3, activity_limitation=5)

    def found(**params):
        return ids(fhir_get(ehr, "Observation", **params))

    assert found(patient=f"Patient/{ada.external_id}") == {str(old.external_id), f"{old.external_id}-sleep"}
    assert found(code="http://loinc.org|72514-3") == {str(old.external_id), str(new.external_id)}
    assert found(code="sleep-quality") == {f"{old.external_id}-sleep"}
    assert found(code="72514-3,activity-limitation", patient=str(alan.external_id)) == {
        str(new.external_id), f"{new.external_id}-activity"}
    assert found(code="http://snomed.info/sct|72514-3") == set()
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert found(date=f"ge{since}") == {str(new.external_id), f"{new.external_id}-activity"}
    assert fhir_get(ehr, "Observation", code="sleep-quality,72514-3")["total"] == 3


def test_condition_search_by_patient_and_code(ehr, ada, alan, physician):
    crps = EpisodeFactory(patient=ada, physician=physician, diagnosis="crps_2", icd10_code="G56.41")
    injury = EpisodeFactory(patient=alan, physician=physician, diagnosis="nerve_injury", icd10_code="")
    EpisodeFactory(patient=alan, physician=physician, diagnosis="")  # no diagnosis yet: no Condition

    def found(**params):
        return ids(fhir_get(ehr, "Condition", **params))

    assert found() == {str(crps.external_id), str(injury.external_id)}
    assert found(code="http://hl7.org/fhir/sid/icd-10-cm|G56.41") == {str(crps.external_id)}
    assert found(code="g56.41") == {str(crps.external_id)}
    assert found(code="nerve_injury") == {str(injury.external_id)}
    assert found(patient=f"Patient/{alan.external_id}") == {str(injury.external_id)}


def test_practitioner_search_by_name_and_identifier(ehr, clinic, physician, other_clinic):
    staff(other_clinic, "physician", username="elsewhere", first_name="Dana")
    staff(clinic, "coordinator", username="not-a-doctor", first_name="Dana")
    assert ids(fhir_get(ehr, "Practitioner")) == {codes.practitioner_id(physician)}
    assert ids(fhir_get(ehr, "Practitioner", name="dan")) == {codes.practitioner_id(physician)}
    assert ids(fhir_get(ehr, "Practitioner", identifier="doc")) == {codes.practitioner_id(physician)}
    assert ids(fhir_get(ehr, "Practitioner", identifier="elsewhere")) == set()
