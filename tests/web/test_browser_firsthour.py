"""The first hour of a new user (issue 9) in a real browser: phones and tablets, German on every
page, a builder that guides (wait options, email kinds, several connections, two accounts), and
failures that show where people look. Screenshots land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from terminflow.campaigns.engine import advance_due, fire
from terminflow.campaigns.models import Campaign
from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import activate_campaign, save_campaign
from terminflow.contacts.fields import create_field
from terminflow.contacts.models import Contact, Field
from terminflow.etermin.processing import process_pending
from terminflow.etermin.services import connect_account
from terminflow.mail import services as mail
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Role, Workspace
from tests.etermin.factories import push_body, store_push

from .browser import CHROMIUM, chromium_page, log_in, open_settings, overflow, shot
from .conftest import PASSWORD, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]

PHONE = (390, 844)
TABLET = (768, 1024)
WEB_PO = Path(__file__).resolve().parents[2] / "src/terminflow/web/locale/de/LC_MESSAGES/django.po"
# English words that never belong on a German page (whole words, case-sensitive).
ENGLISH_WORDS = [
    "the",
    "and",
    "not",
    "with",
    "from",
    "Save",
    "Cancel",
    "Failed",
    "Pending",
    "Processed",
    "Created",
    "Deleted",
    "CREATED",
    "MODIFIED",
    "DELETED",
    "Queued",
    "Sent",
    "Settings",
    "Contacts",
    "Campaigns",
    "Loading",
    "Choose",
    "none",
    "Yes",
    "No",
    "Waiting",
    "failed",
    "waiting",
    "entered",
    "completed",
    "skipped",
    "unknown",
    "placeholder",
    "element",
    "field",
    "reachable",
    "matched",
    "active",
    "before",
    "after",
    "days",
    "hours",
    "minutes",
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _english_phrases() -> list[str]:
    """The web catalogue's English messages whose German differs: none may show on a German page."""
    text = WEB_PO.read_text()
    phrases = []
    for block in text.split("\n\n"):
        ids = re.findall(r'^msgid "(.*)"$', block, re.M)
        strs = re.findall(r'^msgstr(?:\[0\])? "(.*)"$', block, re.M)
        if not ids or not strs or not ids[0]:
            continue
        english, german = ids[0], strs[0]
        # Short words (Tag, Status, E-Mail) and placeholders read the same in both languages.
        if english != german and len(english) >= 12 and "%(" not in english and "<" not in english:
            phrases.append(english)
    return phrases


# eTermin's own (English) screen names, quoted so users find them in eTermin.
ETERMIN_NAMES = ["Send Web Push to the following URL", "API & Web Push"]


def _english_on(text: str, phrases: list[str]) -> list[str]:
    for name in ETERMIN_NAMES:
        text = text.replace(name, "")
    found = [p for p in phrases if p in text]
    found += [w for w in ENGLISH_WORDS if re.search(rf"(?<![\w@.-]){re.escape(w)}(?![\w@-])", text)]
    return found


