"""Every error under /fhir/r4/ is an OperationOutcome (application/fhir+json).

The API's handler decides the status and the words (one place for what a refusal means); this module only
re-shapes its problem document as FHIR expects.
"""

from __future__ import annotations

from fhir.resources.R4B.operationoutcome import OperationOutcome
from rest_framework.response import Response

from api.errors import TYPE_PREFIX, problem_exception_handler

FHIR_JSON = "application/fhir+json"
# HTTP status -> OperationOutcome.issue.code (http://hl7.org/fhir/issue-type)
ISSUE_CODES = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported",
    409: "conflict", 412: "conflict", 415: "not-supported", 422: "processing", 429: "throttled", 500: "exception",
}
KEPT_HEADERS = ("WWW-Authenticate", "Retry-After")


def operation_outcome(*, status_code: int, code: str, detail: str, errors: dict | None = None) -> dict:
    issue_code = ISSUE_CODES.get(status_code, "processing")
    details = {"coding": [{"system": TYPE_PREFIX.rstrip(":"), "code": code}], "text": detail}
    issues = [{"severity": "error", "code": issue_code, "details": details, "diagnostics": detail}]
    if errors:
        issues = [{"severity": "error", "code": issue_code, "details": {**details, "text": message},
                   "diagnostics": f"{name}: {message}"}
                  for name, messages in errors.items() for message in messages]
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": issues}).model_dump(
        mode="json", exclude_none=True)


def outcome_response(*, status_code: int, code: str, detail: str, errors: dict | None = None,
                     headers=None) -> Response:
    body = operation_outcome(status_code=status_code, code=code, detail=detail, errors=errors)
    return Response(body, status=status_code, content_type=FHIR_JSON, headers=headers)


def fhir_exception_handler(exc, context):
    problem = problem_exception_handler(exc, context)
    if problem is None:
        return None
    headers = {name: problem[name] for name in KEPT_HEADERS if problem.has_header(name)}
    data = problem.data
    return outcome_response(status_code=problem.status_code, code=data.get("code", "error"),
                            detail=data.get("detail", ""), errors=data.get("errors"), headers=headers)
