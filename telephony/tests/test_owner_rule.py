"""Twilio accounts: only a tenant's owners manage them, in the admin and the API alike, and
nobody ever reads the auth token back."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from telephony.models import TwilioAccount
from voiceapp.models import Membership

SECRET = "f00dfeedcafe4b1d9e0c7a55secret42"
GOOD_SID = "AC" + "0123456789abcdef" * 2


@pytest.fixture
def account(world_a):
    world_a.account.auth_token = SECRET
    world_a.account.save(update_fields=["auth_token"])
    return world_a.account


@pytest.fixture
def staff_member(world_a):
    """A member of tenant A who is not an owner."""
    user = get_user_model().objects.create_user("clerk_a", password="pw-for-tests", is_staff=True)
    Membership.objects.create(user=user, tenant=world_a.tenant, role=Membership.Role.STAFF)
    return user


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def change_url(account: TwilioAccount) -> str:
    return reverse("admin:telephony_twilioaccount_change", args=[account.pk])


# -- the admin


def test_staff_member_reads_the_account_but_never_the_token(client, staff_member, account):
    client.force_login(staff_member)
    response = client.get(change_url(account))
    assert response.status_code == 200
    assert account.account_sid in response.content.decode()
    assert SECRET not in response.content.decode()


def test_owner_change_page_does_not_show_the_token_either(client, world_a, account):
    client.force_login(world_a.staff)
    response = client.get(change_url(account))
    assert response.status_code == 200
    assert 'name="auth_token"' in response.content.decode()  # an owner may replace it
    assert SECRET not in response.content.decode()


def test_staff_member_cannot_change_or_delete_in_the_admin(client, staff_member, account):
    client.force_login(staff_member)
    client.post(change_url(account), {"name": "Mine", "account_sid": GOOD_SID})
    delete = reverse("admin:telephony_twilioaccount_delete", args=[account.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    account.refresh_from_db()
    assert account.name == "Account a" and account.auth_token == SECRET


def test_admin_refuses_a_sid_that_is_not_hex(client, world_a, account):
    client.force_login(world_a.staff)
    response = client.post(
        change_url(account), {"name": "Main", "account_sid": "AC" + "z" * 32, "auth_token": ""}
    )
    assert response.status_code == 200  # the form again, with the error
    assert "is not an account SID" in response.content.decode()
    account.refresh_from_db()
    assert account.account_sid != "AC" + "z" * 32


# -- the API


def test_staff_member_lists_and_reads_without_the_token(staff_member, account):
    client = api(staff_member)
    listed = client.get("/api/twilio-accounts/")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [account.pk]
    detail = client.get(f"/api/twilio-accounts/{account.pk}/")
    assert detail.status_code == 200
    assert "auth_token" not in detail.json() and SECRET not in detail.content.decode()


def test_staff_member_cannot_create_change_or_delete(staff_member, account):
    client = api(staff_member)
    created = client.post(
        "/api/twilio-accounts/",
        {"name": "Mine", "account_sid": GOOD_SID, "auth_token": "x"},
        format="json",
    )
    assert created.status_code == 403
    assert "owner" in created.json()["detail"]
    patched = client.patch(
        f"/api/twilio-accounts/{account.pk}/", {"auth_token": "stolen"}, format="json"
    )
    assert patched.status_code == 403
    assert client.delete(f"/api/twilio-accounts/{account.pk}/").status_code == 403
    account.refresh_from_db()
    assert account.auth_token == SECRET
    assert not TwilioAccount.objects.filter(account_sid=GOOD_SID).exists()


def test_owner_creates_replaces_the_token_and_deletes(world_a, account):
    client = api(world_a.staff)
    created = client.post(
        "/api/twilio-accounts/",
        {"name": "Second", "account_sid": GOOD_SID, "auth_token": "first-token"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert "auth_token" not in created.json()
    new = TwilioAccount.objects.get(pk=created.json()["id"])
    assert new.tenant == world_a.tenant and new.auth_token == "first-token"
    patched = client.patch(
        f"/api/twilio-accounts/{new.pk}/", {"auth_token": "second-token"}, format="json"
    )
    assert patched.status_code == 200 and "auth_token" not in patched.json()
    new.refresh_from_db()
    assert new.auth_token == "second-token"
    assert client.delete(f"/api/twilio-accounts/{new.pk}/").status_code == 204
    assert not TwilioAccount.objects.filter(pk=new.pk).exists()


@pytest.mark.parametrize("sid", ["not-a-sid", "AC" + "z" * 32, "AC" + "0" * 31, "SK" + "0" * 32])
def test_api_refuses_a_malformed_sid_with_a_message(world_a, sid):
    response = api(world_a.staff).post(
        "/api/twilio-accounts/",
        {"name": "Bad", "account_sid": sid, "auth_token": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "'AC' and 32 hex characters" in response.json()["account_sid"][0]


def test_owner_of_one_tenant_cannot_add_to_a_tenant_they_only_staff(world_a, world_b):
    Membership.objects.create(user=world_a.staff, tenant=world_b.tenant, role="staff")
    response = api(world_a.staff).post(
        "/api/twilio-accounts/",
        {"tenant": world_b.tenant.pk, "name": "B", "account_sid": GOOD_SID, "auth_token": "x"},
        format="json",
    )
    assert response.status_code == 403
    assert not TwilioAccount.objects.filter(account_sid=GOOD_SID).exists()
    # and the admin offers only the owned tenant for a new account
    from django.test import Client

    client = Client()
    client.force_login(world_a.staff)
    form = client.get(reverse("admin:telephony_twilioaccount_add")).context["adminform"].form
    assert list(form.fields["tenant"].queryset) == [world_a.tenant]
