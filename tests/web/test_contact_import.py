"""CSV import: upload, mapping, chunks that each import once, rejected rows with reasons."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from terminflow.contacts.models import Contact
from terminflow.contacts.services import create_contact, create_field, tag_names
from terminflow.web import contact_import
from terminflow.web.models import ContactImport, ImportStatus

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
    foreign = ContactImport.objects.create(
        workspace=other_workspace, content="email\n", header=["email"]
    )
    # then
    assert editor_client.get(f"/contacts/import/{foreign.pk}/").status_code == 404
