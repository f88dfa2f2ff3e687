"""CSV import: upload, mapping, chunks that each import once, rejected rows with reasons."""

from __future__ import annotations

import codecs
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from terminflow.contacts.fields import create_field
from terminflow.contacts.models import Contact, FieldValue
from terminflow.contacts.services import create_contact
from terminflow.contacts.tags import tag_names
from terminflow.web import contact_import
from terminflow.web.models import ContactImport, ContactImportRow, ImportStatus

CSV = (
    "E-Mail;Vorname;Geburtstag;Notiz\n"
    "anna@example.com;Anna;1990-04-01;x\n"
    "\n"
    "kein-email;Fehler;;\n"
    '"ben@example.com";"Ben";"";"zwei\nZeilen"\n'
    "carla@example.com;Carla;gestern;\n"
)


def _upload(client, text: str = CSV, name: str = "kontakte.csv"):
    return client.post(
        "/contacts/import/", {"file": SimpleUploadedFile(name, text.encode("utf-8"))}
    )


def test_upload_guesses_the_mapping(editor_client, workspace) -> None:
    # given
    create_field(workspace, key="geburtstag", type="date", label="Geburtstag")
    # when
    response = _upload(editor_client)
    # then
    item = ContactImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/contacts/import/{item.pk}/"
    assert (item.delimiter, item.header, item.total_rows) == (
        ";",
        ["E-Mail", "Vorname", "Geburtstag", "Notiz"],
        4,
    )
    assert item.mapping == {"0": "email", "1": "first_name", "2": "field:geburtstag"}
    assert Contact.objects.count() == 0


def test_mapping_without_an_email_column_is_refused(editor_client, workspace) -> None:
    # given
    _upload(editor_client)
    item = ContactImport.objects.get()
    # when
    response = editor_client.post(
        f"/contacts/import/{item.pk}/", {"column_0": "", "column_1": "first_name"}
    )
    # then
    item.refresh_from_db()
    assert response.status_code == 422
    assert item.status == ImportStatus.MAPPING


def test_import_runs_in_chunks_and_reports_rejected_rows(editor_client, workspace) -> None:
    # given an existing contact, whose status the import must not change
    create_field(workspace, key="geburtstag", type="date", label="Geburtstag")
    existing = create_contact(workspace, email="anna@example.com", email_status="unsubscribed")
    _upload(editor_client)
    item = ContactImport.objects.get()
    editor_client.post(
        f"/contacts/import/{item.pk}/",
        {
            "column_0": "email",
            "column_1": "first_name",
            "column_2": "field:geburtstag",
            "column_3": "",
            "email_status": "confirmed_import",
            "add_tags": "import-2026",
        },
    )
    # when two chunks of two rows run
    first = contact_import.import_chunk(item.pk, workspace, rows=2)
    assert (first.position, first.status) == (2, ImportStatus.RUNNING)
    second = contact_import.import_chunk(item.pk, workspace, rows=2)
    again = contact_import.import_chunk(item.pk, workspace, rows=2)
    # then
    assert (second.status, second.position) == (ImportStatus.DONE, 4)
    assert (again.created_count, again.updated_count, again.rejected_count) == (1, 1, 2)
    assert [(r["line"], r["email"]) for r in again.rejected] == [
        (4, "kein-email"),
        (7, "carla@example.com"),
    ]
    existing.refresh_from_db()
    assert (existing.first_name, existing.email_status, existing.fields) == (
        "Anna",
        "unsubscribed",
        {"geburtstag": "1990-04-01"},
    )
    assert tag_names(existing) == ["import-2026"]
    ben = Contact.objects.get(email="ben@example.com")
    assert (ben.first_name, ben.email_status) == ("Ben", "confirmed_import")
    assert not Contact.objects.filter(email="carla@example.com").exists()
    # the birthday is in the typed copy segments compare (Ben's was empty)
    assert list(FieldValue.objects.values_list("contact__email", "date", "month_day")) == [
        ("anna@example.com", date(1990, 4, 1), 401)
    ]
    # and the report lists them
    page = editor_client.get(f"/contacts/import/{item.pk}/").content.decode()
    assert "kein-email" in page
    report = editor_client.get(f"/contacts/import/{item.pk}/?format=rejected.csv")
    assert report.content.decode().splitlines()[0] == "line,email,reason"


def test_progress_page_steps_the_import_by_htmx(editor_client, workspace) -> None:
    # given
    _upload(editor_client, "email\nx@example.com\ny@example.com\n")
    item = ContactImport.objects.get()
    editor_client.post(f"/contacts/import/{item.pk}/", {"column_0": "email"})
    # when
    response = editor_client.post(
        f"/contacts/import/{item.pk}/", {"step": "1"}, headers={"HX-Request": "true"}
    )
    # then
    assert response.status_code == 200
    assert "Der Import ist abgeschlossen." in response.content.decode()
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "x@example.com",
        "y@example.com",
    ]


def test_an_empty_or_binary_file_is_refused(editor_client) -> None:
    # when
    empty = _upload(editor_client, "")
    header_only = _upload(editor_client, "email\n")
    # then
    assert empty.status_code == 422
    assert header_only.status_code == 422
    assert ContactImport.objects.count() == 0


def test_another_workspaces_import_is_not_found(editor_client, other_workspace) -> None:
    # given
    foreign = ContactImport.objects.create(workspace=other_workspace, header=["email"])
    # then
    assert editor_client.get(f"/contacts/import/{foreign.pk}/").status_code == 404