def _practice(workspace: Workspace, *, accounts: int = 1, sandbox: Any = None) -> dict[str, Any]:
    """A practice in Zürich after its first bookings: fields, emails, a campaign, a contact from
    eTermin with consent events, a failed email and pushes in the inbox."""
    editor = make_user("praxis@seefeld.example", workspace, Role.EDITOR)
    create_field(workspace, key="termin_beginn", type="datetime", label="Terminbeginn")
    create_field(workspace, key="termin_ende", type="datetime", label="Terminende")
    create_field(workspace, key="geburtstag", type="date", label="Geburtstag")
    create_field(workspace, key="wohnort", type="text", label="Wohnort")
    made = []
    for n in range(accounts):
        public = f"pub-praxis-{n}"
        if sandbox is not None:
            sandbox.add_account(
                public, f"priv-{n}", calendars=[(211614 + n, f"Behandlung {n + 1}")]
            )
        made.append(
            connect_account(
                workspace,
                name=["Praxis Seefeld", "Praxis Oerlikon"][n],
                public_key=public,
                private_key=f"priv-{n}",
                verify=False,
            )
        )
    doi = mail.create_template(
        workspace,
        mail.TemplateData(
            name="Bitte bestätigen",
            subject="Bitte bestätigen Sie Ihre Adresse",
            body_html='<p>Hallo {{ contact.first_name }}</p><a href="{{ links.confirm }}">Ja</a>',
            kind="doi",
        ),
    )
    reminder = mail.create_template(
        workspace,
        mail.TemplateData(
            name="Erinnerung 24 h",
            subject="Ihr Termin am {{ appointment.start|datetime }}",
            body_html='<p>Bis morgen!</p><a href="{{ links.unsubscribe }}">Abmelden</a>',
            body_text="Bis morgen!",
        ),
    )
    campaign, _ = save_campaign(
        workspace,
        CampaignIn.model_validate(
            {
                "name": "Termin-Erinnerung",
                "status": "active",
                "elements": [
                    {
                        "id": "etermin-1",
                        "type": "etermin.appointment",
                        "config": {
                            "account_id": made[0].pk,
                            "calendar": "all",
                            "event": "created",
                            "start_field": "termin_beginn",
                            "end_field": "termin_ende",
                        },
                        "position": {"x": 80, "y": 40},
                    },
                    {
                        "id": "email-2",
                        "type": "email.doi",
                        "config": {"email_id": doi.pk},
                        "position": {"x": 80, "y": 200},
                    },
                    {
                        "id": "wait-3",
                        "type": "wait.until_field",
                        "config": {"field": "termin_beginn", "offset_minutes": -1440},
                        "position": {"x": 80, "y": 360},
                    },
                    {
                        "id": "email-4",
                        "type": "email.send",
                        "config": {"email_id": reminder.pk},
                        "position": {"x": 80, "y": 520},
                    },
                ],
                "edges": [
                    {"source": "etermin-1", "target": "email-2", "branch": "next"},
                    {"source": "email-2", "target": "wait-3", "branch": "next"},
                    {"source": "wait-3", "target": "email-4", "branch": "next"},
                ],
            }
        ),
    )
    store_push(made[0], push_body("CREATED", "termin-1", email="lea.meier@example.ch"))
    store_push(made[0], push_body("DELETED", "termin-unbekannt", email="max@example.ch"))
    process_pending()
    advance_due()  # the double opt-in email is queued, the wait starts
    lea = Contact.objects.get(email="lea.meier@example.ch")
    Contact.objects.filter(pk=lea.pk).update(phone="+41446681800")
    # The mistake: a marketing email that needs an appointment sent without one.
    nobody = Contact.objects.create(
        workspace=workspace, email="ohne.termin@example.ch", first_name="Ohne"
    )
    failed = mail.queue_email(reminder, nobody)
    return {
        "editor": editor,
        "accounts": made,
        "campaign": campaign,
        "contact": lea,
        "doi": doi,
        "reminder": reminder,
        "failed_email": failed,
    }


def _pages(data: dict[str, Any]) -> dict[str, str]:
    contact = data["contact"].pk
    campaign = data["campaign"].pk
    return {
        "overview": "/",
        "contacts": "/contacts/",
        "contact": f"/contacts/{contact}/",
        "contact-edit": f"/contacts/{contact}/edit/",
        "contact-new": "/contacts/new/",
        "import": "/contacts/import/",
        "fields": "/fields/",
        "emails": "/emails/",
        "email-edit": f"/emails/{data['reminder'].pk}/",
        "campaigns": "/campaigns/",
        "builder": f"/campaigns/{campaign}/",
        "campaign-contacts": f"/campaigns/{campaign}/contacts/",
        "campaign-steps": f"/campaigns/{campaign}/contacts/{contact}/",
        "inbox": "/inbox/",
        "outbox": "/outbox/",
        "outbox-email": f"/outbox/{data['failed_email'].pk}/",
        "settings-api": "/settings/api/",
        "settings-etermin": "/settings/api/etermin/",
        "preferences": "/preferences/",
    }


def _settle(page: Any, name: str) -> None:
    if name == "builder":
        page.locator(".react-flow__node").first.wait_for()
        page.locator('[data-testid="node-stats"]').first.wait_for()
    elif name == "email-edit":
        page.get_by_test_id("preview-subject").or_(page.locator(".alert.error")).first.wait_for()


