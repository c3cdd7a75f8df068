"""OpenAPI additions: every operation documents its problem+json errors and the Idempotency-Key header."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from .errors import PROBLEM_CONTENT_TYPE, TITLES, ProblemSerializer, problem_statuses
from .idempotency import IDEMPOTENCY_KEY_PATTERN


class ProblemAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status_code in problem_statuses(method=self.method):
            code = str(status_code)
            if code not in responses:
                body = self._get_response_for_code(ProblemSerializer, code, [PROBLEM_CONTENT_TYPE], direction)
                body["description"] = TITLES[status_code]
                responses[code] = body
        return responses

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key", {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                    OpenApiParameter.HEADER, required=False,
                    description="Retry safely: the same key and body within 24 hours replays the first "
                                "response; the same key with another body answers 422; a retry while the "
                                "first is still running answers 409.",
                )
            )
        return parameters


class ClinicAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ClinicAPIKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": 'An integration key, sent as "Api-Key <key>".'}


# Bodies whose serializer refuses an empty object (a validate() rule the fields cannot say).
AT_LEAST_ONE_FIELD = {"PatientSearchRequest"}


def refuse_unknown_request_fields(result, generator, request, public):
    """drf-spectacular postprocessing hook: request bodies say additionalProperties: false, as StrictInput
    refuses an unknown field by name (400) rather than dropping it; those in AT_LEAST_ONE_FIELD also say
    minProperties: 1."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
            if name in AT_LEAST_ONE_FIELD:
                component["minProperties"] = 1
    return result
