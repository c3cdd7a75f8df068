"""Endpoints a clinic administrator registers, one WebhookDelivery per (event, endpoint), one row per attempt."""

from __future__ import annotations

import uuid

from django.db import models

from pathway.stages import Role


class EndpointRole(models.TextChoices):
    """Whose view of the clinic the receiver gets (DOMAIN.md "Roles")."""

    CLINICAL = "clinical", "Clinical (coordinator, physician)"
    FRONT_DESK = Role.FRONT_DESK.value, "Front desk"


class WebhookEndpoint(models.Model):
    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey("pathway.Clinic", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    event_types = models.JSONField(default=list, help_text="event types delivered here")
    role = models.CharField(max_length=20, choices=EndpointRole.choices, default=EndpointRole.FRONT_DESK,
                            help_text="what the receiver may see: front desk gets no clinical details")
    # Fernet-encrypted `whsec_...` secret: needed in clear to sign, so it is stored recoverable, never shown again.
    secret_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True, help_text="paused endpoints get no new deliveries")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # Copied from the event: deliveries of one key go out to one endpoint in sequence order.
    ordering_key = models.CharField(max_length=60)
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_once_per_endpoint")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["endpoint", "ordering_key", "sequence"], name="delivery_order"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint}"


class WebhookAttempt(models.Model):
    """Status code, duration and error class only: never the body sent or the answer."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    error_class = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error_class}"
