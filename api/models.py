from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from pathway.models import Clinic
from pathway.stages import Role


class ClinicAPIKey(AbstractAPIKey):
    """An integration's key: stored hashed, bound to one clinic and one role, revocable."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="api_keys")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.FRONT_DESK)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "clinic API key"