def test_phone_and_tablet_menu_navigates_and_no_page_scrolls_sideways(
    workspace, terminflow_server_factory
):
    # given a practice with data on every page
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    base = server.url
    for label, size in (("phone", PHONE), ("tablet", TABLET)):
        with chromium_page(viewport=size, touch=True) as page:
            log_in(page, base, data["editor"].email, PASSWORD)
            # when the menu button is tapped
            sidebar = page.locator("#sidebar")
            assert not sidebar.is_visible()
            page.get_by_test_id("menu-button").click()
            page.get_by_test_id("menu-close").click()
            sidebar.wait_for(state="hidden")
            page.get_by_test_id("menu-button").click()
            # then the drawer opens over the page and navigates
            sidebar.get_by_role("link", name="Kontakte").wait_for(state="visible")
            assert page.get_by_test_id("menu-button").get_attribute("aria-expanded") == "true"
            page.wait_for_timeout(300)  # the drawer slides in
            shot(page, f"40-{label}-menu-open", full_page=False)
            sidebar.get_by_role("link", name="Kontakte").click()
            page.wait_for_url(base + "/contacts/")
            assert not sidebar.is_visible()
            # and no page is wider than the screen
            wide = {}
            for name, path in _pages(data).items():
                page.goto(base + path)
                _settle(page, name)
                if overflow(page) > 0:
                    wide[name] = overflow(page)
                if name in ("overview", "contact", "inbox", "outbox", "builder", "fields"):
                    shot(page, f"41-{label}-{name}")
            assert wide == {}


def test_builder_on_a_tablet_pans_zooms_and_opens_settings(workspace, terminflow_server_factory):
    # given
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    with chromium_page(viewport=TABLET, touch=True) as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        page.goto(server.url + f"/campaigns/{data['campaign'].pk}/")
        node = page.locator('.react-flow__node[data-id="wait-3"]')
        node.wait_for()
        # when the zoom buttons are tapped
        before = node.bounding_box()["width"]
        page.locator(".react-flow__controls-zoomin").click()
        page.wait_for_timeout(300)
        # then the elements grow, and the settings open by tapping the element's button
        assert node.bounding_box()["width"] > before
        node.locator(".tf-node-open").click()
        modal = page.locator(".tf-modal")
        modal.wait_for()
        assert modal.locator("#tf-cfg-field").input_value() == "termin_beginn"
        assert overflow(page) == 0
        shot(page, "42-tablet-builder-settings")
        # and with a long name the toolbar keeps its buttons on one line
        modal.get_by_role("button", name="Abbrechen").click()
        page.get_by_label("Name der Kampagne").fill(
            "Erinnerung 24 Stunden vor dem Termin für alle Kalender der Praxis Seefeld"
        )
        tops = page.locator(".tf-actions > button").evaluate_all(
            "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
        )
        assert len(set(tops)) == 1
        assert overflow(page) == 0
        shot(page, "43-tablet-builder-long-name")


def test_every_page_speaks_german_with_data_errors_and_reasons(
    workspace, terminflow_server_factory
):
    # given a practice whose inbox, outbox and steps hold failures and reasons
    data = _practice(workspace)
    assert Outbox.objects.get(pk=data["failed_email"].pk).status == "failed"
    server = terminflow_server_factory(embedded_worker=False)
    phrases = _english_phrases()
    found: dict[str, list[str]] = {}
    with chromium_page() as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        for name, path in _pages(data).items():
            # when each page is shown in German
            page.goto(server.url + path)
            _settle(page, name)
            if name == "builder":
                open_settings(page, "wait-3", page.locator(".tf-modal"))
            if name == "outbox":
                page.get_by_test_id("outbox-row").first.locator("summary").click()
                page.get_by_test_id("outbox-email").wait_for()
            text = page.locator("body").inner_text()
            # then no English message or word shows
            english = _english_on(text, phrases)
            if english:
                found[name] = english
            shot(page, f"50-de-{name}")
    assert found == {}


