"""The Django admin as coordinators and physicians use it: scoped, and every write through the services."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.forms import MultiWidget
from django.urls import reverse
from django.utils import timezone

from pathway.actors import Actor
from pathway.clinic_time import clinic_today
from pathway.management.staff_access import staff_access_sync
from pathway.models import Appointment, ChecklistItem, Clinic, Episode, PainEntry, Patient, TransitionLog
from pathway.stages import ChecklistItemKind, Role
from tests.factories import ClinicFactory, EpisodeFactory, PainEntryFactory, PatientFactory, complete_checklist, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    return ClinicFactory(slug="riverside")


@pytest.fixture
def users(clinic):
    people = {role: staff(clinic, role, username=f"riverside-{role}") for role in Role.values}
    people["north"] = staff(ClinicFactory(slug="north"), Role.COORDINATOR, username="north-coordinator")
    for user in people.values():
        staff_access_sync(user=user)
    return people


@pytest.fixture
def episode(clinic, users):
    patient = PatientFactory(clinic=clinic, mrn="MRN-ADMIN-1", given_name="Avery", family_name="Demoson")
    return EpisodeFactory(patient=patient, physician=users[Role.PHYSICIAN])


@pytest.fixture
def north_episode(users):
    north = users["north"].clinic_memberships.get().clinic
    physician = staff(north, Role.PHYSICIAN, username="north-physician")
    return EpisodeFactory(patient=PatientFactory(clinic=north, mrn="MRN-NORTH-1"), physician=physician)


def change_url(episode):
    return reverse("admin:pathway_episode_change", args=[episode.pk])


def transition_url(episode, name):
    return reverse("admin:pathway_episode_transition", kwargs={"object_id": episode.pk, "transition_name": name})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def form_data(response) -> dict:
    """The POST a browser would send for the change page as rendered (main form and every inline)."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += list(formset.forms)
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    for form in forms:
        for name, field in form.fields.items():
            value, key = form[name].value(), form.add_prefix(name)
            if value is None:
                continue
            if isinstance(field.widget, MultiWidget):  # split date and time
                parts = zip(field.widget.widgets, field.widget.decompress(value), strict=True)
                for index, (widget, part) in enumerate(parts):
                    data[f"{key}_{index}"] = widget.format_value(part) or ""
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = list(value)
            else:
                formatted = field.widget.format_value(value)
                formatted = formatted[0] if isinstance(formatted, list) else formatted
                data[key] = "" if formatted is None else formatted
    return data


# --- Pages and scoping ----------------------------------------------------------------------------


def test_coordinator_sees_own_clinic_episodes_only(client, users, episode, north_episode):
    client.force_login(users[Role.COORDINATOR])
    response = client.get(reverse("admin:pathway_episode_changelist"))
    assert response.status_code == 200
    shown = list(response.context["cl"].queryset)
    assert shown == [episode]
    assert "MRN-NORTH-1" not in response.content.decode()


@pytest.mark.parametrize("query", ["MRN-ADMIN-1", "Demoson", "Avery"])
def test_episode_search_by_mrn_and_names(client, users, episode, query):
    other = EpisodeFactory(patient=PatientFactory(clinic=episode.clinic, given_name="Noel", family_name="Testbury"),
                           physician=episode.physician)
    client.force_login(users[Role.COORDINATOR])
    response = client.get(reverse("admin:pathway_episode_changelist"), {"q": query})
    assert list(response.context["cl"].queryset) == [episode]
    assert other not in response.context["cl"].queryset


def test_stalled_and_hold_filters(client, users, episode):
    fresh = EpisodeFactory(patient=PatientFactory(clinic=episode.clinic), physician=episode.physician)
    Episode.objects.filter(pk=episode.pk).update(stage_entered_at=timezone.now() - timedelta(days=75))
    client.force_login(users[Role.COORDINATOR])
    url = reverse("admin:pathway_episode_changelist")
    assert list(client.get(url, {"stalled": "yes"}).context["cl"].queryset) == [episode]
    assert list(client.get(url, {"stalled": "no"}).context["cl"].queryset) == [fresh]
    assert list(client.get(url, {"stage__exact": "evaluation", "on_hold__exact": "0"}).context["cl"].queryset)


