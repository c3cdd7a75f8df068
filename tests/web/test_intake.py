"""Intake in the pages: a new referral (with the duplicate warning), a patient's details and consents, and the
spine referrals of an episode. Every refusal leaves the database as it was."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from api.models import AuditEvent, ConsentChange
from pathway import selectors as pathway_selectors
from pathway.actors import Actor
from pathway.clinic_time import clinic_today
from pathway.models import Episode, Membership, Patient, Referral
from pathway.stages import ChecklistItemKind, Role
from tests.factories import ClinicFactory, EpisodeFactory, PatientFactory, advance_to, staff
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db


def referral(clinic, **overrides) -> dict:
    today = clinic_today(clinic)
    data = {
        "clinic": clinic.slug, "mrn": "R-1001", "given_name": "Ines", "family_name": "Quintero",
        "birth_date": "1961-04-09", "phone": "+1 (555) 010-2030", "email": "ines@example.org",
        "preferred_channel": "sms", "physician": "drphys", "coordinator": "cora",
        "referral_source": "Dr Lee, orthopaedics", "referral_date": today.isoformat(),
        "diagnosis": "crps_1", "icd10_code": "G90.521", "pain_onset_date": (today - timedelta(days=400)).isoformat(),
        "area_foot": "left", "area_ankle": "left",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def counts() -> tuple[int, int]:
    return Patient.objects.count(), Episode.objects.count()


# --- A new referral -------------------------------------------------------------------------------


def test_a_referral_registers_the_patient_and_opens_an_episode_in_evaluation(
    clinic, coordinator, physician, coordinator_client
):
    response = coordinator_client.post("/patients/new/", referral(clinic))
    patient = Patient.objects.get(mrn="R-1001")
    episode = patient.episodes.get()
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.external_id}/#episode-{episode.external_id}"
    assert patient.phone == "+15550102030"  # typed with spaces and brackets, kept in E.164
    assert (episode.stage, episode.physician, episode.coordinator) == ("evaluation", physician, coordinator)
    assert episode.referral_source == "Dr Lee, orthopaedics" and episode.referral_date == clinic_today(clinic)
    assert episode.diagnosis == "crps_1" and episode.icd10_code == "G90.521"
    assert episode.pain_areas == [{"area": "foot", "side": "left"}, {"area": "ankle", "side": "left"}]
    assert sorted(episode.checklist_items.values_list("kind", flat=True)) == sorted(ChecklistItemKind.values)
    board = coordinator_client.get("/board/").content.decode()
    assert "Quintero, Ines" in board


def test_a_physician_may_take_a_referral_too(clinic, coordinator, physician, physician_client):
    assert physician_client.get("/patients/new/").status_code == 200
    assert physician_client.post("/patients/new/", referral(clinic)).status_code == 302
    assert Episode.objects.get().physician == physician


def test_the_form_starts_with_todays_date_and_the_coordinator(clinic, coordinator, physician, coordinator_client):
    page = coordinator_client.get("/patients/new/").content.decode()
    assert f'value="{clinic_today(clinic).isoformat()}"' in page
    assert '<option value="cora" selected>' in page


def test_the_same_mrn_is_a_warning_and_creates_nothing(clinic, coordinator, physician, coordinator_client):
    on_file = PatientFactory(clinic=clinic, mrn="R-1001", given_name="Someone", family_name="Else")
    before = counts()
    response = coordinator_client.post("/patients/new/", referral(clinic, mrn="r-1001 "))
    page = response.content.decode()
    assert response.status_code == 200
    assert "This MRN is already on file" in page
    assert f'href="/patients/{on_file.external_id}/"' in page
    assert "register a new patient" not in page  # an MRN names one patient: no "different person" here
    # Confirming anyway is no way around it.
    coordinator_client.post("/patients/new/", referral(clinic, mrn="R-1001", confirm_new="on"))
    assert counts() == before
    shown = AuditEvent.objects.filter(action="web.new_referral").first()
    assert shown.patient_ids == [str(on_file.external_id)]


def test_the_same_name_and_birth_date_warns_before_a_second_record(clinic, coordinator, physician,
                                                                  coordinator_client):
    on_file = PatientFactory(clinic=clinic, mrn="OLD-7", given_name="Ines", family_name="Quintero",
                             birth_date=date(1961, 4, 9))
    response = coordinator_client.post("/patients/new/", referral(clinic, given_name="ines ", family_name="QUINTERO"))
    page = response.content.decode()
    assert "This may be a patient already on file" in page
    assert f'value="{on_file.external_id}:0"' in page
    # The warning's buttons are forms of their own carrying what was typed, so Enter in the referral form
    # still saves the referral (and so warns again) rather than pressing the first "Start the episode".
    assert page.count('<input type="hidden" name="mrn" value="R-1001">') == 2
    assert 'form="' not in page
    assert counts() == (1, 0)
    # A different person after all: the coordinator confirms, and a new patient is registered.
    response = coordinator_client.post("/patients/new/", referral(clinic, confirm_new="on"))
    assert response.status_code == 302
    assert counts() == (2, 1)
    assert Episode.objects.get().patient.mrn == "R-1001"


def test_the_episode_can_be_started_for_the_patient_on_file(clinic, coordinator, physician, coordinator_client):
    on_file = EpisodeFactory(patient__clinic=clinic, patient__mrn="R-1001", physician=physician).patient
    advance_to(on_file.episodes.get(), "not_candidate")
    response = coordinator_client.post("/patients/new/", referral(clinic, existing=f"{on_file.external_id}:0"))
    assert response.status_code == 302
    assert Patient.objects.count() == 1
    new = on_file.episodes.order_by("-created_at").first()
    assert new.stage == "evaluation" and new.referral_source == "Dr Lee, orthopaedics"
    assert on_file.episodes.count() == 2


def test_the_same_press_twice_opens_one_episode(clinic, coordinator, physician, coordinator_client):
    on_file = PatientFactory(clinic=clinic, mrn="R-1001")
    data = referral(clinic, existing=f"{on_file.external_id}:0")
    assert coordinator_client.post("/patients/new/", data).status_code == 302
    again = coordinator_client.post("/patients/new/", data)
    assert again.status_code == 409
    assert "Nothing was created" in again.content.decode()
    assert on_file.episodes.count() == 1


def test_a_new_patient_sent_twice_is_registered_once(clinic, coordinator, physician, coordinator_client):
    assert coordinator_client.post("/patients/new/", referral(clinic)).status_code == 302
    again = coordinator_client.post("/patients/new/", referral(clinic))
    assert "This MRN is already on file" in again.content.decode()
    assert counts() == (1, 1)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("phone", "555-0102", "E.164"),
    ("phone", "+1 555 abc", "E.164"),
    ("birth_date", "2999-01-01", "Enter a date between the years"),
    ("birth_date", "1901-01-01", "more than 120 years ago"),
    ("birth_date", "not a date", "Enter a valid date"),
    ("physician", "nobody", "Select a valid choice"),
    ("physician", "cora", "Select a valid choice"),  # a coordinator is no physician
    ("mrn", "", "This field is required"),
    ("referral_date", "2999-01-01", "Enter a date between the years"),
    ("email", "not-an-address", "Enter a valid email address"),
])
def test_bad_input_is_given_back_and_changes_nothing(clinic, coordinator, physician, coordinator_client,
                                                     field, value, message):
    response = coordinator_client.post("/patients/new/", referral(clinic, **{field: value}))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert counts() == (0, 0)


def test_a_birth_date_tomorrow_is_refused(clinic, coordinator, physician, coordinator_client):
    tomorrow = clinic_today(clinic) + timedelta(days=1)
    response = coordinator_client.post("/patients/new/", referral(clinic, birth_date=tomorrow.isoformat()))
    assert response.status_code == 422 and "The birth date is in the future" in response.content.decode()
    assert counts() == (0, 0)


def test_a_physician_of_another_clinic_is_refused_and_no_patient_is_left_behind(clinic, physician):
    second = ClinicFactory(slug="east", name="East Clinic")
    both = staff(clinic, Role.COORDINATOR, username="both")
    Membership.objects.create(user=both, clinic=second, role=Role.COORDINATOR)
    staff(second, Role.PHYSICIAN, username="dreast")
    response = signed_in(both).post("/patients/new/", referral(clinic, physician="dreast", coordinator="both"))
    assert response.status_code == 422
    assert "Choose a physician of this clinic" in response.content.decode()
    assert counts() == (0, 0)


def test_another_clinics_patient_cannot_be_chosen(clinic, coordinator, physician, coordinator_client):
    elsewhere = PatientFactory(clinic=ClinicFactory(slug="west"))
    response = coordinator_client.post("/patients/new/", referral(clinic, existing=f"{elsewhere.external_id}:0"))
    assert response.status_code == 422
    assert counts() == (1, 0)


def test_duplicates_are_the_same_mrn_or_the_same_name_and_birth_date(clinic, coordinator):
    born = date(1970, 1, 2)
    same_mrn = PatientFactory(clinic=clinic, mrn="A-1", given_name="Other", family_name="Person")
    same_person = PatientFactory(clinic=clinic, mrn="B-2", given_name="Ana", family_name="Diaz", birth_date=born)
    PatientFactory(clinic=clinic, mrn="C-3", given_name="Ana", family_name="Diaz", birth_date=date(1970, 1, 3))
    PatientFactory(clinic=ClinicFactory(slug="west"), mrn="A-1", given_name="Ana", family_name="Diaz",
                   birth_date=born)
    found = pathway_selectors.patient_duplicates_for(
        actor=Actor.for_user(coordinator), clinic_id=clinic.pk, mrn=" a-1", given_name="ANA",
        family_name=" diaz", birth_date=born,
    )
    assert {p.pk: p.same_mrn for p in found} == {same_mrn.pk: True, same_person.pk: False}
    assert pathway_selectors.patient_duplicates_for(
        actor=Actor.for_user(coordinator), clinic_id=clinic.pk, mrn="Z-9", given_name="Ana", family_name="Diaz",
        birth_date=date(1999, 9, 9),
    ) == []


# --- Demographics, contact details and consents ---------------------------------------------------


def edit_form(patient, **overrides) -> dict:
    data = {
        "mrn": patient.mrn, "given_name": patient.given_name, "family_name": patient.family_name,
        "birth_date": patient.birth_date.isoformat(), "phone": patient.phone, "email": patient.email,
        "preferred_channel": patient.preferred_channel, "primary_physician": "",
        "seen": patient.updated_at.isoformat(),
        **{f"{c}_consent": "on" for c in ("sms", "email", "diary") if getattr(patient, f"{c}_consent")},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_new_phone_number_is_saved(episode, coordinator_client):
    patient = episode.patient
    response = coordinator_client.post(f"/patients/{patient.external_id}/edit/",
                                       edit_form(patient, phone="+1 555 777 8888"))
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.external_id}/"
    patient.refresh_from_db()
    assert patient.phone == "+15557778888"
    assert not ConsentChange.objects.exists()  # no consent changed, none recorded


def test_a_consent_given_is_recorded_with_how_and_by_whom(episode, coordinator, coordinator_client):
    patient = episode.patient
    response = coordinator_client.post(f"/patients/{patient.external_id}/edit/", edit_form(
        patient, sms_consent="on", sms_consent_method="written"), HTTP_X_REQUEST_ID="req-intake-0001")
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.sms_consent and patient.sms_consent_method == "written" and patient.sms_consent_at
    change = ConsentChange.objects.get()
    assert (change.consent, change.given, change.method, change.at) == ("sms", True, "written",
                                                                       patient.sms_consent_at)
    assert (change.actor_user, change.actor_label, change.request_id) == (coordinator, "cora", "req-intake-0001")
    page = coordinator_client.get(f"/patients/{patient.external_id}/edit/").content.decode()
    assert "Written form" in page and "SMS reminders" in page


def test_a_consent_withdrawn_is_recorded_too(clinic, physician, coordinator_client):
    patient = EpisodeFactory(patient__clinic=clinic, patient__diary_consent=True, physician=physician).patient
    form = edit_form(patient, diary_consent_method="verbal")
    del form["diary_consent"]
    assert coordinator_client.post(f"/patients/{patient.external_id}/edit/", form).status_code == 302
    change = ConsentChange.objects.get()
    assert (change.consent, change.given, change.method) == ("diary", False, "verbal")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"phone": "0123"}, "E.164"),
    ({"birth_date": "2999-12-31"}, "Enter a date between the years"),
    ({"birth_date": "1901-01-01"}, "more than 120 years ago"),
    ({"sms_consent": "on"}, "Say how the consent was given or withdrawn"),
    ({"primary_physician": "cora"}, "Select a valid choice"),
    ({"given_name": ""}, "This field is required"),
])
def test_bad_details_change_nothing(episode, coordinator_client, overrides, message):
    patient = episode.patient
    before = Patient.objects.filter(pk=patient.pk).values().get()
    response = coordinator_client.post(f"/patients/{patient.external_id}/edit/", edit_form(
        patient, **{"phone": "+15559990000", **overrides}))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert Patient.objects.filter(pk=patient.pk).values().get() == before
    assert not ConsentChange.objects.exists()


def test_a_primary_physician_who_left_does_not_block_a_new_phone_number(episode, clinic, coordinator_client):
    gone = staff(clinic, Role.PHYSICIAN, username="drgone")
    Membership.objects.filter(user=gone).delete()
    patient = episode.patient
    Patient.objects.filter(pk=patient.pk).update(primary_physician=gone)
    patient.refresh_from_db()
    response = coordinator_client.post(f"/patients/{patient.external_id}/edit/",
                                       edit_form(patient, phone="+15554443333", primary_physician="drgone"))
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.phone, patient.primary_physician) == ("+15554443333", gone)


def test_an_mrn_taken_by_another_patient_is_refused(episode, clinic, coordinator_client):
    PatientFactory(clinic=clinic, mrn="TAKEN-1")
    patient = episode.patient
    response = coordinator_client.post(f"/patients/{patient.external_id}/edit/", edit_form(patient, mrn="TAKEN-1"))
    assert response.status_code == 422
    assert "already exists" in response.content.decode()


def test_an_edit_made_on_a_stale_page_does_not_undo_a_newer_change(episode, coordinator_client):
    from pathway.services import patient_revoke_sms_consent

    patient = episode.patient
    Patient.objects.filter(pk=patient.pk).update(sms_consent=True)
    patient.refresh_from_db()
    form = edit_form(patient, phone="+15551112222")  # the page shows SMS consent given
    patient_revoke_sms_consent(patient=patient)  # meanwhile the patient replies STOP
    response = coordinator_client.post(f"/patients/{patient.external_id}/edit/", form)
    assert response.status_code == 409
    assert "Someone else changed" in response.content.decode()
    patient.refresh_from_db()
    assert not patient.sms_consent and patient.phone != "+15551112222"


def test_reading_the_edit_page_is_audited(episode, coordinator_client):
    coordinator_client.get(f"/patients/{episode.patient.external_id}/edit/")
    event = AuditEvent.objects.get(action="web.patient_edit")
    assert event.patient_ids == [str(episode.patient.external_id)]


# --- Spine referrals ------------------------------------------------------------------------------


def test_a_spine_referral_is_added_and_shown_on_the_patient_page(episode, coordinator, coordinator_client):
    response = coordinator_client.post(f"/episodes/{episode.external_id}/referrals/", {
        "finding": "stenosis", "referred_to": "Dr Ng, spine surgery", "note": "L3-L4 on MRI"})
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{episode.patient.external_id}/#referrals-{episode.external_id}"
    added = Referral.objects.get()
    assert (added.finding, added.referred_to, added.outcome, added.created_by) == (
        "stenosis", "Dr Ng, spine surgery", "pending", coordinator)
    page = coordinator_client.get(f"/patients/{episode.patient.external_id}/").content.decode()
    assert "Spinal narrowing (stenosis)" in page and "Dr Ng, spine surgery" in page
    assert "awaiting the outcome" in page


def test_a_referrals_outcome_is_recorded(episode, coordinator, coordinator_client):
    from pathway.services import referral_add

    added = referral_add(episode=episode, actor=Actor.for_user(coordinator), finding="compression_fracture",
                         referred_to="Dr Ng")
    prefix = f"outcome-{added.external_id.hex[:12]}"
    response = coordinator_client.post(f"/episodes/{episode.external_id}/referrals/{added.external_id}/outcome/", {
        f"{prefix}-outcome": "treated", f"{prefix}-outcome_note": "kyphoplasty T12"})
    assert response.status_code == 302
    added.refresh_from_db()
    assert (added.outcome, added.outcome_note) == ("treated", "kyphoplasty T12") and added.outcome_recorded_at
    page = coordinator_client.get(f"/patients/{episode.patient.external_id}/").content.decode()
    assert "outcome: treated (kyphoplasty T12)" in page


@pytest.mark.parametrize("data", [
    {"finding": "broken_leg", "referred_to": "Dr Ng"},
    {"finding": "stenosis", "referred_to": ""},
    {"finding": "stenosis", "referred_to": "x" * 201},
])
def test_a_bad_referral_changes_nothing(episode, coordinator_client, data):
    response = coordinator_client.post(f"/episodes/{episode.external_id}/referrals/", data)
    assert response.status_code == 422
    assert not Referral.objects.exists()


def test_an_ended_episode_takes_no_referral(episode, coordinator_client):
    advance_to(episode, "not_candidate")
    response = coordinator_client.post(f"/episodes/{episode.external_id}/referrals/", {
        "finding": "stenosis", "referred_to": "Dr Ng"})
    assert response.status_code == 422
    assert "has ended" in response.content.decode()
    assert not Referral.objects.exists()


def test_an_unknown_outcome_changes_nothing(episode, coordinator):
    from pathway.services import referral_add

    added = referral_add(episode=episode, actor=Actor.for_user(coordinator), finding="stenosis", referred_to="Dr Ng")
    prefix = f"outcome-{added.external_id.hex[:12]}"
    response = signed_in(coordinator).post(
        f"/episodes/{episode.external_id}/referrals/{added.external_id}/outcome/", {f"{prefix}-outcome": "cured"})
    assert response.status_code == 422
    added.refresh_from_db()
    assert added.outcome == "pending"


# --- Who may ---------------------------------------------------------------------------------------


def test_front_desk_gets_none_of_these_pages_and_changes_nothing(clinic, physician, episode, front_desk):
    client = signed_in(front_desk)
    patient = episode.patient
    pages = ["/patients/new/", f"/patients/{patient.external_id}/edit/", f"/episodes/{episode.external_id}/referrals/"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "scheduling system" in response.content.decode()
        assert patient.family_name not in response.content.decode()
    before = Patient.objects.filter(pk=patient.pk).values().get()
    assert client.post("/patients/new/", referral(clinic)).status_code == 403
    assert client.post(pages[1], edit_form(patient, phone="+15550000001")).status_code == 403
    assert client.post(pages[2], {"finding": "stenosis", "referred_to": "Dr Ng"}).status_code == 403
    assert counts() == (1, 1)
    assert Patient.objects.filter(pk=patient.pk).values().get() == before
    assert not Referral.objects.exists() and not ConsentChange.objects.exists()


def test_another_clinics_patient_and_episode_are_not_found(episode, outsider):
    client = signed_in(outsider)
    patient = episode.patient
    assert client.get(f"/patients/{patient.external_id}/edit/").status_code == 404
    assert client.post(f"/patients/{patient.external_id}/edit/", edit_form(patient, phone="+15550000001")
                       ).status_code == 404
    assert client.get(f"/episodes/{episode.external_id}/referrals/").status_code == 404
    assert client.post(f"/episodes/{episode.external_id}/referrals/", {
        "finding": "stenosis", "referred_to": "Dr Ng"}).status_code == 404
    patient.refresh_from_db()
    assert patient.phone != "+15550000001" and not Referral.objects.exists()


def test_someone_without_a_clinical_role_is_refused(db):
    from tests.factories import UserFactory

    client = signed_in(UserFactory(username="nobody"))
    assert client.get("/patients/new/").status_code == 403


@pytest.mark.parametrize("url", ["/patients/new/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_the_nav_board_and_worklist_link_to_a_new_referral(coordinator_client):
    for url in ("/worklist/", "/board/"):
        assert coordinator_client.get(url).content.decode().count('href="/patients/new/"') == 2, url