def test_wait_options_and_email_kinds_in_the_builder(workspace, terminflow_server_factory):
    # given
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    campaign = data["campaign"]
    with chromium_page() as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        page.goto(server.url + f"/campaigns/{campaign.pk}/")
        wait = page.locator('.react-flow__node[data-id="wait-3"]')
        wait.wait_for()
        # then the stored -1440 reads as a day before
        assert "Terminbeginn · 1 Tag vorher" in wait.inner_text()
        # when the wait is opened: only date and datetime fields are offered
        modal = page.locator(".tf-modal")
        open_settings(page, "wait-3", modal.locator("#tf-cfg-field"), double_click=True)
        options = modal.locator("#tf-cfg-field option").all_inner_texts()
        assert options == ["Auswählen…", "Terminbeginn", "Terminende", "Geburtstag"]
        assert modal.locator('input[name="direction"][value="before"]').is_checked()
        assert modal.locator("#tf-offset-amount").input_value() == "1"
        assert modal.locator("#tf-offset-unit").input_value() == "days"
        shot(page, "60-builder-wait-options")
        # when it becomes 3 hours before
        modal.locator("#tf-offset-amount").fill("3")
        modal.locator("#tf-offset-unit").select_option("hours")
        modal.get_by_role("button", name="Übernehmen").click()
        modal.wait_for(state="detached")
        assert "Terminbeginn · 3 Stunden vorher" in wait.inner_text()
        # and the email elements offer only their kind
        open_settings(page, "email-2", modal.locator("#tf-cfg-email_id"))
        assert modal.locator("#tf-cfg-email_id option").all_inner_texts() == [
            "Auswählen…",
            "Bitte bestätigen",
        ]
        modal.get_by_role("button", name="Abbrechen").click()
        modal.wait_for(state="detached")
        open_settings(page, "email-4", modal.locator("#tf-cfg-email_id"))
        assert modal.locator("#tf-cfg-email_id option").all_inner_texts() == [
            "Auswählen…",
            "Erinnerung 24 h",
        ]
        modal.get_by_role("button", name="Abbrechen").click()
        page.get_by_test_id("save").click()
        page.get_by_test_id("notice").wait_for()
        # then the offset is stored in minutes
        stored = Campaign.objects.get(pk=campaign.pk).elements.get(key="wait-3").config
        assert stored["offset_minutes"] == -180


def test_one_output_leads_to_two_elements_with_arrows_and_arrange_separates(
    workspace, terminflow_server_factory
):
    # given
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    campaign = data["campaign"]
    with chromium_page() as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        page.goto(server.url + f"/campaigns/{campaign.pk}/")
        page.locator(".react-flow__node").first.wait_for()
        # when a tag element is added and the trigger's one output is connected to it as well
        page.locator('.tf-palette-item[data-type="contact.tag"]').click()
        tag = page.locator('.react-flow__node[data-id="contact-5"]')
        tag.wait_for()
        open_settings(page, "contact-5", page.locator("#tf-cfg-add"))
        page.locator("#tf-cfg-add").fill("gebucht")
        page.get_by_role("button", name="Übernehmen").click()
        page.get_by_test_id("arrange").click()
        page.wait_for_timeout(400)
        source = page.locator(
            '.react-flow__node[data-id="etermin-1"] .react-flow__handle.source'
        ).bounding_box()
        target = page.locator(
            '.react-flow__node[data-id="contact-5"] .react-flow__handle.target'
        ).bounding_box()
        page.mouse.move(source["x"] + 5, source["y"] + 5)
        page.mouse.down()
        page.mouse.move(target["x"] + 5, target["y"] + 5, steps=12)
        page.mouse.up()
        # then both connections stay, each with an arrowhead
        assert page.locator(".react-flow__edge").count() == 4
        assert page.locator(".react-flow__edge path[marker-end]").count() == 4
        page.get_by_test_id("arrange").click()
        page.wait_for_timeout(400)
        boxes = page.locator(".react-flow__node").evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom]; })"
        )
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
        shot(page, "61-builder-two-connections-arranged")
        page.get_by_test_id("save").click()
        page.get_by_test_id("notice").filter(has_text="Gespeichert").wait_for()
        edges = set(
            Campaign.objects.get(pk=campaign.pk).edges.values_list("source__key", "target__key")
        )
        assert {("etermin-1", "email-2"), ("etermin-1", "contact-5")} <= edges


