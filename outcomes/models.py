"""The follow-up questionnaire: one invitation per milestone, answered once by the patient (or at a visit)."""

import uuid

from django.db import models


class OutcomeQuestionnaire(models.Model):
    """A milestone's patient-reported outcome form: planned when the milestone's window opens (for a patient with
    diary consent and a channel), its link sent once through a Reminder, reminded once, answered once.

    The link is signed (Django signing, salted) and names only `external_id`; nothing in it names the patient.
    `answer` is the follow-up PainEntry the answer became (source patient link, or staff at a visit).
    """

    external_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    milestone = models.OneToOneField("pathway.FollowUpMilestone", on_delete=models.CASCADE,
                                     related_name="questionnaire")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="when its invitation was planned to go out")
    reminded_at = models.DateTimeField(null=True, blank=True, help_text="when its one reminder was planned")
    answered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    answer = models.OneToOneField("pathway.PainEntry", on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="questionnaire")

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"questionnaire {self.external_id}"
