"""Prior authorizations on the patient page (add, update, conflicts) and on the worklist."""

from datetime import timedelta

import pytest

from api.models import AuditEvent
from pathway.clinic_time import clinic_today
from pathway.models import AuthorizationStatusChange, PriorAuthorization
from tests.factories import EpisodeFactory, PriorAuthorizationFactory, advance_to

from .conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def bare(clinic, physician):
    return EpisodeFactory(patient__clinic=clinic, physician=physician, auth_payer="", auth_number="",
                          auth_valid_from=None, auth_valid_to=None, implant_authorization=False)


def add_prefix(episode) -> str:
    return f"authorization-add-{episode.external_id.hex[:12]}"


def edit_prefix(authorization) -> str:
    return f"authorization-{authorization.external_id.hex[:12]}"


def add(client, episode, htmx=True, **fields):
    prefix = add_prefix(episode)
    data = {f"{prefix}-{name}": value for name, value in {"step": "trial", "status": "draft", **fields}.items()}
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(f"/episodes/{episode.external_id}/authorizations/", data, **extra)


def edit(client, authorization, htmx=True, **fields):
    prefix = edit_prefix(authorization)
    values = {name: getattr(authorization, name) for name in
              ("payer", "number", "submitted_on", "status", "valid_from", "valid_to", "units", "notes")}
    values = {name: "" if value is None else value for name, value in values.items()}
    data = {f"{prefix}-{name}": value for name, value in {**values, "seen_status": authorization.status,
                                                         **fields}.items()}
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(f"/authorizations/{authorization.external_id}/", data, **extra)


def test_the_patient_page_has_an_authorizations_section_per_episode(coordinator_client, bare):
    PriorAuthorizationFactory(episode=bare, step="implant", payer="Example Mutual", number="IMP-77")
    page = coordinator_client.get(f"/patients/{bare.patient.external_id}/").content.decode()
    assert f'id="authorizations-{bare.external_id}"' in page
    assert "Permanent implant" in page and "no. IMP-77" in page and "Example Mutual" in page
    assert "Add an authorization" in page and "Update the permanent implant authorization" in page


def test_an_authorization_is_added_and_moved_on_with_its_history_shown(coordinator_client, bare):
    assert add(coordinator_client, bare, payer="Example Mutual").status_code == 200  # htmx: the page reloads
    authorization = PriorAuthorization.objects.get(episode=bare)
    assert (authorization.step, authorization.status) == ("trial", "draft")
    assert edit(coordinator_client, authorization, status="submitted").status_code == 200
    authorization.refresh_from_db()
    today = clinic_today(bare.clinic)
    response = edit(coordinator_client, authorization, status="approved", number="PA-5",
                    valid_from=today.isoformat(), valid_to=(today + timedelta(days=30)).isoformat())
    assert response.status_code == 200
    assert list(AuthorizationStatusChange.objects.filter(authorization=authorization)
                .values_list("from_status", "to_status", "actor_label")) == [
        ("", "draft", "cora"), ("draft", "submitted", "cora"), ("submitted", "approved", "cora")]
    page = coordinator_client.get(f"/patients/{bare.patient.external_id}/").content.decode()
    assert "Submitted → Approved · cora" in page


def test_a_bad_add_comes_back_in_place_with_its_errors_and_writes_nothing(coordinator_client, bare):
    response = add(coordinator_client, bare, status="approved", payer="Plan", units="many")
    assert response.status_code == 422
    page = response.content.decode()
    assert f'id="{add_prefix(bare)}"' in page and "Enter a whole number." in page
    response = add(coordinator_client, bare, status="approved", payer="Plan")
    assert response.status_code == 422
    assert "An approved authorization needs the authorization number." in response.content.decode()
    assert not PriorAuthorization.objects.exists()


def test_without_htmx_a_bad_add_gives_the_whole_page_with_the_form_open(coordinator_client, bare):
    response = add(coordinator_client, bare, htmx=False, status="submitted")
    assert response.status_code == 422
    page = response.content.decode()
    assert "Name the payer once the request is submitted." in page and "<h1>" in page


def test_a_move_the_status_does_not_offer_is_refused_in_place(coordinator_client, bare):
    authorization = PriorAuthorizationFactory(episode=bare, status="draft")
    response = edit(coordinator_client, authorization, status="approved")
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert PriorAuthorization.objects.get(pk=authorization.pk).status == "draft"


def test_someone_elses_change_meanwhile_is_a_conflict_not_an_overwrite(coordinator_client, bare):
    authorization = PriorAuthorizationFactory(episode=bare, status="submitted", number="", valid_from=None,
                                              valid_to=None)
    seen = PriorAuthorization.objects.get(pk=authorization.pk)
    PriorAuthorization.objects.filter(pk=authorization.pk).update(status="denied")
    response = edit(coordinator_client, seen, status="draft")
    assert response.status_code == 409
    assert "Someone else changed this authorization to Denied" in response.content.decode()
    assert PriorAuthorization.objects.get(pk=authorization.pk).status == "denied"


def test_other_clinics_and_the_front_desk_get_nothing(bare, outsider, front_desk):
    authorization = PriorAuthorizationFactory(episode=bare)
    assert edit(signed_in(outsider), authorization, status="expired").status_code == 404
    assert add(signed_in(outsider), bare).status_code == 404
    assert edit(signed_in(front_desk), authorization, status="expired").status_code == 403
    assert PriorAuthorization.objects.get(pk=authorization.pk).status == "approved"
    assert PriorAuthorization.objects.count() == 1


def test_an_ended_episode_shows_its_authorizations_without_forms(coordinator_client, clinic, physician):
    episode = advance_to(EpisodeFactory(patient__clinic=clinic, physician=physician), "withdrawn")
    page = coordinator_client.get(f"/patients/{episode.patient.external_id}/").content.decode()
    assert "Permanent implant" in page and "Add an authorization" not in page


def test_a_write_is_audited_with_the_patient(coordinator_client, bare):
    add(coordinator_client, bare)
    row = AuditEvent.objects.get()
    assert (row.action, row.patient_ids) == ("web.authorization_add", [str(bare.patient.external_id)])


def test_the_worklist_lists_the_authorizations_needing_a_chase(coordinator_client, bare, clinic, physician):
    today = clinic_today(clinic)
    PriorAuthorizationFactory(episode=bare, status="submitted", submitted_on=today - timedelta(days=30),
                              payer="Slow Mutual")
    denied = EpisodeFactory(patient__clinic=clinic, physician=physician, implant_authorization=False)
    PriorAuthorization.objects.filter(episode=denied).update(status="denied")
    lapsing = EpisodeFactory(patient__clinic=clinic, physician=physician, implant_authorization=False,
                             auth_valid_to=today + timedelta(days=3))
    fine = EpisodeFactory(patient__clinic=clinic, physician=physician)
    page = coordinator_client.get("/worklist/").content.decode()
    section = page[page.index('id="authorizations-h"'):page.index('id="overdue-h"')]
    assert 'Authorizations needing a chase <span class="count">3</span>' in section
    assert "no answer for 30 days" in section and "Slow Mutual" in section
    assert denied.patient.mrn in section and "denied: no appeal yet" in section
    assert lapsing.patient.mrn in section and "no procedure booked" in section
    assert fine.patient.mrn not in section
    row = AuditEvent.objects.get()
    assert {str(e.patient.external_id) for e in (bare, denied, lapsing)} <= set(row.patient_ids)
