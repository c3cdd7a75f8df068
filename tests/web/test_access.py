"""Sign-in, idle expiry, and who may open which page: the right user sees it, other roles and clinics do not."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from pathway.stages import Role
from tests.factories import AppointmentFactory, ClinicFactory, EpisodeFactory, staff
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db

PAGES = ["/", "/worklist/", "/board/", "/patients/", "/board/trial/", "/schedule/", "/schedule/week/"]


@pytest.mark.parametrize("url", [*PAGES, "/caseload/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_sign_in_page_labels_its_fields(client):
    page = client.get("/login/").content.decode()
    assert '<label for="id_username">' in page
    assert '<label for="id_password">' in page


def test_sign_in_takes_a_coordinator_to_the_worklist(client, coordinator):
    response = client.post("/login/", {"username": "cora", "password": "pass-word-123"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Today's worklist" in response.content


def test_sign_in_takes_a_physician_to_the_caseload(client, physician):
    response = client.post("/login/", {"username": "drphys", "password": "pass-word-123"}, follow=True)
    assert response.redirect_chain[-1][0] == "/caseload/"


def test_a_wrong_password_is_refused_and_keeps_the_username(client, coordinator):
    response = client.post("/login/", {"username": "cora", "password": "nope"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Please enter a correct username and password" in page
    assert 'value="cora"' in page


def test_sign_out_ends_the_session(coordinator_client):
    response = coordinator_client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert coordinator_client.get("/").status_code == 302


def test_session_expires_after_the_idle_minutes(coordinator):
    assert settings.SESSION_COOKIE_AGE == settings.WEB_SESSION_IDLE_MINUTES * 60 == 15 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client = Client()
        client.post("/login/", {"username": "cora", "password": "pass-word-123"})
        traveller.shift(timedelta(minutes=14))
        assert client.get("/worklist/").status_code == 200  # activity restarts the clock
        traveller.shift(timedelta(minutes=14))
        assert client.get("/worklist/").status_code == 200
        traveller.shift(timedelta(minutes=16))
        response = client.get("/worklist/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", [*PAGES, "/caseload/"])
def test_front_desk_is_told_their_access_is_the_scheduling_system(front_desk, episode, url):
    response = signed_in(front_desk).get(url)
    assert response.status_code == 403
    page = response.content.decode()
    assert "scheduling system" in page
    assert episode.patient.family_name not in page


def test_front_desk_cannot_open_a_patient_or_write(front_desk, episode):
    client = signed_in(front_desk)
    assert client.get(f"/patients/{episode.patient.external_id}/").status_code == 403
    response = client.post(f"/episodes/{episode.external_id}/hold/",
                           {"intent": "hold", f"hold-{episode.external_id.hex[:12]}-reason": "x"})
    assert response.status_code == 403
    episode.refresh_from_db()
    assert not episode.on_hold


def test_a_user_without_any_role_is_refused(db):
    from tests.factories import UserFactory

    response = signed_in(UserFactory(username="nobody")).get("/")
    assert response.status_code == 403
    assert b"no coordinator or physician role" in response.content


def test_the_caseload_is_for_physicians(coordinator_client):
    assert coordinator_client.get("/caseload/").status_code == 403


def test_another_clinics_patient_is_not_found(outsider, episode):
    client = signed_in(outsider)
    key = episode.external_id.hex[:12]
    assert client.get(f"/patients/{episode.patient.external_id}/").status_code == 404
    posts = [
        (f"/episodes/{episode.external_id}/hold/", {"intent": "hold", f"hold-{key}-reason": "x"}),
        (f"/episodes/{episode.external_id}/transitions/withdraw/", {f"withdraw-{key}-end_reason": "x"}),
        (f"/episodes/{episode.external_id}/checklist/imaging/", {f"checklist-imaging-{key}-status": "met"}),
        (f"/episodes/{episode.external_id}/pain/", {f"pain-{key}-phase": "baseline", f"pain-{key}-nrs": "5"}),
        (f"/episodes/{episode.external_id}/details/", {}),
        (f"/patients/{episode.patient.external_id}/appointments/", {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    appointment = AppointmentFactory(patient=episode.patient)
    for change in ("check-in", "cancel", "reschedule"):
        assert client.post(f"/appointments/{appointment.external_id}/{change}/", {}).status_code == 404
    episode.refresh_from_db()
    assert not episode.on_hold and episode.stage == "evaluation"


def test_another_clinics_episodes_stay_off_my_board_and_search(coordinator_client, episode):
    elsewhere = EpisodeFactory(patient__clinic=ClinicFactory(slug="west"), patient__family_name="Faraway")
    board = coordinator_client.get("/board/").content.decode()
    assert episode.patient.family_name in board
    assert elsewhere.patient.family_name not in board
    found = coordinator_client.get("/patients/", {"q": "Faraway"}).content.decode()
    assert "No patient matches" in found


def test_a_user_in_two_clinics_sees_both(db, episode, clinic):
    second = ClinicFactory(slug="east")
    user = staff(clinic, Role.COORDINATOR, username="both")
    from pathway.models import Membership

    Membership.objects.create(user=user, clinic=second, role=Role.COORDINATOR)
    other = EpisodeFactory(patient__clinic=second)
    page = signed_in(user).get("/board/").content.decode()
    assert episode.patient.family_name in page and other.patient.family_name in page
