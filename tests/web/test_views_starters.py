"""Starting from a template: the starter emails and the starter campaign on their list pages."""

from __future__ import annotations

import re

from terminflow.campaigns.models import Campaign
from terminflow.contacts.models import Field
from terminflow.mail.models import EmailTemplate
from tests.etermin.factories import make_account

GERMAN = [
    "Terminbestätigung",
    "Erinnerung 24 Stunden vorher",
    "Nachfassen mit Bitte um Bewertung",
    "Absage bestätigt",
    "Double-Opt-in-Anfrage",
]
ENGLISH = [
    "Appointment confirmation",
    "Reminder 24 hours before",
    "Follow-up asking for a review",
    "Cancellation confirmed",
    "Double opt-in request",
]


def starter_buttons(body: str) -> list[str]:
    return re.findall(r'<button type="submit" data-starter="[^"]+">(.*?)</button>', body)


def test_the_emails_page_offers_the_five_in_the_workspace_language(editor_client) -> None:
    # when
    body = editor_client.get("/emails/").content.decode()
    # then
    assert "Mit einer Vorlage beginnen" in body
    assert starter_buttons(body) == GERMAN
    assert 'action="/emails/starters/doi-request/"' in body
    assert body.count('name="language" value="de"') == 5


def test_the_other_language_is_one_click_away(editor_client) -> None:
    body = editor_client.get("/emails/?starters=en").content.decode()
    assert starter_buttons(body) == ENGLISH
    assert body.count('name="language" value="en"') == 5
    # an unknown language falls back to the workspace's
    assert starter_buttons(editor_client.get("/emails/?starters=fr").content.decode()) == GERMAN


def test_one_click_creates_the_email_and_opens_it(editor_client, workspace) -> None:
    # when
    response = editor_client.post("/emails/starters/reminder-24h/", {"language": "de"})
    # then
    email = EmailTemplate.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/emails/{email.pk}/"
    assert (email.workspace_id, email.name, email.kind) == (
        workspace.pk,
        "Erinnerung 24 Stunden vorher",
        "marketing",
    )
    page = editor_client.get(response["Location"]).content.decode()
    assert (
        "Die E-Mail «Erinnerung 24 Stunden vorher» wurde aus der Vorlage erstellt; passen Sie "
        "sie an Ihr Geschäft an."
    ) in page


def test_an_unknown_starter_is_refused_and_stores_nothing(editor_client) -> None:
    # when
    response = editor_client.post("/emails/starters/newsletter/", {"language": "de"}, follow=True)
    # then
    assert response.redirect_chain == [("/emails/", 302)]
    assert "Es gibt keine Startvorlage «newsletter»." in response.content.decode()
    refused = editor_client.post("/emails/starters/doi-request/", {"language": "fr"}, follow=True)
    assert "In «fr» gibt es keine Startvorlagen" in refused.content.decode()
    assert EmailTemplate.objects.count() == 0


def test_viewers_see_no_starters_and_cannot_create_from_one(viewer_client) -> None:
    # when
    body = viewer_client.get("/emails/").content.decode()
    response = viewer_client.post("/emails/starters/reminder-24h/", {"language": "de"})
    # then
    assert 'data-testid="email-starters"' not in body
    assert response.status_code == 403
    assert EmailTemplate.objects.count() == 0


def test_the_campaigns_page_offers_the_starter_campaign(editor_client, viewer_client) -> None:
    body = editor_client.get("/campaigns/").content.decode()
    assert starter_buttons(body) == ["Termine mit Erinnerung"]
    assert 'action="/campaigns/starters/appointments-with-reminder/"' in body
    assert (
        'data-testid="campaign-starters"' not in viewer_client.get("/campaigns/").content.decode()
    )


def test_one_click_creates_the_campaign_and_opens_the_builder(editor_client, workspace) -> None:
    # given one eTermin account
    make_account(workspace)
    # when
    response = editor_client.post("/campaigns/starters/appointments-with-reminder/")
    # then
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert (campaign.name, campaign.status) == ("Termine mit Erinnerung", "draft")
    assert sorted(EmailTemplate.objects.values_list("name", flat=True)) == [
        "Double-Opt-in-Anfrage",
        "Erinnerung 24 Stunden vorher",
    ]
    page = editor_client.get(response["Location"]).content.decode()
    assert "Die Kampagne «Termine mit Erinnerung» wurde als Entwurf mit ihren E-Mails" in page
    assert 'data-testid="setup-hint"' not in page


def test_without_an_etermin_account_the_builder_says_what_to_set(editor_client) -> None:
    # when
    response = editor_client.post("/campaigns/starters/appointments-with-reminder/", follow=True)
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert (
        'data-testid="setup-hint">Verbinden Sie zuerst ein eTermin-Konto; danach lässt sich diese '
        'Kampagne aktivieren. <a href="/settings/api/etermin/">Einstellungen → API-Info → eTermin'
    ) in body
    assert Campaign.objects.get().status == "draft"


def test_with_several_accounts_the_builder_asks_for_the_account(editor_client, workspace) -> None:
    # given
    make_account(workspace, name="Seefeld", public_key="pub-1")
    make_account(workspace, name="Oerlikon", public_key="pub-2")
    # when
    body = editor_client.post(
        "/campaigns/starters/appointments-with-reminder/", follow=True
    ).content.decode()
    # then
    assert "Wählen Sie in jedem eTermin-Element das eTermin-Konto" in body


def test_viewers_cannot_create_the_starter_campaign(viewer_client) -> None:
    # when
    response = viewer_client.post("/campaigns/starters/appointments-with-reminder/")
    # then
    assert response.status_code == 403
    assert Campaign.objects.count() == 0
    assert EmailTemplate.objects.count() == 0
    assert Field.objects.count() == 0


def test_an_unknown_starter_campaign_is_not_found(editor_client) -> None:
    assert editor_client.post("/campaigns/starters/newsletter/").status_code == 404
    assert Campaign.objects.count() == 0
