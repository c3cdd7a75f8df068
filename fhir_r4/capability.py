"""The CapabilityStatement, generated from the registry: what `metadata` answers."""

from __future__ import annotations

from functools import cache

from django.utils import timezone
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from .registry import REGISTRY, SYSTEM_OPERATIONS

FHIR_VERSION = "4.0.1"
SOFTWARE_VERSION = "0.1.0"


@cache
def _published() -> str:
    """When this server process started serving this statement (CapabilityStatement.date is required)."""
    return timezone.now().isoformat()


def capability_statement(*, base_url: str) -> CapabilityStatement:
    resources = []
    for resource_type in REGISTRY.values():
        resources.append({
            "type": resource_type.name,
            "profile": resource_type.profile,
            "documentation": resource_type.documentation
            + (" Coordinators and physicians only." if resource_type.clinical else ""),
            "interaction": [{"code": code} for code in resource_type.interactions],
            "versioning": resource_type.versioning,
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": "create" in resource_type.interactions,
            "searchInclude": list(resource_type.includes) or None,
            "operation": [{"name": op.name, "definition": op.definition, "documentation": op.documentation}
                          for op in resource_type.operations] or None,
            "searchParam": [
                {"name": p.name, "type": p.type, "documentation": p.documentation,
                 **({"definition": p.definition} if p.definition else {})}
                for p in resource_type.params
            ],
        })
    body = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _published(),
        "publisher": "DRG pathway",
        "kind": "instance",
        "software": {"name": "DRG pathway", "version": SOFTWARE_VERSION},
        "implementation": {"description": "DRG stimulation pathway tracker: FHIR R4 interface", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Search results are paged (_count, capped; follow the `next` link as given). "
                             "Unknown search parameters are refused with 400, not ignored.",
            "security": {
                "cors": False,
                "description": "The clinic's API key as `Authorization: Bearer <key>` (or `Api-Key <key>`), or a "
                               "signed-in staff session. Every answer is scoped to the key's clinic and role.",
            },
            "resource": resources,
            "operation": [{"name": op.name, "definition": op.definition, "documentation": op.documentation}
                          for op in SYSTEM_OPERATIONS],
        }],
    }
    return CapabilityStatement.model_validate(body)
