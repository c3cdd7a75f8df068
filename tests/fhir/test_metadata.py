"""`metadata` lists exactly what the server does: the registry's types, interactions and search parameters."""

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from rest_framework.test import APIClient

from fhir_r4.registry import REGISTRY, SYSTEM_OPERATIONS
from pathway.stages import Role

from .conftest import BASE, fhir_get, key_client, outcome


def test_the_capability_statement_validates_and_is_r4(desk):
    body = fhir_get(desk, "metadata")
    statement = CapabilityStatement.model_validate(body)
    assert statement.fhirVersion == "4.0.1"
    assert statement.kind == "instance"
    assert "application/fhir+json" in body["format"]


def test_it_lists_every_type_with_its_interactions_parameters_and_includes(desk):
    rest = fhir_get(desk, "metadata")["rest"][0]
    listed = {r["type"]: r for r in rest["resource"]}
    assert set(listed) == set(REGISTRY)
    for name, resource_type in REGISTRY.items():
        assert [i["code"] for i in listed[name]["interaction"]] == list(resource_type.interactions)
        assert [p["name"] for p in listed[name]["searchParam"]] == [p.name for p in resource_type.params]
        assert listed[name].get("searchInclude", []) == list(resource_type.includes)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_listed_parameter_is_accepted_and_an_unlisted_one_refused(ehr, name):
    listed = next(r for r in fhir_get(ehr, "metadata")["rest"][0]["resource"] if r["type"] == name)
    examples = {"token": "x", "string": "x", "date": "ge2020-01-01", "reference": "Patient/x"}
    for param in listed["searchParam"]:
        value = {"status": "booked" if name == "Appointment" else "active"}.get(param["name"], examples[param["type"]])
        fhir_get(ehr, name, **{param["name"]: value})
    body = outcome(ehr, name, 400, colour="blue")
    assert "colour" in body["issue"][0]["diagnostics"]


def test_metadata_needs_a_key_or_a_session(db):
    body = outcome(APIClient(), "metadata", 401)
    assert body["issue"][0]["code"] == "login"


def test_any_staff_key_reads_it(clinic):
    fhir_get(key_client(clinic, Role.FRONT_DESK, scheme="Api-Key"), "metadata")


def test_an_unknown_type_or_path_is_an_operation_outcome(ehr):
    assert outcome(ehr, "Encounter", 404)["issue"][0]["code"] == "not-found"
    response = ehr.get(BASE + "Patient/x/_history")
    assert response.status_code == 404 and response["Content-Type"] == "application/fhir+json"


def test_xml_is_not_offered(ehr):
    response = ehr.get(BASE + "metadata", {"_format": "xml"})
    assert response.status_code == 406 and response["Content-Type"] == "application/fhir+json"


def test_it_lists_exactly_the_operations_served(ehr, episode):
    listed = {r["type"]: r for r in fhir_get(ehr, "metadata")["rest"][0]["resource"]}
    for name, resource_type in REGISTRY.items():
        assert [o["name"] for o in listed[name].get("operation", [])] == [o.name for o in resource_type.operations]
    assert [o["name"] for o in listed["Patient"]["operation"]] == ["everything", "export"]
    fhir_get(ehr, f"Patient/{episode.patient.external_id}/$everything")
    rest = fhir_get(ehr, "metadata")["rest"][0]
    assert [o["definition"] for o in rest["operation"]] == [o.definition for o in SYSTEM_OPERATIONS]
    for path in ("$export", "Patient/$export"):
        assert ehr.get(BASE + path, HTTP_PREFER="respond-async").status_code == 202
