from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    """What the pathway achieved: the trial summary for the payer and the clinic's reports."""

    name = "outcomes"
