"""The board's filters: physician, stage and flag in the URL (bookmarkable), a patient's name only in a POST body."""

from datetime import timedelta

import pytest
from django.utils import timezone

from pathway import services
from pathway.actors import Actor
from pathway.models import Episode
from pathway.stages import Role
from tests.factories import EpisodeFactory, advance_to, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def ward(clinic, physician, coordinator):
    """One episode per situation: fresh, stalled, on hold in evaluation; one in trial for another physician."""
    fresh = EpisodeFactory(patient__clinic=clinic, physician=physician, patient__family_name="Fresh")
    stalled = EpisodeFactory(patient__clinic=clinic, physician=physician, patient__family_name="Slow")
    Episode.objects.filter(pk=stalled.pk).update(stage_entered_at=timezone.now() - timedelta(days=70))
    held = EpisodeFactory(patient__clinic=clinic, physician=physician, patient__family_name="Held")
    services.episode_hold(episode=held, actor=Actor.for_user(coordinator), reason="insurance appeal")
    other = staff(clinic, Role.PHYSICIAN, username="drother", last_name="Other")
    trialled = advance_to(EpisodeFactory(patient__clinic=clinic, physician=other, patient__family_name="Trialled"),
                          "trial")
    return {"fresh": fresh, "stalled": stalled, "held": held, "trialled": trialled}


def names_on(page: str) -> set[str]:
    return {name for name in ("Fresh", "Slow", "Held", "Trialled") if f"{name}, " in page}


def test_a_stage_in_the_url_shows_that_column_alone(coordinator_client, ward):
    page = coordinator_client.get("/board/?stage=trial").content.decode()
    assert names_on(page) == {"Trialled"}
    assert 'id="col-trial"' in page and 'id="col-evaluation"' not in page
    assert '<option value="trial" selected>' in page


@pytest.mark.parametrize(("flag", "shown"), [("stalled", {"Slow"}), ("on_hold", {"Held"}),
                                             ("", {"Fresh", "Slow", "Held", "Trialled"})])
def test_a_flag_in_the_url_shows_the_flagged_episodes(coordinator_client, ward, flag, shown):
    page = coordinator_client.get(f"/board/?flag={flag}").content.decode()
    assert names_on(page) == shown


def test_filters_combine_and_the_search_keeps_them_in_its_address_not_the_name(coordinator_client, ward):
    page = coordinator_client.get("/board/?physician=drother&stage=trial").content.decode()
    assert names_on(page) == {"Trialled"}
    assert 'action="/board/?physician=drother&amp;stage=trial"' in page  # the POST search form
    searched = coordinator_client.post("/board/?stage=evaluation&flag=on_hold", {"q": "held"}).content.decode()
    assert names_on(searched) == {"Held"}
    assert 'value="held"' in searched
    assert "q=held" not in searched


def test_show_more_keeps_the_filters(coordinator_client, ward, settings, clinic, physician):
    settings.WEB_BOARD_CARDS_PER_COLUMN = 1
    EpisodeFactory(patient__clinic=clinic, physician=physician, patient__family_name="Slower")
    Episode.objects.filter(patient__family_name="Slower").update(stage_entered_at=timezone.now() - timedelta(days=80))
    page = coordinator_client.get("/board/?flag=stalled").content.decode()
    assert 'hx-post="/board/evaluation/?flag=stalled"' in page
    assert "Show more in Evaluation (1 of 2 shown)" in page
    more = coordinator_client.post("/board/evaluation/?flag=stalled", {"page": "2"}, HTTP_HX_REQUEST="true")
    assert names_on(more.content.decode()) == {"Slow"}


@pytest.mark.parametrize("query", ["stage=explanted", "stage=nonsense", "flag=vip"])
def test_an_unknown_stage_or_flag_is_a_clear_400(coordinator_client, ward, query):
    response = coordinator_client.get(f"/board/?{query}")
    assert response.status_code == 400
    assert "choose one of" in response.content.decode()
    assert names_on(response.content.decode()) == set()


def test_a_column_page_refuses_another_stage_in_its_address(coordinator_client, ward):
    assert coordinator_client.get("/board/evaluation/?stage=trial").status_code == 400


def test_board_cards_are_compact(coordinator_client, ward):
    page = coordinator_client.get("/board/").content.decode()
    assert page.count('class="card card-compact') == 4
    assert "70 d in stage" in page


def test_the_authorization_flag_shows_episodes_whose_authorization_needs_a_chase(coordinator_client, ward):
    from pathway.models import PriorAuthorization

    PriorAuthorization.objects.filter(episode=ward["fresh"], step="trial").update(status="denied")
    page = coordinator_client.get("/board/?flag=authorization").content.decode()
    assert names_on(page) == {"Fresh"}
    assert '<option value="authorization" selected>' in page
