"""Prior authorizations in the admin: scoped to the user's clinics, every add and change through the services."""

from datetime import timedelta

import pytest
from django.urls import reverse

from pathway.clinic_time import clinic_today
from pathway.models import AuthorizationStatusChange, PriorAuthorization
from pathway.stages import Role
from tests.factories import PriorAuthorizationFactory

from .test_admin import clinic, episode, form_data, messages_of, north_episode, users  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def test_a_coordinator_adds_and_approves_an_authorization_through_the_services(client, users, episode):  # noqa: F811
    client.force_login(users[Role.COORDINATOR])
    today = clinic_today(episode.clinic)
    response = client.post(reverse("admin:pathway_priorauthorization_add"), {
        "episode": episode.pk, "step": "implant", "status": "submitted", "payer": "Example Mutual",
        "status_changes-TOTAL_FORMS": "0", "status_changes-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, messages_of(response)
    added = PriorAuthorization.objects.get(episode=episode, step="implant", payer="Example Mutual")
    assert added.submitted_on == today  # filled in by the service
    change = reverse("admin:pathway_priorauthorization_change", args=[added.pk])
    data = form_data(client.get(change))
    data.update({"status": "approved", "number": "IMP-9", "valid_from": today.isoformat(),
                 "valid_to": (today + timedelta(days=30)).isoformat()})
    assert client.post(change, data).status_code == 302
    assert list(AuthorizationStatusChange.objects.filter(authorization=added).values_list(
        "from_status", "to_status", "actor_label")) == [
        ("", "submitted", "riverside-coordinator"), ("submitted", "approved", "riverside-coordinator")]


def test_a_refused_change_saves_nothing_and_says_why(client, users, episode):  # noqa: F811
    client.force_login(users[Role.COORDINATOR])
    authorization = PriorAuthorizationFactory(episode=episode, status="expired")
    change = reverse("admin:pathway_priorauthorization_change", args=[authorization.pk])
    data = form_data(client.get(change))
    data["status"] = "approved"
    response = client.post(change, data, follow=True)
    assert any("can move to: nothing" in message for message in messages_of(response))
    assert PriorAuthorization.objects.get(pk=authorization.pk).status == "expired"


def test_another_clinics_authorizations_are_absent(client, users, north_episode):  # noqa: F811
    client.force_login(users[Role.COORDINATOR])
    theirs = PriorAuthorization.objects.filter(episode=north_episode).first()
    listing = client.get(reverse("admin:pathway_priorauthorization_changelist"))
    assert theirs not in listing.context["cl"].queryset
    assert client.get(reverse("admin:pathway_priorauthorization_change", args=[theirs.pk])).status_code == 302
