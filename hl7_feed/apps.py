from django.apps import AppConfig


class HL7FeedConfig(AppConfig):
    # Not "hl7": that is the HL7 library's own top-level package, which a project directory would shadow.
    name = "hl7_feed"
    verbose_name = "HL7 v2 feed"
