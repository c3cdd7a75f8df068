"""The candidacy checklist: what each item needs on file, who may waive, and who recorded it when."""

from datetime import UTC, date, datetime

import pytest

from pathway import services
from pathway.clinic_time import add_months
from pathway.errors import InvalidInput, NotPermitted
from pathway.models import ChecklistItem, Episode
from pathway.stages import ChecklistItemKind, PainPhase, Stage
from tests.factories import EpisodeFactory, PainEntryFactory, advance_to

from .conftest import NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]

SIX_MONTHS_AGO = date(2026, 5, 25)  # NOW is 2026-11-25 in the clinic


@pytest.fixture
def episode(clinic):
    return EpisodeFactory(patient__clinic=clinic)


def record(episode, kind, status="met", *, actor, note="", details=None) -> ChecklistItem:
    return services.checklist_item_record(episode=episode, kind=kind, status=status, actor=actor, note=note,
                                          details=details)


def item(episode, kind) -> ChecklistItem:
    return ChecklistItem.objects.get(episode=episode, kind=kind)


def refused(episode, kind, *, actor, error=InvalidInput, **kwargs) -> str:
    before = list(ChecklistItem.objects.filter(episode=episode).values())
    with pytest.raises(error) as raised:
        record(episode, kind, actor=actor, **kwargs)
    assert list(ChecklistItem.objects.filter(episode=episode).values()) == before
    return raised.value.detail


def test_a_new_episode_has_every_item_pending(episode):
    assert sorted(episode.checklist_items.values_list("kind", "status")) == sorted(
        (kind, "pending") for kind in ChecklistItemKind.values
    )


def test_met_records_who_and_when(episode, people):
    met = record(episode, "consent", actor=people["coordinator"], note="Signed in clinic")
    stored = item(episode, "consent")
    assert (stored.status, stored.recorded_by, stored.recorded_at, stored.note) == (
        "met", people["coordinator"].user, NOW, "Signed in clinic"
    )
    assert met.pk == stored.pk


@pytest.mark.parametrize(("onset", "accepted"), [
    pytest.param(SIX_MONTHS_AGO, True, id="exactly-six-months"),
    pytest.param(date(2026, 5, 26), False, id="a-day-short"),
    pytest.param(date(2024, 1, 1), True, id="years"),
])
def test_pain_duration_needs_six_months_since_onset(episode, people, onset, accepted):
    services.episode_update(episode=episode, actor=people["physician"], pain_onset_date=onset)
    if accepted:
        assert record(episode, "pain_duration", actor=people["coordinator"]).status == "met"
    else:
        assert "Pain began less than 6 months ago." in refused(episode, "pain_duration", actor=people["coordinator"])


def test_pain_duration_counts_in_the_clinic_zone(episode, people, time_machine):
    services.episode_update(episode=episode, actor=people["physician"], pain_onset_date=SIX_MONTHS_AGO)
    time_machine.move_to(datetime(2026, 11, 26, 3, 0, tzinfo=UTC), tick=False)  # still the 25th in Chicago
    assert record(episode, "pain_duration", actor=people["coordinator"]).status == "met"
    services.episode_update(episode=episode, actor=people["physician"], pain_onset_date=date(2026, 5, 26))
    assert "less than 6 months" in refused(episode, "pain_duration", actor=people["coordinator"])


def test_six_months_from_the_end_of_a_long_month_ends_on_the_short_months_last_day():
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)


def test_pain_duration_needs_an_onset_date(episode, people):
    services.episode_update(episode=episode, actor=people["physician"], pain_onset_date=None)
    assert "Record the pain onset date first." in refused(episode, "pain_duration", actor=people["physician"])


@pytest.mark.parametrize("details", [
    pytest.param({}, id="nothing"),
    pytest.param({"tried": []}, id="empty-list"),
    pytest.param({"tried": "medications"}, id="not-a-list"),
    pytest.param({"tried": ["medications", "acupuncture"]}, id="unknown-treatment"),
    pytest.param({"tried": [{"name": "medications"}]}, id="not-names"),
])
def test_prior_treatments_must_name_what_was_tried(episode, people, details):
    assert "Record which treatments were tried" in refused(
        episode, "prior_treatments", actor=people["physician"], details=details
    )


