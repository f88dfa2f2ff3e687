"""CSV import of contacts: upload, map columns to fields, then import chunk by chunk.

The file is read once, at upload: decoded (UTF-8, Windows-1252, or Excel's "Unicode text",
UTF-16 with a byte order mark), checked against the limits below and stored as one row per
contact (``ContactImportRow``). Each chunk then imports the next rows in short transactions
that lock the import, import rows through the contact services for at most ``LOCK_SECONDS``,
move ``position`` forward and delete the rows done; so a chunk asked for twice (two tabs, a
retry) imports each row once, and the database's write lock is never held for long (web pushes
wait for it). Rows that cannot be imported are counted and reported with the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import time
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from terminflow.contacts import fields as contact_fields
from terminflow.contacts import services as contacts
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import EmailStatus
from terminflow.kit import clock
from terminflow.kit.errors import TerminflowError, Unprocessable
from terminflow.workspaces.models import User, Workspace

from .models import ContactImport, ContactImportRow, ImportStatus

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 200
MAX_CELL_CHARS = 10_000
CHUNK_ROWS = 250
# One transaction of a chunk imports rows for about this long, then lets other writers in.
LOCK_SECONDS = 0.01
# The pause between two of a chunk's transactions on SQLite, so other writers get the lock.
YIELD_SECONDS = 0.001
# Rows read per query inside a chunk's transaction.
READ_ROWS = 50
# Rows stored per transaction at upload.
STORE_ROWS = 250
REJECTED_KEPT = 1000
BASE_TARGETS = ("email", "first_name", "last_name", "phone", "tags")
# Statuses an import may give new contacts; confirmations need their own evidence.
IMPORT_STATUSES = (EmailStatus.UNKNOWN, EmailStatus.CONFIRMED_IMPORT)
_GUESSES = {
    "email": {"email", "e-mail", "mail", "email address", "e-mail-adresse", "emailadresse"},
    "first_name": {"first_name", "firstname", "first name", "vorname"},
    "last_name": {"last_name", "lastname", "last name", "nachname", "name"},
    "phone": {"phone", "telephone", "telefon", "mobile", "handy", "tel"},
    "tags": {"tags", "tag"},
}
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs: a leading ``'`` before a formula start."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _restore(cell: str) -> str:
    """Undo ``neutralise``, so a file exported here imports back as it was."""
    if len(cell) > 1 and cell[0] == "'" and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def _unreadable() -> Unprocessable:
    return Unprocessable(
        _(
            "The file could not be read as text. Save it as “CSV UTF-8” or as "
            "“Unicode text” and upload it again."
        )
    )


def _encodings(raw: bytes) -> list[str]:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]  # Excel's "Unicode text"; the BOM says the byte order
    if raw.startswith(codecs.BOM_UTF8):
        return ["utf-8-sig"]
    head = raw[:4096]
    if len(head) >= 4 and head.count(0) * 3 >= len(head):
        # UTF-16 without a BOM: every other byte of Latin text is zero.
        return ["utf-16-le"] if head[1] == 0 else ["utf-16-be"]
    return ["utf-8", "cp1252"]


def _decode(raw: bytes) -> str:
    for encoding in _encodings(raw):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        # Windows-1252 reads almost any bytes; a NUL says they were never text (a spreadsheet
        # file, a zip, a picture).
        if "\x00" in text:
            break
        return text
    raise _unreadable()


def _parse(text: str, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-empty data rows with the line each starts on; checks limits."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _cell_too_long(reader.line_num) from None
            raise Unprocessable(
                _("Line %(line)s could not be read: %(error)s")
                % {"line": reader.line_num, "error": exc}
            ) from None
        if len(row) > MAX_COLUMNS:
            raise Unprocessable(
                _("Line %(line)s has %(count)s columns; at most %(limit)s are allowed.")
                % {"line": line, "count": len(row), "limit": MAX_COLUMNS}
            )
        for cell in row:
            if len(cell) > MAX_CELL_CHARS:
                raise _cell_too_long(line)
        if header is None:
            header = [cell.strip() for cell in row]
        elif any(cell.strip() for cell in row):
            rows.append((line, row))
            if len(rows) > MAX_ROWS:
                raise Unprocessable(
                    _("The file has more than %(limit)s contacts; split it into smaller files.")
                    % {"limit": f"{MAX_ROWS:,}".replace(",", "\u2009")}
                )
        line = reader.line_num + 1
    return header or [], rows


def _cell_too_long(line: int) -> Unprocessable:
    return Unprocessable(
        _("Line %(line)s has a cell longer than %(limit)s characters.")
        % {"line": line, "limit": f"{MAX_CELL_CHARS:,}".replace(",", "\u2009")}
    )


def guess_mapping(header: list[str], field_keys: list[str]) -> dict[str, str]:
    """A first mapping from the column titles, for the user to correct."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, title in enumerate(header):
        name = title.strip().lower()
        target = next((t for t, names in _GUESSES.items() if name in names), None)
        if target is None and name in field_keys:
            target = f"field:{name}"
        if target and target not in taken:
            mapping[str(index)] = target
            taken.add(target)
    return mapping


