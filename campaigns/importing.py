"""CSV import of contacts into a list, and of numbers onto a do-not-call list.

A file is read whole before anything is written: a file that cannot be read at all (not UTF-8,
not CSV, no `phone` column, a column name the agent's texts cannot use) is refused as a whole
(ImportRefused); otherwise each bad row is reported with the line it starts on and why, and
the good rows are written in one transaction, so an import that fails midway leaves nothing.
A number twice in the file, or already a contact of the tenant, is one contact: its variables
merged, later values winning. Contacts columns: `phone` (required), `name`, `time_zone`; every
other column is a variable of the agent's texts (`{first_name}`); an empty cell sets nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import DatabaseError, transaction
from django.utils import timezone

from campaigns import do_not_call
from campaigns.contacts import (
    ContactError,
    check_time_zone,
    check_variable_name,
    normalize_phone,
    time_zone_for_number,
)
from campaigns.models import Contact, ContactList, DoNotCall
from voiceapp.models import Tenant

MAX_BYTES = 20 * 1024 * 1024
BATCH_SIZE = 500
CONTACT_COLUMNS = ("phone", "name", "time_zone")
NAME_LENGTH = Contact._meta.get_field("name").max_length
LIST_NAME_LENGTH = ContactList._meta.get_field("name").max_length


class ImportRefused(Exception):
    """Nothing of the file was imported; the message says why, for a person to fix."""


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def close(self) -> Any: ...


# progress(label, total) -> a bar (tqdm in the terminal); None: no progress shown.
Progress = Callable[[str, int], ProgressBar]


@dataclass
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ContactImport:
    """What an import did, for the command's summary and the admin's messages."""

    list_name: str
    imported: int = 0  # new contacts
    merged: int = 0  # rows merged into an existing contact or an earlier row of the file
    empty_rows: int = 0
    bad: list[BadRow] = field(default_factory=list)
    list_size: int = 0
    not_callable: int = 0  # imported, but opted out or on a do-not-call list

    def summary(self) -> list[str]:
        lines = [
            f"{self.imported} contacts imported, {self.merged} merged into existing ones; "
            f"the list {self.list_name!r} now has {self.list_size} contacts."
        ]
        if self.not_callable:
            lines.append(
                f"{self.not_callable} of them opted out or are on a do-not-call list: they "
                "will not be called."
            )
        if self.empty_rows:
            lines.append(f"{self.empty_rows} empty rows skipped.")
        if self.bad:
            lines.append(f"{len(self.bad)} bad rows not imported:")
            lines += [f"  {bad}" for bad in self.bad]
        return lines


@dataclass
class NumberImport:
    added: int = 0
    already_listed: int = 0
    empty_rows: int = 0
    bad: list[BadRow] = field(default_factory=list)

    def summary(self) -> list[str]:
        lines = [
            f"{self.added} numbers added to the do-not-call list, {self.already_listed} "
            "were on it already."
        ]
        if self.empty_rows:
            lines.append(f"{self.empty_rows} empty rows skipped.")
        if self.bad:
            lines.append(f"{len(self.bad)} bad rows not imported:")
            lines += [f"  {bad}" for bad in self.bad]
        return lines


@dataclass
class _Row:
    line: int
    phone: str
    name: str = ""
    time_zone: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    def merge(self, later: _Row) -> None:
        """`later` (a later row for the same number) wins where it says something."""
        self.name = later.name or self.name
        self.time_zone = later.time_zone or self.time_zone
        self.variables.update(later.variables)


# ---------------------------------------------------------------- contacts


def import_contacts(
    tenant: Tenant,
    list_name: str,
    data: bytes,
    *,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> ContactImport:
    """Import the CSV file `data` into the tenant's list `list_name` (made if missing).
    ImportRefused when the file cannot be imported at all, or the database failed midway
    (then nothing of it was written)."""
    list_name = list_name.strip()
    if not list_name:
        raise ImportRefused("The list needs a name.")
    if len(list_name) > LIST_NAME_LENGTH:
        raise ImportRefused(f"The list's name is longer than {LIST_NAME_LENGTH} characters.")
    columns, records, blank_lines = _read(data, known=CONTACT_COLUMNS)
    bad_columns = []
    for name in columns:
        if name and name not in CONTACT_COLUMNS:
            try:
                check_variable_name(name)
            except ContactError as exc:
                bad_columns.append(str(exc))
    if bad_columns:
        raise ImportRefused("Bad column names: " + "; ".join(bad_columns) + ".")
    report = ContactImport(list_name, empty_rows=blank_lines)
    rows: dict[str, _Row] = {}  # by E.164 number, in file order
    bar = _bar(progress, "Checking", len(records))
    for line, cells in records:
        bar.update(1)
        if isinstance(cells, str):  # a row the reader could not split
            report.bad.append(BadRow(line, cells))
            continue
        if not any(cells.values()):
            report.empty_rows += 1
            continue
        try:
            row = _contact_row(line, cells)
        except ContactError as exc:
            report.bad.append(BadRow(line, str(exc)))
            continue
        if row.phone in rows:
            rows[row.phone].merge(row)
            report.merged += 1
        else:
            rows[row.phone] = row
    bar.close()
    try:
        with transaction.atomic():
            _write_contacts(tenant, report, list(rows.values()), progress, batch_size)
    except DatabaseError as exc:
        raise ImportRefused(
            f"The database refused the import ({type(exc).__name__}: {str(exc)[:200]}); "
            "nothing of the file was imported."
        ) from exc
    return report


def _contact_row(line: int, cells: dict[str, str]) -> _Row:
    phone = normalize_phone(cells.get("phone", ""))
    name = cells.get("name", "")
    if len(name) > NAME_LENGTH:
        raise ContactError(f"the name is longer than {NAME_LENGTH} characters")
    time_zone = check_time_zone(cells["time_zone"]) if cells.get("time_zone") else ""
    variables = {k: v for k, v in cells.items() if k not in CONTACT_COLUMNS and v}
    return _Row(line, phone, name, time_zone, variables)


def _write_contacts(
    tenant: Tenant,
    report: ContactImport,
    rows: list[_Row],
    progress: Progress | None,
    batch_size: int,
) -> None:
    contact_list, _ = ContactList.objects.get_or_create(tenant=tenant, name=report.list_name)
    bar = _bar(progress, "Saving", len(rows))
    now = timezone.now()
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        existing = {
            c.phone: c
            for c in Contact.objects.select_for_update().filter(
                tenant=tenant, phone__in=[r.phone for r in batch]
            )
        }
        new, merged, changed = [], [], []
        for row in batch:
            contact = existing.get(row.phone)
            if contact is None:
                new.append(
                    Contact(
                        tenant=tenant,
                        phone=row.phone,
                        name=row.name,
                        time_zone=row.time_zone or time_zone_for_number(row.phone),
                        variables=row.variables,
                    )
                )
                continue
            merged.append(contact)
            before = (contact.name, contact.time_zone, contact.variables)
            contact.name = row.name or contact.name
            contact.time_zone = row.time_zone or contact.time_zone
            contact.variables = {**(contact.variables or {}), **row.variables}
            if (contact.name, contact.time_zone, contact.variables) != before:
                contact.updated_at = now
                changed.append(contact)  # only these are written: a re-import is cheap
        Contact.objects.bulk_create(new)
        Contact.objects.bulk_update(changed, ["name", "time_zone", "variables", "updated_at"])
        contact_list.contacts.add(*new, *merged)
        report.imported += len(new)
        report.merged += len(merged)
        bar.update(len(batch))
    bar.close()
    report.list_size = contact_list.contacts.count()
    report.not_callable = len(do_not_call.uncallable(tenant.pk, [r.phone for r in rows]))


# ---------------------------------------------------------------- do-not-call numbers


def import_do_not_call(
    tenant: Tenant | None,
    data: bytes,
    *,
    progress: Progress | None = None,
) -> NumberImport:
    """Put the numbers of the CSV file `data` (a `phone` column; `note` optional; other
    columns ignored) on the tenant's do-not-call list, or the global one for None."""
    _, records, empty = _read(data, known=("phone", "note"))
    report = NumberImport(empty_rows=empty)
    numbers: dict[str, str] = {}
    bar = _bar(progress, "Checking", len(records))
    for line, cells in records:
        bar.update(1)
        if isinstance(cells, str):
            report.bad.append(BadRow(line, cells))
            continue
        if not any(cells.values()):
            report.empty_rows += 1
            continue
        try:
            phone = normalize_phone(cells.get("phone", ""))
        except ContactError as exc:
            report.bad.append(BadRow(line, str(exc)))
            continue
        if phone in numbers:
            report.already_listed += 1
        numbers[phone] = cells.get("note", "") or numbers.get(phone, "")
    bar.close()
    try:
        with transaction.atomic():
            added = do_not_call.add_numbers(
                tenant.pk if tenant else None, numbers, source=DoNotCall.Source.IMPORT
            )
    except DatabaseError as exc:
        raise ImportRefused(
            f"The database refused the import ({type(exc).__name__}: {str(exc)[:200]}); "
            "nothing of the file was imported."
        ) from exc
    report.added = added
    report.already_listed += len(numbers) - added
    return report