def test_prior_treatments_keep_the_list(episode, people):
    record(episode, "prior_treatments", actor=people["physician"],
           details={"tried": ["medications", "injections", "physical_therapy"]})
    assert item(episode, "prior_treatments").details == {"tried": ["medications", "injections", "physical_therapy"]}


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"diagnosis": None}, "Record the diagnosis and its ICD-10 code first.", id="no-diagnosis"),
    pytest.param({"icd10_code": ""}, "Record the diagnosis and its ICD-10 code first.", id="no-icd10"),
    pytest.param({"diagnosis": "other", "diagnosis_other": ""}, "Describe the other diagnosis first.",
                 id="other-without-words"),
])
def test_diagnosis_needs_a_qualifying_diagnosis_and_icd10(episode, people, fields, message):
    services.episode_update(episode=episode, actor=people["physician"], **fields)
    assert message in refused(episode, "diagnosis", actor=people["physician"])


def test_other_diagnosis_with_words_and_code_is_met(episode, people):
    services.episode_update(episode=episode, actor=people["physician"], diagnosis="other",
                            diagnosis_other="Meralgia paresthetica", icd10_code="g57.11")
    assert record(episode, "diagnosis", actor=people["physician"]).status == "met"
    assert Episode.objects.get(pk=episode.pk).icd10_code == "G57.11"


def test_icd10_code_must_look_like_one(episode, people):
    with pytest.raises(InvalidInput):
        services.episode_update(episode=episode, actor=people["physician"], icd10_code="CRPS")


def test_pain_area_needs_areas_with_sides(episode, people):
    services.episode_update(episode=episode, actor=people["physician"], pain_areas=[])
    assert "Record the pain areas and sides first." in refused(episode, "pain_area", actor=people["physician"])
    with pytest.raises(InvalidInput):
        services.episode_update(episode=episode, actor=people["physician"], pain_areas=[{"area": "shoulder",
                                                                                       "side": "left"}])
    services.episode_update(episode=episode, actor=people["physician"],
                            pain_areas=[{"area": "knee", "side": "right"}, {"area": "groin", "side": "both"}])
    assert record(episode, "pain_area", actor=people["physician"]).status == "met"


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"auth_payer": ""}, "Record the payer, authorization number and valid dates first.", id="no-payer"),
    pytest.param({"auth_number": ""}, "Record the payer, authorization number and valid dates first.",
                 id="no-number"),
    pytest.param({"auth_valid_to": None}, "Record the payer, authorization number and valid dates first.",
                 id="no-end"),
    pytest.param({"auth_valid_from": date(2026, 12, 1), "auth_valid_to": date(2026, 11, 30)},
                 "The authorization ends before it starts.", id="ends-before-it-starts"),
])
def test_trial_authorization_needs_payer_number_and_dates(episode, people, fields, message):
    services.episode_update(episode=episode, actor=people["coordinator"], **fields)
    assert message in refused(episode, "trial_authorization", actor=people["coordinator"])


def test_baseline_pain_needs_a_baseline_score(episode, people):
    PainEntryFactory(episode=episode, nrs=6, phase=PainPhase.TRIAL)
    assert "Record a baseline pain score first." in refused(episode, "baseline_pain", actor=people["physician"])
    services.pain_entry_record(episode=episode, actor=people["coordinator"], nrs=7, phase=PainPhase.BASELINE)
    assert record(episode, "baseline_pain", actor=people["physician"]).status == "met"


@pytest.mark.parametrize("kind", ["psych_evaluation", "imaging", "consent"])
def test_items_recorded_on_the_clinicians_word(episode, people, kind):
    assert record(episode, kind, actor=people["coordinator"]).status == "met"


def test_only_a_physician_waives_and_only_with_a_reason(episode, people):
    assert "reason for the waiver" in refused(episode, "psych_evaluation", status="waived",
                                              actor=people["physician"], note="  ")
    refused(episode, "psych_evaluation", status="waived", actor=people["coordinator"], note="Seen elsewhere",
            error=NotPermitted)
    waived = record(episode, "psych_evaluation", status="waived", actor=people["physician"],
                    note="Cleared by the referring psychologist last month")
    assert (waived.status, waived.recorded_by, waived.recorded_at, waived.note) == (
        "waived", people["physician"].user, NOW, "Cleared by the referring psychologist last month",
    )


