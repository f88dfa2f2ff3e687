"""Every page answers 200 to an editor, with the workspace's data and nothing of another's."""

from __future__ import annotations

import pytest
from django.test import Client

from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import save_campaign
from terminflow.contacts.fields import create_field
from terminflow.contacts.notes import add_note
from terminflow.contacts.services import create_contact
from terminflow.mail.services import TemplateData, create_template
from terminflow.web.models import ContactImport, ContactImportRow


@pytest.fixture
def filled(workspace, other_workspace):
    create_field(workspace, key="birthday", type="date", label="Geburtstag")
    anna = create_contact(
        workspace,
        email="anna@example.com",
        first_name="Anna",
        fields={"birthday": "1990-04-01"},
        tags=["vip"],
    )
    add_note(anna, "Kommt immer pünktlich.", source="ui")
    email = create_template(
        workspace,
        TemplateData(
            name="Bestätigung",
            subject="Hallo {{ contact.first_name }}",
            body_html="<p>Hallo {{ contact.first_name }}</p>",
        ),
    )
    campaign, _ = save_campaign(workspace, CampaignIn(name="Buchungen"))
    create_contact(other_workspace, email="foreign@example.com")
    save_campaign(other_workspace, CampaignIn(name="Fremde Kampagne"))
    upload = ContactImport.objects.create(workspace=workspace, header=["email"], total_rows=1)
    ContactImportRow.objects.create(
        contact_import=upload, number=1, line=2, cells=["x@example.com"]
    )
    return {"contact": anna, "email": email, "campaign": campaign, "import": upload}


def pages(filled: dict) -> list[str]:
    contact = filled["contact"].pk
    campaign = filled["campaign"].pk
    return [
        "/",
        "/contacts/",
        "/contacts/new/",
        f"/contacts/{contact}/",
        f"/contacts/{contact}/edit/",
        "/contacts/import/",
        f"/contacts/import/{filled['import'].pk}/",
        "/fields/",
        "/emails/",
        "/emails/new/",
        f"/emails/{filled['email'].pk}/",
        f"/emails/preview/?email_id={filled['email'].pk}",
        "/campaigns/",
        f"/campaigns/{campaign}/",
        f"/campaigns/{campaign}/contacts/",
        f"/campaigns/{campaign}/contacts/{contact}/",
        "/inbox/",
        "/outbox/",
        "/settings/api/",
        "/settings/api/etermin/",
        "/settings/privacy/",
        "/preferences/",
    ]


def test_every_page_answers_200_to_an_editor(editor_client: Client, filled: dict) -> None:
    for path in pages(filled):
        # when
        response = editor_client.get(path)
        # then
        assert response.status_code == 200, path
        body = response.content.decode()
        assert "foreign@example.com" not in body, path
        assert "Fremde Kampagne" not in body, path


def test_every_page_answers_200_to_a_viewer(viewer_client: Client, filled: dict) -> None:
    for path in pages(filled):
        assert viewer_client.get(path).status_code == 200, path


def test_settings_redirects_to_the_etermin_tab(editor_client: Client) -> None:
    # when
    response = editor_client.get("/settings/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/settings/api/etermin/"


def test_pages_speak_german_by_default_and_english_on_request(editor, editor_client) -> None:
    # when
    german = editor_client.get("/contacts/").content.decode()
    editor.language = "en"
    editor.save()
    english = editor_client.get("/contacts/").content.decode()
    # then
    assert '<html lang="de">' in german
    assert "Kontakte" in german
    assert '<html lang="en">' in english
    assert ">Contacts<" in english


def test_dates_show_in_the_users_time_zone(editor, editor_client, workspace) -> None:
    # given a contact created at a known UTC time
    contact = create_contact(workspace, email="zeit@example.com")
    type(contact).objects.filter(pk=contact.pk).update(created_at="2026-07-01T10:00:00+00:00")
    # when the workspace zone (Zurich, UTC+2 in July) and then the user's zone (Tokyo) apply
    zurich = editor_client.get(f"/contacts/{contact.pk}/").content.decode()
    editor.timezone = "Asia/Tokyo"
    editor.save()
    tokyo = editor_client.get(f"/contacts/{contact.pk}/").content.decode()
    # then
    assert "01.07.2026 12:00" in zurich
    assert "01.07.2026 19:00" in tokyo


def test_english_dates_are_day_month_year_and_24_hours(editor, editor_client, workspace) -> None:
    # given a user who reads English and a contact created in the afternoon
    contact = create_contact(workspace, email="zeit@example.com")
    type(contact).objects.filter(pk=contact.pk).update(created_at="2026-12-01T17:00:00+00:00")
    editor.language = "en"
    editor.save()
    # when
    html = editor_client.get(f"/contacts/{contact.pk}/").content.decode()
    # then (Zurich is UTC+1 in December)
    assert "01/12/2026 18:00" in html
    assert "p.m." not in html and "12/01/2026" not in html