def test_saving_warns_about_an_email_that_will_fail_and_names_the_element(
    workspace, terminflow_server_factory
):
    # given a marketing email that needs an appointment, behind a trigger that has none
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    campaign, _ = save_campaign(
        workspace,
        CampaignIn.model_validate(
            {
                "name": "Nach der Bestätigung",
                "elements": [
                    {
                        "id": "contact-1",
                        "type": "contact.doi_confirmed",
                        "config": {},
                        "position": {"x": 80, "y": 40},
                    },
                    {
                        "id": "email-2",
                        "type": "email.send",
                        "config": {"email_id": data["reminder"].pk},
                        "position": {"x": 80, "y": 220},
                    },
                ],
                "edges": [{"source": "contact-1", "target": "email-2", "branch": "next"}],
            }
        ),
    )
    with chromium_page() as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        page.goto(server.url + f"/campaigns/{campaign.pk}/")
        page.locator(".react-flow__node").first.wait_for()
        # when it is saved
        page.get_by_test_id("save").click()
        notice = page.get_by_test_id("notice")
        notice.wait_for()
        shot(page, "62-builder-save-warning")
        # then the warning names the element by its label and its email, never by its id
        assert notice.get_attribute("data-kind") == "warning"
        text = notice.inner_text()
        assert "E-Mail senden «Erinnerung 24 h»" in text
        assert "email-2" not in text
        assert "appointment" in text or "Termin" in text

        # when the campaign runs anyway and a confirmed contact reaches the email
        activate_campaign(Campaign.objects.get(pk=campaign.pk))
        anna = Contact.objects.create(
            workspace=workspace, email="anna@example.ch", email_status="confirmed_doi"
        )
        fire(workspace, "contact.doi_confirmed", anna)
        advance_due()
        page.goto(server.url + f"/campaigns/{campaign.pk}/")
        # then the element shows its failure with the reason
        failures = page.locator(
            '.react-flow__node[data-id="email-2"] [data-testid="node-failures"]'
        )
        failures.wait_for()
        assert "appointment" in failures.inner_text() or "Termin" in failures.inner_text()
        shot(page, "63-builder-element-failures")


def test_two_accounts_the_element_must_name_its_account(
    workspace, etermin_sandbox, terminflow_server_factory
):
    # given two connected accounts and a new eTermin element
    data = _practice(workspace, accounts=2, sandbox=etermin_sandbox)
    server = terminflow_server_factory(embedded_worker=False)
    campaign, _ = save_campaign(workspace, CampaignIn(name="Zwei Praxen"))
    with chromium_page() as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        page.goto(server.url + f"/campaigns/{campaign.pk}/")
        page.locator(".tf-palette").wait_for()
        page.locator('.tf-palette-item[data-type="etermin.appointment"]').click()
        node = page.locator('.react-flow__node[data-id="etermin-1"]')
        modal = page.locator(".tf-modal")
        open_settings(page, "etermin-1", modal)
        # when applied without choosing an account
        modal.get_by_role("button", name="Übernehmen").click()
        # then the dialog asks for it and stays open
        assert (
            modal.get_by_test_id("dialog-problem").inner_text() == "Wählen Sie das eTermin-Konto."
        )
        # when the second account is chosen, its calendars load
        second = data["accounts"][1]
        modal.locator("#tf-et-account").select_option(str(second.pk))
        modal.locator('#tf-et-calendar option[value="211615"]').wait_for(state="attached")
        modal.locator("#tf-et-calendar").select_option("211615")
        shot(page, "67-builder-two-accounts")
        modal.get_by_role("button", name="Übernehmen").click()
        # then the element names its account and calendar
        assert "Praxis Oerlikon · Termin erstellt · Behandlung 2" in node.inner_text()
        page.get_by_test_id("save").click()
        page.get_by_test_id("notice").wait_for()
    # and stores that account
    config = Campaign.objects.get(pk=campaign.pk).elements.get(key="etermin-1").config
    assert (config["account_id"], config["calendar"]) == (second.pk, 211615)


