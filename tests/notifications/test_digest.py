"""The coordinators' morning digest: one email each, clinic time, nothing when there is nothing to say."""

from datetime import timedelta

import pytest
import time_machine

from notifications import services
from notifications.models import Reminder
from notifications.selectors import digest_for_clinic
from pathway.stages import Role
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, advance_to, staff

from .helpers import chicago, send_due

pytestmark = pytest.mark.django_db
MORNING = chicago(2026, 6, 10, 7, 5)


@pytest.fixture
def coordinators(clinic):
    staff(clinic, Role.COORDINATOR, username="cora", email="cora@example.org")
    staff(clinic, Role.COORDINATOR, username="colin", email="colin@example.org")
    staff(clinic, Role.COORDINATOR, username="no-mail", email="")
    staff(clinic, Role.PHYSICIAN, username="doc", email="doc@example.org")


@pytest.fixture
def stalled(clinic):
    patient = PatientFactory(clinic=clinic, given_name="Alma", family_name="Reyes", mrn="MRN-777")
    return EpisodeFactory(patient=patient, stage_entered_at=MORNING - timedelta(days=75))


def test_nothing_is_planned_before_the_clinics_digest_time(coordinators, stalled):
    assert services.digests_plan(now=chicago(2026, 6, 10, 6, 59)) == 0


def test_each_coordinator_gets_one_email_listing_stalled_episodes(coordinators, stalled, mailoutbox):
    with time_machine.travel(MORNING, tick=False):
        assert services.digests_plan() == 2
        assert services.digests_plan() == 0  # once a day
        assert send_due() == ["sent", "sent"]
    assert sorted(m.to[0] for m in mailoutbox) == ["colin@example.org", "cora@example.org"]
    email = mailoutbox[0]
    assert email.subject == "North Pain Clinic: 1 item(s) need attention today"
    assert "A.R. (MRN MRN-777): Evaluation, 75 days in stage" in email.body
    assert "A.R. (MRN MRN-777)" in email.alternatives[0][0]
    # Initials and MRN only: no names, diagnosis or pain details in the email.
    for detail in ("Alma", "Reyes", "CRPS", "complex regional", "G90", "foot", "NRS"):
        assert detail not in email.body and detail not in email.alternatives[0][0]


def test_nothing_to_say_sends_nothing_and_says_so(coordinators, mailoutbox):
    with time_machine.travel(MORNING, tick=False):
        services.digests_plan()
        assert send_due() == []
    assert not mailoutbox
    assert {(r.status, r.reason) for r in Reminder.objects.filter(purpose="digest")} == {("skipped",
                                                                                          "nothing to report")}


def test_the_digest_lists_trials_ending_today_overdue_milestones_and_failed_reminders(clinic, patient):
    with time_machine.travel(chicago(2026, 6, 3, 12, 0), tick=False):
        trial = advance_to(EpisodeFactory(patient=patient), "trial")
    with time_machine.travel(chicago(2026, 1, 10, 12, 0), tick=False):
        implanted = advance_to(EpisodeFactory(patient=PatientFactory(clinic=clinic, mrn="MRN-IMP")), "follow_up")
    Reminder.objects.filter(episode=trial).update(status="failed", reason="Twilio 21610: unsubscribed",
                                                  updated_at=MORNING - timedelta(hours=1))
    with time_machine.travel(MORNING, tick=False):
        digest = digest_for_clinic(clinic=clinic)
    assert trial.trial_expected_end == MORNING.date()
    assert [row["who"] for row in digest.trials_ending] == [f"{patient.given_name[0]}.{patient.family_name[0]}. "
                                                            f"(MRN {patient.mrn})"]
    overdue = {row["label"] for row in digest.overdue_milestones}
    assert {"Wound check", "Programming", "1-month follow-up", "3-month follow-up"} <= overdue
    assert all("MRN-IMP" in row["who"] for row in digest.overdue_milestones)
    assert implanted.stage == "follow_up"
    assert digest.failed_reminders and digest.failed_reminders[0]["reason"] == "Twilio 21610: unsubscribed"


def test_another_clinics_episodes_stay_out(coordinators, clinic):
    other = ClinicFactory(slug="south")
    EpisodeFactory(patient=PatientFactory(clinic=other), stage_entered_at=MORNING - timedelta(days=90))
    assert digest_for_clinic(clinic=clinic, now=MORNING).count == 0
    assert digest_for_clinic(clinic=other, now=MORNING).count == 1