def _upload_bytes(client, raw: bytes, name: str = "kontakte.csv"):
    return client.post("/contacts/import/", {"file": SimpleUploadedFile(name, raw)})


def _import_all(client, item: ContactImport, mapping: dict[str, str]) -> ContactImport:
    client.post(f"/contacts/import/{item.pk}/", mapping)
    for _ in range(20):
        client.post(f"/contacts/import/{item.pk}/", {"step": "1"}, headers={"HX-Request": "true"})
        item.refresh_from_db()
        if item.status == ImportStatus.DONE:
            break
    return item


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig", "cp1252"])
def test_excel_unicode_text_and_windows_files_import(editor_client, workspace, encoding) -> None:
    # given Excel's "Unicode text" (UTF-16 with a BOM, tab-separated) and the other encodings
    text = "E-Mail\tVorname\tNachname\r\nzoe@example.com\tZoë\tMüller\r\n"
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = codecs.BOM_UTF16_BE + raw
    # when
    response = _upload_bytes(editor_client, raw)
    item = ContactImport.objects.get()
    done = _import_all(editor_client, item, {"column_0": "email", "column_1": "first_name"})
    # then
    assert response.status_code == 302
    assert (item.delimiter, item.header) == ("\t", ["E-Mail", "Vorname", "Nachname"])
    assert (done.created_count, done.rejected_count) == (1, 0)
    contact = Contact.objects.get()
    assert (contact.email, contact.first_name) == ("zoe@example.com", "Zoë")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00xl/workbook.xml\x00\x00",
            "Die Datei konnte nicht als Text gelesen werden. Speichern Sie sie als "
            "«CSV UTF-8» oder als «Unicode-Text» und laden Sie sie erneut hoch.",
        ),
        (
            b"email;name\nanna@example.com;" + b"x" * 10_001 + b"\n",
            "Zeile 2 enthält eine Zelle mit mehr als 10\u2009000 Zeichen.",
        ),
        (
            b'email;name\nanna@example.com;"' + b"x" * 200_000 + b'"\n',
            "Zeile 2 enthält eine Zelle mit mehr als 10\u2009000 Zeichen.",
        ),
        (
            b"email;"
            + b";".join(b"c%d" % i for i in range(200))
            + b"\na@example.com"
            + b";x" * 200,
            "Zeile 1 hat 201 Spalten; erlaubt sind höchstens 200.",
        ),
    ],
    ids=["xlsx", "long-cell", "cell-over-the-csv-limit", "too-many-columns"],
)
def test_unreadable_or_oversized_files_are_refused_with_the_reason(
    editor_client, raw: bytes, message: str
) -> None:
    # when
    response = _upload_bytes(editor_client, raw)
    # then
    assert response.status_code == 422
    assert message in response.content.decode()
    assert ContactImport.objects.count() == 0
    assert ContactImportRow.objects.count() == 0


def test_too_many_rows_are_refused(editor_client, monkeypatch) -> None:
    # given
    monkeypatch.setattr(contact_import, "MAX_ROWS", 2)
    # when
    response = _upload(editor_client, "email\na@example.com\nb@example.com\nc@example.com\n")
    # then
    assert response.status_code == 422
    assert (
        "Die Datei enthält mehr als 2 Kontakte; teilen Sie sie in kleinere Dateien auf."
        in response.content.decode()
    )
    assert ContactImport.objects.count() == 0


def test_rows_are_stored_once_and_each_chunk_takes_only_its_own(editor_client, workspace) -> None:
    # given an upload: its rows are parsed once, the file itself is not kept
    _upload(editor_client, "email\n" + "".join(f"p{i}@example.com\n" for i in range(5)))
    item = ContactImport.objects.get()
    stored = list(
        ContactImportRow.objects.filter(contact_import=item)
        .order_by("number")
        .values_list("number", "line", "cells")
    )
    assert stored == [(n, n + 1, [f"p{n - 1}@example.com"]) for n in range(1, 6)]
    editor_client.post(f"/contacts/import/{item.pk}/", {"column_0": "email"})
    # when one chunk of two rows runs, in transactions of one row each
    contact_import.LOCK_SECONDS, before = 0.0, contact_import.LOCK_SECONDS
    try:
        first = contact_import.import_chunk(item.pk, workspace, rows=2)
    finally:
        contact_import.LOCK_SECONDS = before
    # then those two rows are imported and gone, the others wait
    assert (first.position, first.created_count, first.status) == (2, 2, ImportStatus.RUNNING)
    assert list(
        ContactImportRow.objects.filter(contact_import=item).values_list("number", flat=True)
    ) == [3, 4, 5]
    rest = contact_import.import_chunk(item.pk, workspace)
    assert (rest.position, rest.created_count, rest.status) == (5, 5, ImportStatus.DONE)
    assert ContactImportRow.objects.count() == 0


def test_a_file_exported_here_imports_back_as_it_was(editor_client, workspace) -> None:
    # given an export line whose name was neutralised against spreadsheet formulas
    text = "email,first_name\nmallory@example.com,'=1+1\n"
    _upload(editor_client, text)
    item = ContactImport.objects.get()
    # when
    _import_all(editor_client, item, {"column_0": "email", "column_1": "first_name"})
    # then
    assert Contact.objects.get().first_name == "=1+1"


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+41", "'+41"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_prefixes_only_formula_starts(cell: str, written: str) -> None:
    assert contact_import.neutralise(cell) == written
