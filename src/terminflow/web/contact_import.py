"""CSV import of contacts: upload, map columns to fields, then import chunk by chunk.

Each chunk is one transaction that locks the import row, imports the next rows through the
contact services and moves ``position`` forward, so a chunk asked for twice (two tabs, a
retry) is imported once. Rows that cannot be imported are counted and reported with the reason.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy

from terminflow.contacts import services as contacts
from terminflow.contacts.models import EmailStatus
from terminflow.kit import clock
from terminflow.kit.errors import TerminflowError, Unprocessable
from terminflow.workspaces.models import User, Workspace

from .models import ContactImport, ImportStatus

MAX_BYTES = 20 * 1024 * 1024
CHUNK_ROWS = 250
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


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Unprocessable(gettext_lazy("The file is not text (UTF-8 or Windows-1252)."))


def _header_end(text: str, delimiter: str) -> int:
    stream = io.StringIO(text)
    reader = csv.reader(iter(stream.readline, ""), delimiter=delimiter)
    next(reader, None)
    return stream.tell()


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
    """Store an uploaded CSV and guess its column mapping."""
    if len(raw) > MAX_BYTES:
        raise Unprocessable(
            gettext_lazy("The file is larger than %(value)s MB."), value=MAX_BYTES // (1024 * 1024)
        )
    text = _decode(raw)
    if not text.strip():
        raise Unprocessable(gettext_lazy("The file is empty."))
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [cell.strip() for cell in rows[0]] if rows else []
    data_rows = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not header or not data_rows:
        raise Unprocessable(gettext_lazy("The file needs a header line and at least one contact."))
    field_keys = [f.key for f in contacts.list_fields(workspace)]
    return ContactImport.objects.create(
        workspace=workspace,
        offset=_header_end(text, delimiter),
        line=1,
        created_by=user,
        filename=filename[:255],
        content=text,
        delimiter=delimiter,
        header=header,
        mapping=guess_mapping(header, field_keys),
        total_rows=len(data_rows),
    )


def configure(
    item: ContactImport, *, mapping: dict[str, str], email_status: str, add_tags: list[str]
) -> ContactImport:
    """Fix the mapping and start the import; the email column is required."""
    if item.status != ImportStatus.MAPPING:
        raise Unprocessable(gettext_lazy("This import has already started."))
    field_keys = {f.key for f in contacts.list_fields(item.workspace)}
    targets = [t for t in mapping.values() if t]
    allowed = set(BASE_TARGETS) | {f"field:{key}" for key in field_keys}
    unknown = [t for t in targets if t not in allowed]
    if unknown:
        raise Unprocessable(gettext_lazy("Unknown target: %(value)s."), value=", ".join(unknown))
    if "email" not in targets:
        raise Unprocessable(gettext_lazy("Choose the column that holds the email address."))
    if len(targets) != len(set(targets)):
        raise Unprocessable(gettext_lazy("Each field can take only one column."))
    if email_status not in IMPORT_STATUSES:
        raise Unprocessable(
            gettext_lazy("Imported contacts can only be 'unknown' or 'confirmed (import)'.")
        )
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
        cell = row[i].strip() if i < len(row) else ""
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
        contacts.add_tags(existing, tags, source="import")
    return "updated"


def import_chunk(import_id: int, workspace: Workspace, *, rows: int = CHUNK_ROWS) -> ContactImport:
    """Import the next ``rows`` rows of a running import (one transaction)."""
    with transaction.atomic():
        item = (
            ContactImport.objects.select_for_update()
            .select_related("workspace")
            .get(pk=import_id, workspace=workspace)
        )
        if item.status != ImportStatus.RUNNING:
            return item
        stream = io.StringIO(item.content)
        stream.seek(item.offset)
        # readline keeps tell() usable; csv asks for more lines itself for quoted line breaks.
        reader = csv.reader(iter(stream.readline, ""), delimiter=item.delimiter)
        done = 0
        finished = False
        while done < rows:
            try:
                row = next(reader)
            except StopIteration:
                finished = True
                break
            except csv.Error as exc:
                row, bad = None, str(exc)
            else:
                bad = ""
            line = item.line + reader.line_num
            if row is not None and not any(cell.strip() for cell in row):
                continue
            done += 1
            item.position += 1
            if row is None:
                item.rejected_count += 1
                if len(item.rejected) < REJECTED_KEPT:
                    item.rejected.append({"line": line, "email": "", "reason": bad})
                continue
            values = _values(row, item.mapping)
            try:
                with transaction.atomic():
                    outcome = _import_row(item, values)
            except TerminflowError as exc:
                item.rejected_count += 1
                if len(item.rejected) < REJECTED_KEPT:
                    item.rejected.append(
                        {"line": line, "email": values.get("email", ""), "reason": exc.detail}
                    )
                continue
            if outcome == "created":
                item.created_count += 1
            else:
                item.updated_count += 1
        item.line += reader.line_num
        item.offset = stream.tell()
        if finished or item.offset >= len(item.content) or item.position >= item.total_rows:
            item.status = ImportStatus.DONE
            item.finished_at = clock.now()
        item.save()
        return item


def rejected_csv(item: ContactImport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "email", "reason"])
    for row in item.rejected:
        writer.writerow([row["line"], row["email"], row["reason"]])
    return out.getvalue()
