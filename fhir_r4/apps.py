from django.apps import AppConfig


class FhirR4Config(AppConfig):
    # Not "fhir": that name is the fhir.resources package's own top-level package, which a project
    # directory called fhir/ would shadow.
    name = "fhir_r4"
    verbose_name = "FHIR R4 interface"
