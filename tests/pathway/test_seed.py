"""`manage.py seed_demo`: every stage and ending, holds and stalled episodes, and nothing doubled on a rerun."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count

from pathway.clinic_time import clinic_today
from pathway.models import Appointment, Clinic, Episode, FollowUpMilestone, Patient, TransitionLog
from pathway.selectors import stalled_q
from pathway.stages import Role, Stage

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed twice once for the module (seeding takes seconds), keep the output, undo afterwards."""
    with django_db_blocker.unblock():
        from django.db import transaction

        transaction.set_autocommit(False)
        try:
            first, second = StringIO(), StringIO()
            call_command("seed_demo", stdout=first)
            counts = table_counts()
            call_command("seed_demo", stdout=second)
            yield {"first": first.getvalue(), "second": second.getvalue(), "counts": counts}
        finally:
            transaction.rollback()
            transaction.set_autocommit(True)


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Clinic, get_user_model(), Patient, Episode, TransitionLog, Appointment, FollowUpMilestone)}


def test_second_run_adds_nothing(seeded):
    assert table_counts() == seeded["counts"]
    assert "0 new patients (201 already there)" in seeded["second"]


def test_about_two_hundred_synthetic_patients_in_two_clinics(seeded):
    assert dict(Clinic.objects.values_list("slug", "time_zone")) == {
        "demo": "America/Chicago", "north": "America/Denver"}
    assert Patient.objects.count() == 201
    assert not Patient.objects.exclude(email__endswith="@example.org").exists()
    assert not Patient.objects.exclude(phone__startswith="+1555").exists()


@pytest.mark.parametrize("slug", ["demo", "north"])
def test_every_stage_and_ending_in_each_clinic(seeded, slug):
    stages = set(Episode.objects.filter(clinic__slug=slug).values_list("stage", flat=True))
    assert stages == set(Stage.values)


def test_holds_stalled_and_both_trial_outcomes(seeded):
    clinics = Clinic.objects.all()
    open_episodes = Episode.objects.filter(stage__in=["evaluation", "trial", "trial_review", "implant"])
    assert open_episodes.filter(on_hold=True).exists()
    stalled = set(Episode.objects.filter(stalled_q(clinics=clinics)).values_list("stage", flat=True))
    assert stalled == {"evaluation", "trial", "trial_review", "implant"}
    assert TransitionLog.objects.filter(transition="fail_trial").exists()
    assert TransitionLog.objects.filter(transition="abort_trial").exists()
    assert TransitionLog.objects.filter(transition="approve_implant", figures__physician_override=True).exists()
    assert FollowUpMilestone.objects.filter(met_by__isnull=False).exists()
    statuses = set(Appointment.objects.values_list("status", flat=True))
    assert {"fulfilled", "booked"} <= statuses


def test_authorizations_for_both_steps_and_some_needing_a_chase(seeded):
    from pathway.models import PriorAuthorization
    from pathway.selectors import authorization_problem_q

    steps = set(PriorAuthorization.objects.values_list("step", "status"))
    assert {("trial", "approved"), ("trial", "submitted"), ("trial", "denied"), ("implant", "approved"),
            ("implant", "submitted")} <= steps
    today = clinic_today(Clinic.objects.get(slug="demo"))
    assert Episode.objects.filter(authorization_problem_q(today=today), clinic__slug="demo").count() >= 5
    # Every implant recorded had its authorization: record_implant ran through the guard.
    assert not Episode.objects.filter(stage="follow_up").exclude(
        authorizations__step="implant", authorizations__status="approved").exists()


def test_every_transition_is_logged_and_dated_in_the_past(seeded):
    moved = Episode.objects.exclude(stage="evaluation").annotate(n=Count("transition_logs"))
    assert not moved.filter(n=0).exists()
    latest = TransitionLog.objects.order_by("-at").first()
    assert latest.at.year >= 2025


