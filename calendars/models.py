"""A private calendar feed: a secret link a physician's or a clinic's calendar application subscribes to.

Only the SHA-256 of the link's token is stored (the token is shown once, when the feed is made). A feed belongs
to exactly one owner, a physician (their appointments in every clinic where they are a physician) or a clinic
(all of its appointments); an owner has at most one live feed, and making a new one revokes the old.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from pathway.models import Clinic


class CalendarFeed(models.Model):
    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False,
                                  help_text="SHA-256 of the link's token; the token itself is never stored")
    physician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                                  related_name="calendar_feeds")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, null=True, blank=True, related_name="calendar_feeds")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(physician__isnull=False, clinic__isnull=True)
                           | Q(physician__isnull=True, clinic__isnull=False)),
                name="calendar_feed_one_owner",
            ),
            models.UniqueConstraint(fields=["physician"], condition=Q(revoked_at__isnull=True),
                                    name="one_live_feed_per_physician"),
            models.UniqueConstraint(fields=["clinic"], condition=Q(revoked_at__isnull=True),
                                    name="one_live_feed_per_clinic"),
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "live"
        return f"Calendar feed of {self.owner_label} ({state})"

    @property
    def owner_label(self) -> str:
        if self.clinic_id is not None:
            return self.clinic.name
        return self.physician.get_full_name() or self.physician.get_username()

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None
