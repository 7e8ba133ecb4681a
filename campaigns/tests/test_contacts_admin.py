"""Contacts and lists in the admin: a tenant's staff see, change and import into only their
tenant's rows; numbers are normalised and checked; the CSV import page reports like the
command (a summary and each bad row by line)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Contact, ContactList

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/campaigns/contactlist/import/"


def url(model: str, action: str, *args) -> str:
    return reverse(f"admin:campaigns_{model}_{action}", args=args)


@pytest.fixture
def rows(world_a, world_b):
    """A contact and a list in each tenant."""
    made = {}
    for key, world in (("a", world_a), ("b", world_b)):
        contact = Contact.objects.create(
            tenant=world.tenant, phone=f"+1415555020{ord(key) - 96}", name=f"Person {key}"
        )
        lst = ContactList.objects.create(tenant=world.tenant, name=f"List {key}")
        lst.contacts.add(contact)
        made[key] = (contact, lst)
    return made


@pytest.fixture
def staff_a(client, world_a, rows):
    client.force_login(world_a.staff)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def upload(text: str, name: str = "people.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_staff_see_only_their_tenants_contacts_and_lists(staff_a, rows):
    list_a, (contact_b, list_b) = rows["a"][1], rows["b"]
    page = staff_a.get(url("contact", "changelist")).content.decode()
    assert "Person a" in page and "Person b" not in page
    page = staff_a.get(url("contactlist", "changelist")).content.decode()
    assert "List a" in page and "List b" not in page
    assert f"{IMPORT_URL}?list={list_a.pk}" in page
    change_page = staff_a.get(url("contactlist", "change", list_a.pk)).content.decode()
    assert f"{IMPORT_URL}?list={list_a.pk}" in change_page and "Person a" in change_page
    for model, obj in (("contact", contact_b), ("contactlist", list_b)):
        response = staff_a.get(url(model, "change", obj.pk))
        assert response.status_code == 302  # "does not exist", as for a missing row
        response = staff_a.post(url(model, "delete", obj.pk), {"post": "yes"})
        assert type(obj).objects.filter(pk=obj.pk).exists()


def test_the_contact_search_for_lists_offers_only_the_tenants_contacts(staff_a, rows):
    response = staff_a.get(
        "/admin/autocomplete/",
        {"app_label": "campaigns", "model_name": "contactlist", "field_name": "contacts"},
    )
    names = [r["text"] for r in json.loads(response.content)["results"]]
    assert names == [str(rows["a"][0])]


def test_a_contact_added_in_the_admin_is_normalised(staff_a, world_a):
    response = staff_a.post(
        url("contact", "add"),
        {
            "phone": "(212) 555-0102",
            "name": "Grace",
            "time_zone": "",
            "variables": '{"first_name": "Grace"}',
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    grace = Contact.objects.get(name="Grace")
    assert grace.tenant == world_a.tenant and grace.phone == "+12125550102"
    assert grace.time_zone == "America/New_York" and grace.variables == {"first_name": "Grace"}


@pytest.mark.parametrize(
    "changes, field, error",
    [
        ({"phone": "+1 555-0103"}, "phone", "is not a valid phone number"),
        ({"phone": "+1 415 555 0201"}, "phone", "has a contact with this number already"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "is not a known time zone"),
        ({"variables": '{"first name": "x"}'}, "variables", "cannot be a variable name"),
        ({"variables": '{"agent_name": "x"}'}, "variables", "set by every call"),
    ],
)
def test_a_bad_contact_is_refused_with_the_reason(staff_a, changes, field, error):
    data = {"phone": "+14155550999", "name": "X", "time_zone": "", "variables": "{}", **changes}
    response = staff_a.post(url("contact", "add"), data)
    assert response.status_code == 200
    assert error in str(response.context["adminform"].form.errors[field])
    assert not Contact.objects.filter(name="X").exists()


def test_the_same_number_may_be_a_contact_of_another_tenant(staff_a, world_a):
    data = {"phone": "+14155550202", "name": "Also B's", "time_zone": "", "variables": "{}"}
    assert staff_a.post(url("contact", "add"), data).status_code == 302
    assert Contact.objects.filter(phone="+14155550202").count() == 2


def test_opting_out_in_the_admin_records_when(staff_a, rows):
    contact = rows["a"][0]
    data = {"phone": contact.phone, "name": contact.name, "time_zone": "", "variables": "{}"}
    staff_a.post(url("contact", "change", contact.pk), {**data, "opted_out": "on"})
    contact.refresh_from_db()
    assert contact.opted_out and contact.opted_out_at is not None
    staff_a.post(url("contact", "change", contact.pk), data)
    contact.refresh_from_db()
    assert not contact.opted_out and contact.opted_out_at is None


def test_a_list_cannot_take_another_tenants_contact(staff_a, rows):
    list_a = rows["a"][1]
    response = staff_a.post(
        url("contactlist", "change", list_a.pk),
        {"name": "List a", "contacts": [rows["a"][0].pk, rows["b"][0].pk]},
    )
    assert response.status_code == 200
    assert "valid choice" in str(response.context["adminform"].form.errors["contacts"])
    assert list(list_a.contacts.all()) == [rows["a"][0]]


# ---------------------------------------------------------------- the import page


def test_the_import_page_imports_into_the_staff_members_tenant(staff_a, world_a, rows):
    list_a = rows["a"][1]
    page = staff_a.get(IMPORT_URL, {"list": list_a.pk})
    form = page.context["form"]
    assert "tenant" not in form.fields and form.initial["list_name"] == "List a"
    assert b"Import contacts from CSV" in page.content
    csv = "phone,name,first_name\n+14155550101,Ada,Ada\nnope,Bob,Bob\n+14155550201,,Pat\n"
    response = staff_a.post(IMPORT_URL, {"list_name": "List a", "file": upload(csv)}, follow=True)
    assert messages_of(response) == [
        "1 contacts imported, 1 merged into existing ones; the list 'List a' now has 2 contacts.",
        "1 bad rows not imported:",
        "line 3: 'nope' is not a phone number (not a number)",
    ]
    assert set(list_a.contacts.values_list("phone", flat=True)) == {
        "+14155550101",
        "+14155550201",
    }
    assert Contact.objects.get(phone="+14155550201").variables == {"first_name": "Pat"}
    assert not Contact.objects.filter(tenant=rows["b"][0].tenant, phone="+14155550101").exists()


def test_the_import_page_does_not_reveal_another_tenants_list(staff_a, rows):
    page = staff_a.get(IMPORT_URL, {"list": rows["b"][1].pk})
    assert page.status_code == 200 and "list_name" not in page.context["form"].initial


def test_a_refused_file_imports_nothing_and_says_why(staff_a, world_a):
    response = staff_a.post(
        IMPORT_URL, {"list_name": "New", "file": upload("name\nAda\n")}, follow=True
    )
    (message,) = messages_of(response)
    assert message.startswith("Nothing imported: The header has no 'phone' column")
    assert not ContactList.objects.filter(name="New").exists()


def test_many_bad_rows_are_summed_up(staff_a):
    csv = "phone\n" + "bad\n" * 60
    response = staff_a.post(IMPORT_URL, {"list_name": "New", "file": upload(csv)}, follow=True)
    shown = messages_of(response)
    assert sum(m.startswith("line ") for m in shown) == 50
    assert shown[-1].startswith("… and 10 more bad rows")


def test_a_superuser_picks_the_tenant_and_an_outsider_is_refused(client, world_a, world_b):
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(root)
    csv = "phone\n+14155550101\n"
    response = client.post(IMPORT_URL, {"list_name": "L", "file": upload(csv)})
    assert "required" in str(response.context["form"].errors["tenant"])
    client.post(IMPORT_URL, {"list_name": "L", "file": upload(csv), "tenant": world_b.tenant.pk})
    assert Contact.objects.get().tenant == world_b.tenant

    outsider = get_user_model().objects.create_user("out", password="pw", is_staff=True)
    client.force_login(outsider)
    assert client.get(IMPORT_URL).status_code == 403
    response = client.post(IMPORT_URL, {"list_name": "L", "file": upload(csv)})
    assert response.status_code == 403 and Contact.objects.count() == 1


def test_staff_of_two_tenants_import_only_into_theirs(client, world_a, world_b):
    from voiceapp.models import Membership, Tenant

    third = Tenant.objects.create(name="Third", slug="third")
    Membership.objects.create(user=world_a.staff, tenant=third)
    client.force_login(world_a.staff)
    csv = "phone\n+14155550101\n"
    response = client.post(
        IMPORT_URL, {"list_name": "L", "file": upload(csv), "tenant": world_b.tenant.pk}
    )
    assert "valid choice" in str(response.context["form"].errors["tenant"])
    client.post(IMPORT_URL, {"list_name": "L", "file": upload(csv), "tenant": third.pk})
    assert Contact.objects.get().tenant == third
