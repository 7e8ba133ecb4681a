"""CSV import of contacts, by function and by command: bad rows by line and reason, the good
rows imported, duplicates merged (in the file and with the tenant's contacts), one transaction
(a failure half-way leaves nothing), whole-file refusals, the progress bar and the summary."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError

from campaigns.importing import ImportRefused, import_contacts
from campaigns.management.commands.import_contacts import Command as ImportContacts
from campaigns.models import Contact, ContactList, DoNotCall

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "contacts.csv"


def csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def contacts(tenant) -> dict[str, Contact]:
    return {c.phone: c for c in Contact.objects.filter(tenant=tenant)}


def test_good_rows_are_imported_and_bad_ones_reported_by_line(world_a):
    data = csv(
        "phone,name,first_name,appointment,time_zone",
        "+1 415 555 0101,Ada Lovelace,Ada,Tuesday at 10:00,",
        "not a number,Bob,Bob,,",
        "",  # a blank line: skipped, but it still counts for the line numbers
        "(212) 555-0102,Grace Hopper,Grace,,Europe/Paris",
        "+1 555-0103,Carl,Carl,,",
        "+1 303 555 0104,Kat,Kat,,Mars/Olympus",
        ",,,,",
        ",No Phone,Nobody,,",
        "+1 617 555 0105,Ed,Ed,,,surplus",
    )
    report = import_contacts(world_a.tenant, "Spring", data)
    assert [(b.line, b.reason) for b in report.bad] == [
        (3, "'not a number' is not a phone number (not a number)"),
        (6, "'+1 555-0103' is not a valid phone number"),
        (7, "'Mars/Olympus' is not a known time zone (e.g. America/New_York)"),
        (9, "no phone number"),
        (10, "6 values, but the header has 5 columns"),
    ]
    assert report.imported == 2 and report.merged == 0 and report.empty_rows == 2
    saved = contacts(world_a.tenant)
    assert set(saved) == {"+14155550101", "+12125550102"}
    ada = saved["+14155550101"]
    assert ada.name == "Ada Lovelace"
    assert ada.variables == {"first_name": "Ada", "appointment": "Tuesday at 10:00"}
    assert ada.time_zone == "America/Los_Angeles"  # derived from the number
    assert saved["+12125550102"].time_zone == "Europe/Paris"  # given
    assert saved["+12125550102"].variables == {"first_name": "Grace"}  # empty cells set nothing
    spring = ContactList.objects.get(tenant=world_a.tenant, name="Spring")
    assert set(spring.contacts.values_list("phone", flat=True)) == set(saved)
    assert report.list_size == 2
    summary = "\n".join(report.summary())
    assert "2 contacts imported, 0 merged" in summary and "5 bad rows not imported" in summary
    assert "  line 6: '+1 555-0103' is not a valid phone number" in summary


def test_duplicates_in_the_file_and_in_the_tenant_are_merged_later_values_winning(world_a, world_b):
    Contact.objects.create(
        tenant=world_a.tenant,
        phone="+14155550101",
        name="Ada",
        time_zone="America/Denver",
        variables={"first_name": "Ada", "vip": "yes"},
    )
    other_tenant = Contact.objects.create(
        tenant=world_b.tenant, phone="+14155550101", name="B's Ada", variables={"x": "1"}
    )
    data = csv(
        "phone,name,first_name,appointment",
        "+14155550101,,Augusta,Monday",  # an existing contact: merged
        "+12125550102,Grace,Grace,Tuesday",
        "(212) 555-0102,Grace Hopper,,Wednesday",  # the same number, written otherwise
        "+1 415 555 0101,,,Thursday",
    )
    report = import_contacts(world_a.tenant, "Merged", data)
    assert report.imported == 1 and report.merged == 3 and not report.bad
    saved = contacts(world_a.tenant)
    assert len(saved) == 2
    ada = saved["+14155550101"]
    assert ada.name == "Ada"  # an empty name does not erase one
    assert ada.time_zone == "America/Denver"  # kept: the file gave none
    assert ada.variables == {"first_name": "Augusta", "vip": "yes", "appointment": "Thursday"}
    grace = saved["+12125550102"]
    assert grace.name == "Grace Hopper" and grace.variables == {
        "first_name": "Grace",
        "appointment": "Wednesday",
    }
    other_tenant.refresh_from_db()
    assert other_tenant.name == "B's Ada" and other_tenant.variables == {"x": "1"}
    assert report.list_size == 2
    # Importing the same file again changes nothing and adds no one.
    again = import_contacts(world_a.tenant, "Merged", data)
    assert again.imported == 0 and contacts(world_a.tenant).keys() == saved.keys()


def test_an_import_never_clears_an_opt_out_and_says_who_will_not_be_called(world_a):
    Contact.objects.create(tenant=world_a.tenant, phone="+14155550101", opted_out=True)
    DoNotCall.objects.create(tenant=None, phone="+12125550102")
    report = import_contacts(
        world_a.tenant, "L", csv("phone,name", "+14155550101,Ada", "+12125550102,Grace")
    )
    assert Contact.objects.get(phone="+14155550101").opted_out
    assert report.not_callable == 2
    assert "2 of them opted out or are on a do-not-call list" in "\n".join(report.summary())


def test_a_failure_half_way_leaves_nothing_of_the_import(world_a):
    existing = Contact.objects.create(
        tenant=world_a.tenant, phone="+14155550101", variables={"first_name": "Ada"}
    )
    lines = ["phone,first_name"] + [f"+1415555{1000 + i},Person {i}" for i in range(25)]
    lines.append("+14155550101,Augusta")
    real_bulk_create = Contact.objects.bulk_create
    calls = []

    def failing_on_the_third_batch(objs, *args, **kwargs):
        calls.append(len(objs))
        if len(calls) == 3:  # rows 21-25: the first 20 are written by then
            raise DatabaseError("disk full")
        return real_bulk_create(objs, *args, **kwargs)

    with mock.patch.object(
        type(Contact.objects), "bulk_create", side_effect=failing_on_the_third_batch
    ):
        with pytest.raises(ImportRefused, match=r"disk full.*nothing of the file was imported"):
            import_contacts(world_a.tenant, "Half", csv(*lines), batch_size=10)
    assert calls == [10, 10, 5]
    assert list(Contact.objects.filter(tenant=world_a.tenant)) == [existing]
    existing.refresh_from_db()
    assert existing.variables == {"first_name": "Ada"}
    assert not ContactList.objects.filter(name="Half").exists()


@pytest.mark.parametrize(
    "data, why",
    [
        (b"", "The file is empty"),
        (b"\n\n", "The file is empty"),
        (csv("name,first_name", "Ada,Ada"), "no 'phone' column \\(it has: name, first_name\\)"),
        (
            csv("phone,first name,2nd,ok", "+14155550101,Ada,x,y"),
            "Bad column names: 'first name' cannot be a variable name.*'2nd' cannot be",
        ),
        (csv("phone,business_name", "+14155550101,Acme"), "'business_name' is set by every call"),
        (csv("phone,name,Name", "+14155550101,a,b"), "Columns appear twice in the header: name"),
        (
            "phone,name\n+14155550101,Zoë\n".encode("latin-1"),
            "not UTF-8 text \\(line 2 has the byte 0xeb\\)",
        ),
        (b'phone,name\n+14155550101,"Ada\n', "cannot be read as CSV at line 2"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_whole(world_a, data, why):
    with pytest.raises(ImportRefused, match=why):
        import_contacts(world_a.tenant, "Refused", data)
    assert not Contact.objects.exists() and not ContactList.objects.exists()


@pytest.mark.parametrize("name, why", [("  ", "needs a name"), ("x" * 121, "longer than 120")])
def test_the_list_needs_a_name_that_fits(world_a, name, why):
    with pytest.raises(ImportRefused, match=why):
        import_contacts(world_a.tenant, name, csv("phone", "+14155550101"))
    assert not Contact.objects.exists()


def test_header_names_and_a_byte_order_mark_are_forgiven(world_a):
    data = "\ufeff Phone , NAME ,first_name,\n+14155550101,Ada,Ada,\n".encode()
    report = import_contacts(world_a.tenant, "BOM", data)
    assert report.imported == 1 and not report.bad
    ada = Contact.objects.get()
    assert ada.name == "Ada" and ada.variables == {"first_name": "Ada"}


def test_the_sample_file_imports_cleanly(world_a):
    report = import_contacts(world_a.tenant, "Sample", SAMPLE.read_bytes())
    assert report.imported == 10 and not report.bad and report.empty_rows == 0
    assert all(c.variables.get("first_name") for c in Contact.objects.all())
    assert Contact.objects.get(phone="+18085550108").time_zone == "Pacific/Honolulu"
    assert Contact.objects.get(phone="+13125550103").time_zone == "America/Chicago"


# ---------------------------------------------------------------- the command


def test_the_command_imports_shows_progress_and_prints_the_summary(world_a, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv("phone,name,first_name", "+14155550101,Ada,Ada", "nope,Bob,Bob"))
    out, err = StringIO(), StringIO()
    call_command(
        "import_contacts", str(path), tenant="a", list_name="Autumn", stdout=out, stderr=err
    )
    assert "Checking: 100%" in err.getvalue() and "2/2" in err.getvalue()
    assert "Saving: 100%" in err.getvalue() and "1/1" in err.getvalue()
    assert out.getvalue().splitlines() == [
        "1 contacts imported, 0 merged into existing ones; the list 'Autumn' now has 1 contacts.",
        "1 bad rows not imported:",
        "  line 3: 'nope' is not a phone number (not a number)",
    ]
    assert ContactList.objects.get(name="Autumn").contacts.get().name == "Ada"


def test_the_command_adds_to_an_existing_list(world_a, tmp_path):
    spring = ContactList.objects.create(tenant=world_a.tenant, name="Spring")
    spring.contacts.add(Contact.objects.create(tenant=world_a.tenant, phone="+13035550104"))
    path = tmp_path / "more.csv"
    path.write_bytes(csv("phone", "+14155550101"))
    out = StringIO()
    call_command(
        "import_contacts", str(path), "--tenant=a", "--list=Spring", "--no-progress", stdout=out
    )
    assert spring.contacts.count() == 2 and "now has 2 contacts" in out.getvalue()


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: None, "Cannot read"),  # no such file
        (lambda p: p.write_bytes(b"name\nAda\n"), "no 'phone' column"),
        (lambda p: p.write_bytes("phone\n+1 ☎\n".encode("utf-16")), "not UTF-8 text"),
    ],
)
def test_the_command_fails_when_the_file_cannot_be_read(world_a, tmp_path, make, why):
    path = tmp_path / "bad.csv"
    make(path)
    with pytest.raises(CommandError, match=why):
        call_command("import_contacts", str(path), tenant="a", list_name="X", stderr=StringIO())
    assert not Contact.objects.exists()


def test_the_command_exits_non_zero_on_an_unreadable_file(world_a, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"name\nAda\n")
    argv = ["manage.py", "import_contacts", str(path), "--tenant", "a", "--list", "X"]
    with pytest.raises(SystemExit) as exited:
        ImportContacts().run_from_argv(argv)
    assert exited.value.code != 0
    assert "no 'phone' column" in capsys.readouterr().err


def test_an_unknown_tenant_is_refused(world_a, tmp_path):
    path = tmp_path / "ok.csv"
    path.write_bytes(csv("phone", "+14155550101"))
    with pytest.raises(CommandError, match="No tenant with the slug 'zzz'"):
        call_command("import_contacts", str(path), tenant="zzz", list_name="X")