def test_change_page_shows_checklist_history_and_only_the_users_transitions(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    response = client.get(change_url(episode))
    assert response.status_code == 200
    page = response.content.decode()
    assert "candidacy checklist" in page.lower()
    assert "Psychological evaluation cleared" in page
    assert "history (transitions, holds and releases)" in page.lower()
    assert 'value="start_trial"' in page
    assert 'value="withdraw"' in page
    assert 'value="decline_candidacy"' not in page  # physicians only
    assert "Put on hold" in page


def test_physician_gets_physician_transitions(client, users, episode):
    client.force_login(users[Role.PHYSICIAN])
    page = client.get(change_url(episode)).content.decode()
    assert 'value="decline_candidacy"' in page


def test_another_clinics_episode_is_absent(client, users, north_episode):
    client.force_login(users[Role.COORDINATOR])
    response = client.get(change_url(north_episode))
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert client.get(transition_url(north_episode, "withdraw")).status_code == 302
    assert client.get(reverse("admin:pathway_episode_hold", args=[north_episode.pk])).status_code == 404
    assert client.get(reverse("admin:pathway_patient_change", args=[north_episode.patient.pk])).status_code == 302


def test_front_desk_has_no_admin(client, users):
    client.force_login(users[Role.FRONT_DESK])
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url


def test_transition_log_is_view_only_even_for_a_superuser(client, django_user_model, episode):
    superuser = django_user_model.objects.create_superuser("root", "root@example.org", "pass-word-123")
    client.force_login(superuser)
    assert client.get(reverse("admin:pathway_transitionlog_changelist")).status_code == 200
    assert client.get(reverse("admin:pathway_transitionlog_add")).status_code == 403


# --- Transitions through the service ---------------------------------------------------------------


def test_transition_button_leads_to_its_form(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    page = client.get(change_url(episode))
    response = client.post(change_url(episode), {**form_data(page), "_fsm_transition_to": "start_trial"})
    assert response.status_code == 302
    assert response.url == transition_url(episode, "start_trial")
    form_page = client.get(response.url).content.decode()
    assert "Lead placement date" in form_page


def test_transition_form_runs_the_service_and_logs_once(client, users, episode):
    complete_checklist(episode, Actor.for_user(users[Role.PHYSICIAN]))
    client.force_login(users[Role.COORDINATOR])
    response = client.post(transition_url(episode, "start_trial"), {
        "trial_lead_placement_date": clinic_today(episode.clinic).isoformat(), "reason": "Scheduled with the patient",
    })
    assert response.status_code == 302, messages_of(response)
    episode.refresh_from_db()
    assert episode.stage == "trial"
    log = TransitionLog.objects.get(episode=episode)
    assert (log.transition, log.actor_user, log.reason) == ("start_trial", users[Role.COORDINATOR],
                                                            "Scheduled with the patient")
    assert log.figures["trial_lead_placement_date"] == clinic_today(episode.clinic).isoformat()


def test_refused_transition_shows_each_unmet_guard_and_writes_nothing(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    response = client.post(transition_url(episode, "start_trial"), {})
    assert response.status_code == 200  # the form again, with the reasons
    shown = messages_of(response)
    assert any("candidacy checklist incomplete" in message for message in shown)
    assert any("the lead placement date is missing" in message for message in shown)
    assert "candidacy checklist incomplete" in response.content.decode()
    episode.refresh_from_db()
    assert episode.stage == "evaluation"
    assert not TransitionLog.objects.exists()


def test_transition_not_allowed_for_role_is_refused(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    response = client.post(transition_url(episode, "decline_candidacy"), {"reason": "No"})
    assert response.status_code == 302
    assert not TransitionLog.objects.exists()
    assert any("not allowed" in message for message in messages_of(response))


def test_physician_approves_implant_below_threshold_only_with_override(client, users, episode):
    from tests.factories import advance_to

    advance_to(episode, "trial_review")
    PainEntryFactory(episode=episode, nrs=8, phase="trial")  # relief drops below 50 %
    client.force_login(users[Role.PHYSICIAN])
    refused = client.post(transition_url(episode, "approve_implant"), {})
    assert any("below the 50.0 % threshold" in message for message in messages_of(refused))
    approved = client.post(transition_url(episode, "approve_implant"), {"reason": "Sleep and walking better"})
    assert approved.status_code == 302
    episode.refresh_from_db()
    assert episode.stage == "implant"
    log = TransitionLog.objects.get(episode=episode, transition="approve_implant")
    assert log.figures["physician_override"] is True


def test_record_implant_takes_lead_levels_from_the_form(client, users, episode):
    from tests.factories import advance_to

    advance_to(episode, "implant")
    client.force_login(users[Role.COORDINATOR])
    response = client.post(transition_url(episode, "record_implant"), {
        "implant_date": clinic_today(episode.clinic).isoformat(), "device_maker": "Synthetic Devices",
        "device_model": "DRG-1", "device_serial": "SN-9", "lead_levels": "L4 left, L5 left",
    })
    assert response.status_code == 302, messages_of(response)
    episode.refresh_from_db()
    assert (episode.stage, episode.lead_levels) == ("follow_up", ["L4 left", "L5 left"])
    assert episode.milestones.exists()


# --- Hold, checklist, pain entries -----------------------------------------------------------------


def test_hold_hides_transitions_until_released(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    client.post(reverse("admin:pathway_episode_hold", args=[episode.pk]), {"reason": "Insurance appeal"})
    episode.refresh_from_db()
    assert episode.on_hold
    page = client.get(change_url(episode)).content.decode()
    assert 'value="start_trial"' not in page
    assert "Release hold" in page
    client.post(reverse("admin:pathway_episode_release", args=[episode.pk]), {"reason": ""})
    episode.refresh_from_db()
    assert not episode.on_hold
    assert list(TransitionLog.objects.values_list("transition", flat=True)) == ["hold", "release"]


def test_hold_needs_a_reason(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    response = client.post(reverse("admin:pathway_episode_hold", args=[episode.pk]), {"reason": ""})
    assert response.status_code == 200
    episode.refresh_from_db()
    assert not episode.on_hold


def test_checklist_inline_saves_through_the_service(client, users, episode):
    coordinator = users[Role.COORDINATOR]
    client.force_login(coordinator)
    data = form_data(client.get(change_url(episode)))
    items = list(episode.checklist_items.order_by("id"))
    index = next(i for i, item in enumerate(items) if item.kind == ChecklistItemKind.PRIOR_TREATMENTS)
    data[f"checklist_items-{index}-status"] = "met"
    data[f"checklist_items-{index}-tried"] = ["medications", "injections"]
    response = client.post(change_url(episode), data)
    assert response.status_code == 302, messages_of(response)
    item = ChecklistItem.objects.get(episode=episode, kind=ChecklistItemKind.PRIOR_TREATMENTS)
    assert (item.status, item.details, item.recorded_by) == ("met", {"tried": ["medications", "injections"]},
                                                             coordinator)


def test_checklist_refusal_saves_nothing_and_says_why(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    data = form_data(client.get(change_url(episode)))
    items = list(episode.checklist_items.order_by("id"))
    baseline = next(i for i, item in enumerate(items) if item.kind == ChecklistItemKind.BASELINE_PAIN)
    consent = next(i for i, item in enumerate(items) if item.kind == ChecklistItemKind.CONSENT)
    data[f"checklist_items-{consent}-status"] = "met"
    data[f"checklist_items-{baseline}-status"] = "met"  # no baseline score on file
    response = client.post(change_url(episode), data)
    assert response.status_code == 302
    assert any("Record a baseline pain score first" in message for message in messages_of(response))
    assert not ChecklistItem.objects.filter(episode=episode, status="met").exists()


def test_coordinator_cannot_waive(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    data = form_data(client.get(change_url(episode)))
    data["checklist_items-0-status"] = "waived"
    data["checklist_items-0-note"] = "Because"
    client.post(change_url(episode), data)
    assert not ChecklistItem.objects.filter(episode=episode, status="waived").exists()


def test_pain_entry_inline_adds_through_the_service(client, users, episode):
    coordinator = users[Role.COORDINATOR]
    client.force_login(coordinator)
    data = form_data(client.get(change_url(episode)))
    data.update({"pain_entries-0-nrs": "7", "pain_entries-0-phase": "baseline", "pain_entries-0-sleep_quality": "4"})
    response = client.post(change_url(episode), data)
    assert response.status_code == 302, messages_of(response)
    entry = PainEntry.objects.get(episode=episode)
    assert (entry.nrs, entry.phase, entry.source, entry.entered_by, entry.sleep_quality) == (
        7, "baseline", "staff", coordinator, 4)


def test_ended_episode_page_is_read_only(client, users, episode):
    from pathway import services

    services.episode_transition(episode=episode, name="withdraw", actor=Actor.for_user(users[Role.COORDINATOR]),
                                data={"reason": "Moved away"})
    client.force_login(users[Role.COORDINATOR])
    page = client.get(change_url(episode)).content.decode()
    assert "nothing changes it" in page
    assert "_fsm_transition_to" not in page
    assert client.post(change_url(episode), {}).status_code == 403


# --- The other pages --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["clinic", "membership", "patient", "episode", "checklistitem", "painentry",
                                   "referral", "appointment", "followupmilestone", "transitionlog"])
def test_every_changelist_renders_for_a_coordinator(client, users, episode, north_episode, model):
    PainEntryFactory(episode=episode)
    PainEntryFactory(episode=north_episode)
    client.force_login(users[Role.COORDINATOR])
    response = client.get(reverse(f"admin:pathway_{model}_changelist"))
    assert response.status_code == 200
    assert "MRN-NORTH-1" not in response.content.decode()
    assert "north" not in {clinic.slug for clinic in Clinic.objects.filter(
        pk__in=[getattr(row, "clinic_id", None) for row in response.context["cl"].queryset])}


def test_patient_added_in_the_admin_goes_through_the_service(client, users, clinic):
    client.force_login(users[Role.COORDINATOR])
    response = client.post(reverse("admin:pathway_patient_add"), {
        "clinic": clinic.pk, "mrn": "MRN-NEW-1", "given_name": "Wren", "family_name": "Samplewood",
        "birth_date": "1970-02-03", "phone": "+15550000001", "email": "wren@example.org",
        "preferred_channel": "sms", "sms_consent": "on", "sms_consent_method": "written",
        "episodes-TOTAL_FORMS": "0", "episodes-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    patient = Patient.objects.get(mrn="MRN-NEW-1")
    assert patient.sms_consent and patient.sms_consent_at is not None  # stamped by patient_create


def test_patient_cannot_be_added_to_another_clinic(client, users):
    north = Clinic.objects.get(slug="north")
    client.force_login(users[Role.COORDINATOR])
    response = client.post(reverse("admin:pathway_patient_add"), {
        "clinic": north.pk, "mrn": "MRN-NEW-2", "given_name": "Wren", "family_name": "Samplewood",
        "birth_date": "1970-02-03", "preferred_channel": "email",
        "episodes-TOTAL_FORMS": "0", "episodes-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    assert "clinic" in response.context["adminform"].form.errors
    assert not Patient.objects.filter(mrn="MRN-NEW-2").exists()


def test_appointment_booked_and_completed_through_the_admin(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    starts = timezone.localtime(timezone.now() + timedelta(days=2)).replace(hour=10, minute=0, second=0)
    response = client.post(reverse("admin:pathway_appointment_add"), {
        "patient": episode.patient.pk, "episode": episode.pk, "kind": "consultation",
        "starts_at_0": starts.date().isoformat(), "starts_at_1": "10:00:00",
        "ends_at_0": starts.date().isoformat(), "ends_at_1": "10:30:00", "external_ref": "",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    appointment = Appointment.objects.get(patient=episode.patient)
    assert appointment.status == "booked"
    url = reverse("admin:pathway_appointment_change", args=[appointment.pk])
    page = client.get(url)
    assert 'value="complete"' in page.content.decode()
    response = client.post(url, {**form_data(page), "_fsm_transition_to": "complete"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "fulfilled"


def test_cancel_asks_for_a_reason(client, users, episode):
    from tests.factories import AppointmentFactory

    appointment = AppointmentFactory(patient=episode.patient)
    client.force_login(users[Role.COORDINATOR])
    url = reverse("admin:pathway_appointment_transition",
                  kwargs={"object_id": appointment.pk, "transition_name": "cancel"})
    assert client.post(url, {"reason": ""}).status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == "booked"
    assert client.post(url, {"reason": "Patient called to cancel"}).status_code == 302
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancellation_reason) == ("cancelled", "Patient called to cancel")


def test_episode_added_in_the_admin_goes_through_the_service(client, users, clinic):
    patient = PatientFactory(clinic=clinic)
    client.force_login(users[Role.COORDINATOR])
    assert client.get(reverse("admin:pathway_episode_add")).status_code == 200
    response = client.post(reverse("admin:pathway_episode_add"), {
        "patient": patient.pk, "physician": users[Role.PHYSICIAN].pk, "coordinator": users[Role.COORDINATOR].pk,
        "diagnosis": "crps_2", "icd10_code": "g57.71", "pain_areas": '[{"area": "knee", "side": "right"}]',
        "pain_onset_date": "2025-01-10", "auth_payer": "", "auth_number": "",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    episode = Episode.objects.get(patient=patient)
    assert (episode.stage, episode.icd10_code, episode.checklist_items.count()) == ("evaluation", "G57.71", 9)


def test_clinical_details_change_through_the_service(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    data = form_data(client.get(change_url(episode)))
    data["icd10_code"] = "g90.522"
    assert client.post(change_url(episode), data).status_code == 302
    episode.refresh_from_db()
    assert episode.icd10_code == "G90.522"  # upper-cased by episode_update


def test_bad_pain_areas_are_a_form_error_and_nothing_changes(client, users, episode):
    client.force_login(users[Role.COORDINATOR])
    data = form_data(client.get(change_url(episode)))
    data["pain_areas"] = '[{"area": "elbow", "side": "left"}]'
    response = client.post(change_url(episode), data)
    assert response.status_code == 200
    assert "pain_areas" in response.context["adminform"].form.errors
    episode.refresh_from_db()
    assert episode.pain_areas == [{"area": "foot", "side": "left"}]


def test_filters_do_not_name_other_clinics(client, users, episode, north_episode):
    client.force_login(users[Role.COORDINATOR])
    for model in ("episode", "patient", "appointment"):
        page = client.get(reverse(f"admin:pathway_{model}_changelist")).content.decode()
        assert "North Pain Clinic" not in page
        assert "north-physician" not in page


def test_superuser_sees_every_clinic_but_runs_no_clinical_transition(client, django_user_model, episode,
                                                                      north_episode):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "pass-word-123"))
    listing = client.get(reverse("admin:pathway_episode_changelist"))
    assert set(listing.context["cl"].queryset) == {episode, north_episode}
    page = client.get(change_url(north_episode)).content.decode()
    assert "_fsm_transition_to" not in page
    assert "Put on hold" not in page


def test_clinic_administrators_see_only_their_own_clinics_api_keys(client, users):
    from api.models import ClinicAPIKey

    north = users["north"].clinic_memberships.get().clinic
    ClinicAPIKey.objects.create_key(clinic=users[Role.ADMIN].clinic_memberships.get().clinic, role=Role.FRONT_DESK,
                                    name="riverside desk")
    north_key, _ = ClinicAPIKey.objects.create_key(clinic=north, role=Role.FRONT_DESK, name="north desk")
    client.force_login(users[Role.ADMIN])
    listing = client.get(reverse("admin:api_clinicapikey_changelist"))
    assert listing.status_code == 200
    assert b"riverside desk" in listing.content and b"north desk" not in listing.content
    other = client.get(reverse("admin:api_clinicapikey_change", args=[north_key.pk]))
    assert other.status_code == 302  # the admin's answer to an object outside the queryset


def test_coordinators_read_their_own_clinics_reminders_in_the_admin(client, users, episode, north_episode):
    from notifications.models import Reminder
    from pathway import services

    start = timezone.now() + timedelta(days=5)
    for ep in (episode, north_episode):
        ep.patient.sms_consent = True
        ep.patient.save()
        services.appointment_book(patient=ep.patient, actor=Actor.for_user(ep.physician), kind="consultation",
                                  starts_at=start, ends_at=start + timedelta(minutes=30))
    ours = Reminder.objects.filter(clinic=episode.clinic).count()
    assert ours and Reminder.objects.exclude(clinic=episode.clinic).exists()
    client.force_login(users[Role.COORDINATOR])
    listing = client.get(reverse("admin:notifications_reminder_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == ours
    reminder = Reminder.objects.filter(clinic=episode.clinic).first()
    assert client.get(reverse("admin:notifications_reminder_change", args=[reminder.pk])).status_code == 200
    assert client.post(reverse("admin:notifications_reminder_change", args=[reminder.pk]), {}).status_code == 403