def test_a_waived_item_counts_as_done_for_the_trial(episode, people):
    from tests.factories import complete_checklist

    complete_checklist(episode, people["physician"])
    record(episode, "pain_duration", status="waived", actor=people["physician"], note="Onset date unknown")
    services.episode_transition(episode=episode, name="start_trial", actor=people["coordinator"],
                                data={"trial_lead_placement_date": NOW.date()})
    assert episode.stage == Stage.TRIAL


def test_the_trial_history_names_each_waiver_who_gave_it_and_why(episode, people):
    from tests.factories import complete_checklist

    complete_checklist(episode, people["physician"])
    record(episode, "pain_duration", status="waived", actor=people["physician"], note="Onset date unknown")
    log = services.episode_transition(episode=episode, name="start_trial", actor=people["coordinator"],
                                      data={"trial_lead_placement_date": NOW.date()})
    assert log.figures["waived"] == [
        {"item": "pain_duration", "by": people["physician"].user.username, "reason": "Onset date unknown"}]


def test_an_item_recorded_with_a_key_keeps_which_key(episode, clinic):
    from api.models import ClinicAPIKey
    from pathway.actors import Actor

    key, _ = ClinicAPIKey.objects.create_key(clinic=clinic, role="coordinator", name="intake integration")
    stored = record(episode, "consent", actor=Actor.for_api_key(key))
    assert (stored.recorded_by, stored.recorded_by_api_key, stored.recorded_by_label) == (
        None, key, f"API key {key.prefix}")


def test_a_key_with_the_physician_role_cannot_waive(episode, clinic):
    from api.models import ClinicAPIKey
    from pathway.actors import Actor

    key, _ = ClinicAPIKey.objects.create_key(clinic=clinic, role="physician", name="old physician key")
    assert "sign in as yourself" in refused(episode, "consent", status="waived", actor=Actor.for_api_key(key),
                                            note="Signed at the referring clinic", error=NotPermitted)


def test_a_prerequisite_is_not_needed_to_record_not_met(episode, people):
    services.episode_update(episode=episode, actor=people["physician"], pain_onset_date=date(2026, 10, 1))
    assert record(episode, "pain_duration", status="not_met", actor=people["coordinator"]).status == "not_met"


@pytest.mark.parametrize("role", ["front_desk", "admin", "other_clinic"])
def test_checklist_is_clinical(episode, people, role):
    refused(episode, "consent", actor=people[role], error=NotPermitted)


@pytest.mark.parametrize(("kind", "status"), [("consent", "done"), ("horoscope", "met")])
def test_unknown_kind_or_status_is_invalid(episode, people, kind, status):
    refused(episode, kind, status=status, actor=people["physician"])


def test_the_checklist_is_settled_once_the_trial_starts(episode, people):
    advance_to(episode, Stage.TRIAL)
    assert "settled once the trial has started" in refused(episode, "consent", status="not_met",
                                                           actor=people["physician"])



def test_an_edit_that_takes_away_what_a_met_item_attested_reopens_it(episode, people):
    doctor = people["physician"]
    record(episode, ChecklistItemKind.PAIN_DURATION, actor=doctor)
    record(episode, ChecklistItemKind.DIAGNOSIS, actor=doctor)
    record(episode, ChecklistItemKind.TRIAL_AUTHORIZATION, actor=doctor)

    services.episode_update(episode=episode, actor=doctor, pain_onset_date="2026-10-01", icd10_code="G57.71")

    reopened = item(episode, ChecklistItemKind.PAIN_DURATION)
    assert reopened.status == "pending"
    assert reopened.note == "Reopened: Pain began less than 6 months ago."
    assert item(episode, ChecklistItemKind.DIAGNOSIS).status == "met"  # a new code still attests a diagnosis
    assert item(episode, ChecklistItemKind.TRIAL_AUTHORIZATION).status == "met"


def test_a_waived_item_stays_waived_whatever_is_edited(episode, people):
    doctor = people["physician"]
    record(episode, ChecklistItemKind.PAIN_DURATION, "waived", actor=doctor, note="onset documented elsewhere")
    services.episode_update(episode=episode, actor=doctor, pain_onset_date="2026-10-01")
    assert item(episode, ChecklistItemKind.PAIN_DURATION).status == "waived"
