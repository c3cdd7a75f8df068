"""A clinic administrator grants roles only in their own clinic, only to its staff, and every grant is audited."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from api.models import AuditEvent
from pathway.management.staff_access import staff_access_sync
from pathway.models import Membership
from pathway.stages import Role
from tests.factories import ClinicFactory, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinics():
    return ClinicFactory(slug="riverside"), ClinicFactory(slug="north")


@pytest.fixture
def clinic_admin(clinics):
    user = staff(clinics[0], Role.ADMIN, username="riverside-admin")
    staff_access_sync(user=user)
    client = Client()
    client.force_login(user)
    return client


def user_choices(client, url: str) -> set[str]:
    form = client.get(url).context["adminform"].form
    return {user.username for user in form.fields["user"].queryset}


def test_the_membership_form_offers_only_the_clinics_staff_and_new_staff(clinic_admin, clinics):
    staff(clinics[0], Role.COORDINATOR, username="riverside-coord")
    staff(clinics[1], Role.PHYSICIAN, username="north-doc")
    get_user_model().objects.create_user("new-hire")
    get_user_model().objects.create_superuser("root", password="x")
    choices = user_choices(clinic_admin, "/admin/pathway/membership/add/")
    assert {"riverside-coord", "riverside-admin", "new-hire"} <= choices
    assert not {"north-doc", "root"} & choices
    clinic_choices = clinic_admin.get("/admin/pathway/membership/add/").context["adminform"].form.fields["clinic"]
    assert [c.slug for c in clinic_choices.queryset] == ["riverside"]


def test_a_grant_in_another_clinic_or_to_its_staff_is_refused(clinic_admin, clinics):
    north_doc = staff(clinics[1], Role.PHYSICIAN, username="north-doc")
    response = clinic_admin.post("/admin/pathway/membership/add/",
                                 {"user": north_doc.pk, "clinic": clinics[0].pk, "role": Role.PHYSICIAN})
    assert response.status_code == 200 and "user" in response.context["adminform"].form.errors
    new_hire = get_user_model().objects.create_user("new-hire")
    response = clinic_admin.post("/admin/pathway/membership/add/",
                                 {"user": new_hire.pk, "clinic": clinics[1].pk, "role": Role.PHYSICIAN})
    assert response.status_code == 200 and "clinic" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(user=new_hire).exists()
    assert not AuditEvent.objects.filter(action__startswith="membership.").exists()


def test_each_grant_and_withdrawal_is_audited(clinic_admin, clinics):
    new_hire = get_user_model().objects.create_user("new-hire")
    response = clinic_admin.post("/admin/pathway/membership/add/",
                                 {"user": new_hire.pk, "clinic": clinics[0].pk, "role": Role.COORDINATOR})
    assert response.status_code == 302
    membership = Membership.objects.get(user=new_hire)
    clinic_admin.post(f"/admin/pathway/membership/{membership.pk}/delete/", {"post": "yes"})
    assert not Membership.objects.filter(user=new_hire).exists()
    rows = list(AuditEvent.objects.filter(action__startswith="membership.").order_by("id")
                .values_list("action", "actor_label", "detail"))
    assert rows == [("membership.granted", "riverside-admin", "coordinator at riverside for new-hire"),
                    ("membership.withdrawn", "riverside-admin", "coordinator at riverside for new-hire")]
