"""Do-not-call numbers in the admin and by command: a tenant's staff see and add only their
tenant's entries and never a global one (they do not see the global list at all; superusers
manage it); imports report bad rows by line and add each number once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from campaigns.importing import import_do_not_call
from campaigns.models import Contact, DoNotCall
from voiceapp.models import Membership, Tenant

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/campaigns/donotcall/import/"


def url(action: str, *args) -> str:
    return reverse(f"admin:campaigns_donotcall_{action}", args=args)


@pytest.fixture
def entries(world_a, world_b):
    return {
        "a": DoNotCall.objects.create(tenant=world_a.tenant, phone="+14155550301"),
        "b": DoNotCall.objects.create(tenant=world_b.tenant, phone="+14155550302"),
        "global": DoNotCall.objects.create(tenant=None, phone="+14155550303"),
    }


@pytest.fixture
def staff_a(client, world_a, entries):
    client.force_login(world_a.staff)
    return client


@pytest.fixture
def root(client, entries):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-tests"))
    return client


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("dnc.csv", text.encode(), content_type="text/csv")


def test_staff_see_only_their_tenants_entries(staff_a, entries):
    page = staff_a.get(url("changelist")).content.decode()
    assert "+14155550301" in page
    assert "+14155550302" not in page and "+14155550303" not in page
    for other in (entries["b"], entries["global"]):
        assert staff_a.get(url("change", other.pk)).status_code == 302  # as if missing
        staff_a.post(url("change", other.pk), {"phone": "+14155550999", "note": "mine now"})
        staff_a.post(url("delete", other.pk), {"post": "yes"})
        other.refresh_from_db()
        assert other.phone != "+14155550999"


def test_staff_add_to_their_list_normalised_and_the_contact_opted_out(staff_a, world_a):
    contact = Contact.objects.create(tenant=world_a.tenant, phone="+12125550102")
    response = staff_a.post(url("add"), {"phone": "(212) 555-0102", "note": "asked by email"})
    assert response.status_code == 302
    entry = DoNotCall.objects.get(phone="+12125550102")
    assert entry.tenant == world_a.tenant and entry.source == DoNotCall.Source.ADMIN
    contact.refresh_from_db()
    assert contact.opted_out
    again = staff_a.post(url("add"), {"phone": "+1 212 555 0102", "note": ""})
    assert "on the list already" in str(again.context["adminform"].form.errors["phone"])
    bad = staff_a.post(url("add"), {"phone": "+1 555 0103", "note": ""})
    assert "not a valid phone number" in str(bad.context["adminform"].form.errors["phone"])


def test_staff_of_two_tenants_cannot_make_a_global_entry(client, world_a, world_b, entries):
    third = Tenant.objects.create(name="Third", slug="third")
    Membership.objects.create(user=world_a.staff, tenant=third)
    client.force_login(world_a.staff)
    response = client.post(url("add"), {"tenant": "", "phone": "+14155550399", "note": ""})
    assert "required" in str(response.context["adminform"].form.errors["tenant"])
    response = client.post(
        url("add"), {"tenant": world_b.tenant.pk, "phone": "+14155550399", "note": ""}
    )
    assert "valid choice" in str(response.context["adminform"].form.errors["tenant"])
    assert not DoNotCall.objects.filter(phone="+14155550399").exists()
    client.post(url("add"), {"tenant": third.pk, "phone": "+14155550399", "note": ""})
    assert DoNotCall.objects.get(phone="+14155550399").tenant == third


def test_superusers_see_and_manage_the_global_list(root, entries):
    page = root.get(url("changelist")).content.decode()
    assert all(p in page for p in ("+14155550301", "+14155550302", "+14155550303"))
    assert "Global" in page
    assert (
        root.post(url("add"), {"tenant": "", "phone": "+14155550398", "note": ""}).status_code
        == 302
    )
    assert DoNotCall.objects.get(phone="+14155550398").tenant is None
    again = root.post(url("add"), {"tenant": "", "phone": "+14155550303", "note": ""})
    assert "on the list already" in str(again.context["adminform"].form.errors["phone"])
    # Moving a tenant's entry to the global list, where the number is already.
    entries["a"].phone = "+14155550303"
    entries["a"].save()
    moved = root.post(
        url("change", entries["a"].pk), {"tenant": "", "phone": "+14155550303", "note": ""}
    )
    assert "on the list already" in str(moved.context["adminform"].form.errors["phone"])


# ---------------------------------------------------------------- imports


def test_importing_numbers_reports_bad_rows_and_adds_each_once(world_a, entries):
    contact = Contact.objects.create(tenant=world_a.tenant, phone="+14155550101")
    data = (
        b"Phone,note,extra\n"
        b"+14155550101,by letter,x\n"
        b"(415) 555-0101,again,\n"
        b"not a number,,\n"
        b"+14155550301,already there,\n"
        b",,\n"
        b"+14155550102,,\n"
    )
    report = import_do_not_call(world_a.tenant, data)
    assert (report.added, report.already_listed, report.empty_rows) == (2, 2, 1)
    assert [(b.line, b.reason) for b in report.bad] == [
        (4, "'not a number' is not a phone number (not a number)")
    ]
    assert DoNotCall.objects.get(phone="+14155550101").note == "again"  # later values win
    assert DoNotCall.objects.get(phone="+14155550101").source == DoNotCall.Source.IMPORT
    contact.refresh_from_db()
    assert contact.opted_out


def test_the_command_fills_a_tenants_list_or_the_global_one(world_a, entries, tmp_path):
    path = tmp_path / "dnc.csv"
    path.write_text("phone\n+14155550401\nbad\n")
    out = StringIO()
    call_command("import_do_not_call", str(path), tenant="a", stdout=out, stderr=StringIO())
    assert DoNotCall.objects.get(phone="+14155550401").tenant == world_a.tenant
    assert "1 numbers added" in out.getvalue() and "line 3: 'bad'" in out.getvalue()
    err = StringIO()
    call_command("import_do_not_call", str(path), "--global", stdout=StringIO(), stderr=err)
    assert DoNotCall.objects.filter(phone="+14155550401", tenant=None).exists()
    assert "Checking: 100%" in err.getvalue()


def test_the_command_needs_one_list_and_a_readable_file(world_a, tmp_path):
    path = tmp_path / "dnc.csv"
    path.write_text("number\n+14155550401\n")
    with pytest.raises(CommandError, match="one of the arguments --tenant --global is required"):
        call_command("import_do_not_call", str(path))
    with pytest.raises(CommandError, match="no 'phone' column"):
        call_command("import_do_not_call", str(path), "--global", stderr=StringIO())
    assert not DoNotCall.objects.exists()


def test_the_admin_import_page(root, world_a):
    # A superuser may import to the global list.
    response = root.post(IMPORT_URL, {"tenant": "", "file": upload("phone\n+14155550501\n")})
    assert response.status_code == 302
    assert DoNotCall.objects.get(phone="+14155550501").tenant is None
    root.force_login(world_a.staff)
    form = root.get(IMPORT_URL).context["form"]
    assert "tenant" not in form.fields  # staff of one tenant: their list
    response = root.post(IMPORT_URL, {"file": upload("phone\n+14155550502\n")}, follow=True)
    assert next(str(m) for m in response.context["messages"]).startswith("1 numbers added")
    assert DoNotCall.objects.get(phone="+14155550502").tenant == world_a.tenant