# ---------------------------------------------------------------- reading the file


def decode(data: bytes) -> str:
    """`data` as text: UTF-8, with or without the byte-order mark Excel writes."""
    if len(data) > MAX_BYTES:
        raise ImportRefused(f"The file is larger than {MAX_BYTES // 2**20} MB; split it.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRefused(
            f"The file is not UTF-8 text (line {line} has the byte 0x{data[exc.start]:02x}). "
            "Save it as 'CSV UTF-8' and import it again."
        ) from None


def _read(
    data: bytes, *, known: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, dict[str, str] | str]], int]:
    """(header names, [(line, {column: value} or why the row is bad)], blank lines). Names in
    `known` match whatever their case ("Phone"); columns without a name are ignored."""
    reader = csv.reader(io.StringIO(decode(data), newline=""), strict=True)
    records = _records(reader)
    blank = 0
    for _, cells in records:
        if any(c.strip() for c in cells):
            break
        blank += 1
    else:
        raise ImportRefused("The file is empty: it needs a header row with a 'phone' column.")
    columns = [c.strip().lower() if c.strip().lower() in known else c.strip() for c in cells]
    named = [c for c in columns if c]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise ImportRefused(f"Columns appear twice in the header: {', '.join(twice)}.")
    if "phone" not in columns:
        raise ImportRefused(
            f"The header has no 'phone' column (it has: {', '.join(named) or 'nothing'})."
        )
    rows: list[tuple[int, dict[str, str] | str]] = []
    for line, cells in records:
        if not cells:
            blank += 1
        elif any(c.strip() for c in cells[len(columns) :]):
            rows.append((line, f"{len(cells)} values, but the header has {len(columns)} columns"))
        else:
            rows.append((line, {n: v.strip() for n, v in zip(columns, cells, strict=False) if n}))
    return columns, rows, blank


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its cells; [] for a blank line)."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRefused(f"The file cannot be read as CSV at line {start}: {exc}.") from None
        yield start, cells


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(progress: Progress | None, label: str, total: int) -> ProgressBar:
    return progress(label, total) if progress else _NoBar()