def test_one_user_per_role_per_clinic_with_admin_access_for_staff_only(seeded):
    users = get_user_model().objects
    for slug in ("demo", "north"):
        for role in Role.values:
            assert users.filter(clinic_memberships__clinic__slug=slug, clinic_memberships__role=role).exists()
    assert users.get(username="admin").is_superuser
    assert users.get(username="demo-coordinator").is_staff
    assert not users.get(username="demo-frontdesk").is_staff
    assert users.get(username="demo-physician").check_password("drg-demo-2026")
    assert "demo-coordinator" in seeded["first"] and "drg-demo-2026" in seeded["first"]


def test_readme_walkthrough_in_the_admin(seeded, client):
    """The README's walk: DEMO-WALK from evaluation to follow-up as demo-physician, only through admin pages."""
    from django.urls import reverse

    from tests.pathway.test_admin import change_url, form_data, messages_of, transition_url

    client.force_login(get_user_model().objects.get(username="demo-physician"))
    episode = Episode.objects.get(patient__mrn="DEMO-WALK")
    listing = client.get(reverse("admin:pathway_episode_changelist"), {"q": "DEMO-WALK"})
    assert list(listing.context["cl"].queryset) == [episode]

    data = form_data(client.get(change_url(episode)))
    for index, item in enumerate(episode.checklist_items.order_by("id")):
        data[f"checklist_items-{index}-status"] = "met"
        if item.kind == "prior_treatments":
            data[f"checklist_items-{index}-tried"] = ["medications", "physical_therapy"]
    assert client.post(change_url(episode), data).status_code == 302
    assert not episode.checklist_items.exclude(status="met").exists()

    today = clinic_today(episode.clinic).isoformat()
    response = client.post(transition_url(episode, "start_trial"), {"trial_lead_placement_date": today})
    assert response.status_code == 302, messages_of(response)
    for nrs in (3, 2, 3):
        data = form_data(client.get(change_url(episode)))
        new = data["pain_entries-INITIAL_FORMS"]  # the empty row follows the entries on file
        data.update({f"pain_entries-{new}-nrs": str(nrs), f"pain_entries-{new}-phase": "trial"})
        assert client.post(change_url(episode), data).status_code == 302
    steps = [
        ("end_trial", {"trial_lead_removal_date": today}),
        ("approve_implant", {}),
        ("record_implant", {"implant_date": today, "device_maker": "Synthetic Neuro", "device_model": "DRG-Demo 4",
                            "device_serial": "SYN-WALK", "lead_levels": "L4 left, L5 left"}),
    ]
    for name, inputs in steps:
        response = client.post(transition_url(episode, name), inputs)
        assert response.status_code == 302, messages_of(response)
    episode.refresh_from_db()
    assert episode.stage == "follow_up"
    assert list(episode.transition_logs.values_list("transition", flat=True)) == [
        "start_trial", "end_trial", "approve_implant", "record_implant"]
    assert episode.milestones.count() >= 10


def test_some_implanted_patients_have_years_of_follow_up_with_questionnaires_and_pgic(seeded):
    from outcomes.models import OutcomeQuestionnaire
    from pathway.models import PainEntry

    years = FollowUpMilestone.objects.filter(key="month_36", window_end__lt=clinic_today(Clinic.objects.first()))
    assert years.values("episode").distinct().count() >= 3
    answered = OutcomeQuestionnaire.objects.filter(answered_at__isnull=False)
    assert answered.filter(milestone__key="month_24").exists()
    assert not answered.filter(answer__isnull=True).exists()
    assert OutcomeQuestionnaire.objects.filter(answered_at__isnull=True, reminded_at__isnull=False).exists()
    pgic = set(PainEntry.objects.filter(pgic__isnull=False).values_list("pgic", flat=True))
    assert {1, 2, 3, 4} <= pgic and not PainEntry.objects.filter(pgic__isnull=False).exclude(phase="follow_up").exists()