def start_import(
    workspace: Workspace, user: User | None, *, filename: str, raw: bytes
) -> ContactImport:
    """Read an uploaded CSV once, store its rows and guess its column mapping."""
    if len(raw) > MAX_BYTES:
        raise Unprocessable(
            _("The file is larger than %(size)s MB.") % {"size": MAX_BYTES // (1024 * 1024)}
        )
    text = _decode(raw)
    if not text.strip():
        raise Unprocessable(_("The file is empty."))
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    header, rows = _parse(text, delimiter)
    if not header or not rows:
        raise Unprocessable(_("The file needs a header line and at least one contact."))
    field_keys = [f.key for f in contact_fields.list_fields(workspace)]
    item = ContactImport.objects.create(
        workspace=workspace,
        created_by=user,
        filename=filename[:255],
        delimiter=delimiter,
        header=header,
        mapping=guess_mapping(header, field_keys),
        status=ImportStatus.UPLOADING,
    )
    # In slices, each its own short transaction, so a large file does not hold the write lock
    # for as long as storing all of it takes; the import shows up only once it is complete.
    for start in range(0, len(rows), STORE_ROWS):
        with transaction.atomic():
            ContactImportRow.objects.bulk_create(
                [
                    ContactImportRow(contact_import=item, number=number, line=line, cells=cells)
                    for number, (line, cells) in enumerate(
                        rows[start : start + STORE_ROWS], start + 1
                    )
                ]
            )
    item.total_rows = len(rows)
    item.status = ImportStatus.MAPPING
    item.save(update_fields=["total_rows", "status"])
    return item


def configure(
    item: ContactImport, *, mapping: dict[str, str], email_status: str, add_tags: list[str]
) -> ContactImport:
    """Fix the mapping and start the import; the email column is required."""
    if item.status != ImportStatus.MAPPING:
        raise Unprocessable(_("This import has already started."))
    field_keys = {f.key for f in contact_fields.list_fields(item.workspace)}
    targets = [t for t in mapping.values() if t]
    allowed = set(BASE_TARGETS) | {f"field:{key}" for key in field_keys}
    unknown = [t for t in targets if t not in allowed]
    if unknown:
        raise Unprocessable(_("Unknown target: %(targets)s.") % {"targets": ", ".join(unknown)})
    if "email" not in targets:
        raise Unprocessable(_("Choose the column that holds the email address."))
    if len(targets) != len(set(targets)):
        raise Unprocessable(_("Each field can take only one column."))
    if email_status not in IMPORT_STATUSES:
        raise Unprocessable(_("Imported contacts can only be 'unknown' or 'confirmed (import)'."))
    item.mapping = {k: v for k, v in mapping.items() if v}
    item.email_status = email_status
    item.add_tags = [t.strip() for t in add_tags if t.strip()]
    item.status = ImportStatus.RUNNING
    item.save(update_fields=["mapping", "email_status", "add_tags", "status"])
    return item


def _values(row: list[str], mapping: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"fields": {}}
    for index, target in mapping.items():
        i = int(index)
        cell = _restore(row[i].strip()) if i < len(row) else ""
        if target.startswith("field:"):
            if cell:
                values["fields"][target[6:]] = cell
        elif target == "tags":
            values["tags"] = [t.strip() for t in cell.replace(";", ",").split(",") if t.strip()]
        else:
            values[target] = cell
    return values


def _import_row(item: ContactImport, values: dict[str, Any]) -> str:
    workspace = item.workspace
    email = values.get("email", "")
    tags = [*values.get("tags", []), *item.add_tags]
    existing = contacts.find_contact(workspace, email) if email else None
    if existing is None:
        contacts.create_contact(
            workspace,
            email=email,
            first_name=values.get("first_name", ""),
            last_name=values.get("last_name", ""),
            phone=values.get("phone", ""),
            email_status=item.email_status,
            fields=values["fields"] or None,
            tags=tags or None,
            source="import",
        )
        return "created"
    # An import fills in and adds; it never changes an existing contact's email status.
    changes: dict[str, Any] = {
        k: values[k] for k in ("first_name", "last_name", "phone") if values.get(k)
    }
    if values["fields"]:
        changes["fields"] = values["fields"]
    if changes:
        contacts.update_contact(existing, source="import", **changes)
    if tags:
        contact_tags.add_tags(existing, tags, source="import")
    return "updated"


def import_chunk(import_id: int, workspace: Workspace, *, rows: int = CHUNK_ROWS) -> ContactImport:
    """Import up to the next ``rows`` rows of a running import, in short transactions."""
    item = ContactImport.objects.get(pk=import_id, workspace=workspace)
    done = 0
    while done < rows and item.status == ImportStatus.RUNNING:
        if done and connection.vendor == "sqlite":
            # The lock was free only between a commit and the next BEGIN, microseconds; other
            # writers ask for it every 0.5 ms (kit/sqlite), so leave them a moment to get in.
            time.sleep(YIELD_SECONDS)  # noqa: TID251 (letting other writers in, not a job)
        item, imported = _import_some(import_id, workspace, rows - done)
        if not imported:
            break
        done += imported
    return item


def _import_some(import_id: int, workspace: Workspace, most: int) -> tuple[ContactImport, int]:
    """One transaction: lock the import, import rows for about ``LOCK_SECONDS``, move on."""
    with transaction.atomic():
        item = (
            ContactImport.objects.select_for_update()
            .select_related("workspace")
            .get(pk=import_id, workspace=workspace)
        )
        if item.status != ImportStatus.RUNNING:
            return item, 0
        started = time.monotonic()
        rejected_before = item.rejected_count
        done = 0
        # At least one row per transaction, however slow, so every transaction moves on.
        while done < most and (not done or time.monotonic() - started < LOCK_SECONDS):
            batch = list(
                ContactImportRow.objects.filter(contact_import=item, number__gt=item.position)
                .order_by("number")
                .values_list("number", "line", "cells")[: min(READ_ROWS, most - done)]
            )
            if not batch:
                break
            for number, line, cells in batch:
                _import_one(item, line, cells)
                item.position = number
                done += 1
                if done >= most or time.monotonic() - started >= LOCK_SECONDS:
                    break
        ContactImportRow.objects.filter(contact_import=item, number__lte=item.position).delete()
        fields = ["position", "created_count", "updated_count", "rejected_count"]
        if item.rejected_count != rejected_before:
            fields.append("rejected")
        if not ContactImportRow.objects.filter(contact_import=item).exists():
            item.status = ImportStatus.DONE
            item.finished_at = clock.now()
            fields += ["status", "finished_at"]
        item.save(update_fields=fields)
    return item, done


def _import_one(item: ContactImport, line: int, cells: list[str]) -> None:
    values = _values(cells, item.mapping)
    try:
        with transaction.atomic():
            outcome = _import_row(item, values)
    except TerminflowError as exc:
        item.rejected_count += 1
        if len(item.rejected) < REJECTED_KEPT:
            item.rejected.append(
                {"line": line, "email": values.get("email", ""), "reason": exc.detail}
            )
        return
    if outcome == "created":
        item.created_count += 1
    else:
        item.updated_count += 1


def rejected_csv(item: ContactImport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "email", "reason"])
    for row in item.rejected:
        writer.writerow([row["line"], neutralise(str(row["email"])), neutralise(row["reason"])])
    return out.getvalue()
