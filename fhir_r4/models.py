"""Bulk Data export jobs (`$export`): who asked, for which clinic, what; the worker's progress and output.

The job row is all the Celery task receives (its id); the ndjson files live under a private directory that no
URL serves, and each is handed to the requester once through the status manifest, then deleted.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ExportJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("pathway.Clinic", on_delete=models.PROTECT, related_name="+")
    requested_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                          blank=True, related_name="+")
    requested_by_key = models.ForeignKey("api.ClinicAPIKey", on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="+")
    level = models.CharField(max_length=10, help_text="system or patient")
    types = models.JSONField(default=list, help_text="resource types asked for, in export order")
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True, help_text="why a failed job failed (never patient data)")
    created_at = models.DateTimeField(default=timezone.now)
    transaction_time = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # [{"type": "Observation", "count": 12, "downloaded": false}]; the patients each file names, for the audit
    output = models.JSONField(default=list, blank=True)
    output_patients = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.id} ({self.status})"