def test_with_one_account_the_element_still_stores_it(workspace, terminflow_server_factory):
    # given one account and a new eTermin element
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    campaign, _ = save_campaign(workspace, CampaignIn(name="Eine Praxis"))
    with chromium_page() as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        page.goto(server.url + f"/campaigns/{campaign.pk}/")
        page.locator(".tf-palette").wait_for()
        page.locator('.tf-palette-item[data-type="etermin.appointment"]').click()
        modal = page.locator(".tf-modal")
        open_settings(page, "etermin-1", modal)
        # then no account is asked for
        assert modal.locator("#tf-et-account").count() == 0
        modal.get_by_role("button", name="Übernehmen").click()
        page.get_by_test_id("save").click()
        page.get_by_test_id("notice").wait_for()
    # and the only account is stored anyway
    config = Campaign.objects.get(pk=campaign.pk).elements.get(key="etermin-1").config
    assert config["account_id"] == data["accounts"][0].pk


def test_overview_and_outbox_show_the_failed_email_with_its_reason(
    workspace, terminflow_server_factory
):
    # given
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    with chromium_page() as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        # when the overview shows the failed email, and its link is followed
        card = page.get_by_test_id("failed-emails")
        assert card.locator(".stat").inner_text() == "1"
        shot(page, "64-overview-failures")
        card.click()
        page.wait_for_url(re.compile(r".*/outbox/\?status=failed&days=7"))
        # then the outbox lists it, and the row opens the rendered email
        rows = page.get_by_test_id("outbox-row")
        assert rows.count() == 1
        rows.first.locator("summary").click()
        email = page.get_by_test_id("outbox-email")
        email.wait_for()
        # with the stored reason in the reader's language
        assert data["failed_email"].reason == (
            "Template error in subject, line 1: unknown placeholder 'appointment'"
        )
        assert (
            "Fehlgeschlagen Vorlagenfehler in subject, Zeile 1: "
            "unbekannter Platzhalter 'appointment'"
        ) in email.inner_text()
        shot(page, "65-outbox-email-open")


def test_fields_page_makes_the_key_from_the_label_and_saves_once(
    workspace, terminflow_server_factory
):
    # given
    data = _practice(workspace)
    server = terminflow_server_factory(embedded_worker=False)
    with chromium_page(viewport=PHONE, touch=True) as page:
        log_in(page, server.url, data["editor"].email, PASSWORD)
        page.goto(server.url + "/fields/")
        # when a label is changed and a new field is typed
        page.get_by_test_id("field-label-wohnort").fill("Ort")
        page.locator("#id_new-label").fill("Nächster Termin")
        # then the key follows the label until it is edited by hand
        assert page.locator("#id_new-key").input_value() == "naechster_termin"
        page.locator("#id_new-key").fill("termin_2")
        page.locator("#id_new-label").fill("Nächster Termin (Praxis)")
        assert page.locator("#id_new-key").input_value() == "termin_2"
        page.locator("#id_new-type").select_option("datetime")
        shot(page, "66-phone-fields-new")
        # when the page is saved once
        page.get_by_test_id("fields-save").click()
        page.locator(".message").first.wait_for()
        # then both changes are stored
        stored = dict(Field.objects.filter(workspace=workspace).values_list("key", "label"))
        assert stored["wohnort"] == "Ort"
        assert stored["termin_2"] == "Nächster Termin (Praxis)"
        # when a delete is asked for and the question is declined, then accepted
        delete = page.locator('button[form="delete-field-geburtstag"]')
        page.once("dialog", lambda dialog: dialog.dismiss())
        delete.click()
        page.wait_for_timeout(300)
        assert Field.objects.filter(workspace=workspace, key="geburtstag").exists()
        page.once("dialog", lambda dialog: dialog.accept())
        delete.click()
        page.locator(".message").first.wait_for()
        assert not Field.objects.filter(workspace=workspace, key="geburtstag").exists()
