"""email.send and email.doi driven by the real campaign engine, delivered to a real SMTP server."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from terminflow.campaigns import engine, registry
from terminflow.campaigns.models import Campaign, Run
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentEvent, Contact
from terminflow.mail import sending
from terminflow.mail.elements import DOI_REQUIRED
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.workspaces.models import Workspace
from tests.campaigns.factories import edge, element, make_campaign
from tests.fixtures.smtp import Received, SmtpServer

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def on_tag(
    tag: str, action: str, email: EmailTemplate, *, name: str, then: list[dict[str, Any]] = ()
) -> Campaign:  # type: ignore[assignment]
    elements = [
        element("start", "contact.tag_added", tag=tag),
        element("mail", action, email_id=email.pk),
    ]
    edges = [edge("start", "mail")]
    previous = "mail"
    for item in then:
        elements.append(item)
        edges.append(edge(previous, item["id"]))
        previous = item["id"]
    return make_campaign(email.workspace, elements, edges, name=name)


def run_state(campaign: Campaign, contact: Contact, key: str) -> tuple[str, str]:
    run = Run.objects.get(campaign=campaign, contact=contact, element__key=key)
    return run.status, run.reason


def work() -> None:
    """What the worker does: move runs, then send what they queued."""
    while engine.advance_due():
        pass
    while sending.send_due():
        pass


def link(message: Received, kind: str) -> str:
    found = re.search(rf"http://testserver(/mail/{kind}/[^\s)]+/)", message.part("text/plain"))
    assert found is not None, message.part("text/plain")
    return found.group(1)


def test_element_types_carry_the_marketing_and_doi_flags() -> None:
    send, doi = registry.get("email.send"), registry.get("email.doi")

    assert (send.kind, send.marketing, send.doi) == ("action", True, False)
    assert (doi.kind, doi.marketing, doi.doi) == ("action", False, True)


def test_saving_a_campaign_checks_the_email_exists_and_has_the_right_kind(
    workspace: Workspace,
) -> None:
    doi = make_email(workspace, "doi")
    send = registry.get("email.send")

    assert send.check(workspace, send.config_schema(email_id=doi.pk), None) == [
        f"email {doi.pk} is not a marketing email"
    ]
    assert send.check(workspace, send.config_schema(email_id=999_999), None) == [
        "email 999999 does not exist"
    ]


def test_double_opt_in_then_marketing_then_one_click_unsubscribe(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    with time_machine.travel(T0, tick=False):
        doi = make_email(
            workspace,
            "doi",
            subject="Bitte bestätigen Sie Ihre Adresse",
            body_html='<p>Hallo {{ contact.first_name }}</p><a href="{{ links.confirm }}">Ja</a>',
        )
        news = make_email(workspace, "marketing", subject="Neuigkeiten", name="news")
        on_tag("kunde", "email.doi", doi, name="Anmeldung")
        welcome = make_campaign(
            workspace,
            [
                element("ok", "contact.doi_confirmed"),
                element("mail", "email.send", email_id=news.pk),
            ],
            [edge("ok", "mail")],
            name="Willkommen",
        )
        later = on_tag("news", "email.send", news, name="Newsletter")
        contact = make_contact(workspace, status="confirmed_soi")

        contact_tags.add_tags(contact, ["kunde"])
        work()

        [doi_mail] = smtp.messages
        assert doi_mail.message["Subject"] == "Bitte bestätigen Sie Ihre Adresse"
        assert doi_mail.message["List-Unsubscribe"] is None
        confirm = link(doi_mail, "confirm")

        assert Client().get(confirm).status_code == 200
        work()
        assert Contact.objects.get(pk=contact.pk).email_status == "confirmed_soi"
        assert len(smtp.messages) == 1

        assert Client().post(confirm).status_code == 200
        assert Contact.objects.get(pk=contact.pk).email_status == "confirmed_doi"
        work()

        [_, welcome_mail] = smtp.messages
        assert run_state(welcome, contact, "mail") == ("completed", "")
        assert welcome_mail.message["Subject"] == "Neuigkeiten"
        assert welcome_mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        one_click = welcome_mail.message["List-Unsubscribe"].removeprefix("<http://testserver")
        response = Client().post(one_click.removesuffix(">"), {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        assert Contact.objects.get(pk=contact.pk).email_status == "unsubscribed"

        contact_tags.add_tags(contact, ["news"])
        work()

    assert run_state(later, contact, "mail") == ("skipped", "contact is unsubscribed: no email")
    assert len(smtp.messages) == 2
    assert list(
        ConsentEvent.objects.filter(contact=contact).order_by("id").values_list("kind", flat=True)
    ) == ["soi", "doi_requested", "doi_sent", "doi_confirmed", "unsubscribed"]
    sent = ConsentEvent.objects.get(contact=contact, kind="doi_sent")
    assert sent.details == {"message_id": doi_mail.message["Message-ID"]}


def test_marketing_email_skips_contacts_without_double_opt_in_and_the_flow_goes_on(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    with time_machine.travel(T0, tick=False):
        news = make_email(workspace, "marketing")
        campaign = on_tag(
            "news",
            "email.send",
            news,
            name="News",
            then=[element("tag", "contact.tag", add=["weiter"])],
        )
        contact = make_contact(workspace, status="confirmed_soi")

        contact_tags.add_tags(contact, ["news"])
        work()

    assert run_state(campaign, contact, "mail") == ("skipped", DOI_REQUIRED)
    assert run_state(campaign, contact, "tag")[0] == "completed"
    assert "weiter" in contact_tags.tag_names(contact)
    assert Outbox.objects.count() == 0
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("status", "queued", "reason"),
    [
        ("unknown", True, ""),
        ("confirmed_soi", True, ""),
        ("confirmed_manual", True, ""),
        ("confirmed_import", True, ""),
        ("confirmed_doi", False, "already confirmed by double opt-in"),
        ("unsubscribed", False, "contact is unsubscribed: no email"),
        ("spam", False, "contact is spam: no email"),
        ("blocked", False, "contact is blocked: no email"),
    ],
)
def test_doi_email_goes_only_to_contacts_that_may_get_it(
    workspace: Workspace, status: str, queued: bool, reason: str
) -> None:
    with time_machine.travel(T0, tick=False):
        campaign = on_tag("kunde", "email.doi", make_email(workspace, "doi"), name="DOI")
        contact = make_contact(workspace, status=status)

        contact_tags.add_tags(contact, ["kunde"])
        engine.advance_due()

    expected = ("completed", "") if queued else ("skipped", reason)
    assert run_state(campaign, contact, "mail") == expected
    assert list(Outbox.objects.values_list("kind", flat=True)) == (["doi"] if queued else [])


def test_unknown_placeholder_fails_the_run_and_the_email_not_the_worker(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    with time_machine.travel(T0, tick=False):
        news = make_email(
            workspace, "marketing", subject="Ihr Termin: {{ appointment.start|date }}"
        )
        campaign = on_tag("news", "email.send", news, name="News")
        anna = make_contact(workspace, email="anna@example.com")
        ben = make_contact(workspace, email="ben@example.com")

        contact_tags.add_tags(anna, ["news"])
        contact_tags.add_tags(ben, ["news"])
        work()

    reason = "Template error in subject, line 1: unknown placeholder 'appointment'"
    assert run_state(campaign, anna, "mail") == ("failed", reason)
    assert run_state(campaign, ben, "mail") == ("failed", reason)
    assert list(Outbox.objects.values_list("status", "reason")) == [("failed", reason)] * 2
    assert smtp.messages == []


def test_an_email_run_queues_one_email_however_often_it_runs(workspace: Workspace) -> None:
    with time_machine.travel(T0, tick=False):
        campaign = on_tag("news", "email.send", make_email(workspace, "marketing"), name="News")
        contact = make_contact(workspace)
        contact_tags.add_tags(contact, ["news"])
        engine.advance_due()
        run = Run.objects.get(campaign=campaign, contact=contact, element__key="mail")
        element_type = registry.get("email.send")

        context = registry.RunContext(
            run=run,
            element=run.element,
            enrollment=run.enrollment,
            config=element_type.config_schema.model_validate(run.element.config),
            now=T0,
        )
        outcome = element_type.handler(context)

    assert outcome.status == "completed"
    assert Outbox.objects.filter(run=run).count() == 1


def test_reminder_a_day_before_an_appointment_across_dst_arrives_at_nine_local(
    workspace: Workspace, smtp: SmtpServer
) -> None:
    # Summer time starts on 2026-03-29: the appointment is at 09:00 CEST (07:00 UTC), the
    # reminder a day before at 09:00 CET (08:00 UTC), not 24 hours earlier (07:00 UTC).
    contact_fields.create_field(workspace, key="termin", type="datetime", label="Termin")
    reminder = make_email(
        workspace, "marketing", subject='Morgen: {{ contact.fields.termin|datetime("full") }}'
    )
    make_campaign(
        workspace,
        [
            element("start", "contact.tag_added", tag="termin"),
            element("wait", "wait.until_field", field="termin", offset_minutes=-1440),
            element("mail", "email.send", email_id=reminder.pk),
        ],
        [edge("start", "wait"), edge("wait", "mail")],
        name="Erinnerung",
    )
    contact = make_contact(workspace)
    contact_fields.set_field(contact, "termin", "2026-03-29T07:00:00+00:00")

    with time_machine.travel(datetime(2026, 3, 20, 12, 0, tzinfo=UTC), tick=False):
        contact_tags.add_tags(contact, ["termin"])
        work()
    with time_machine.travel(datetime(2026, 3, 28, 7, 59, tzinfo=UTC), tick=False):
        work()
        assert smtp.messages == []
    with time_machine.travel(datetime(2026, 3, 28, 8, 0, tzinfo=UTC), tick=False):
        work()

    [received] = smtp.messages
    assert received.message["Subject"] == "Morgen: Sonntag, 29. März 2026 um 09:00"
    assert received.message["Date"].datetime == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    local = received.message["Date"].datetime.astimezone(ZoneInfo("Europe/Zurich"))
    assert local.strftime("%H:%M") == "09:00"
    assert Outbox.objects.get().sent_at == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)


def test_saving_etermin_to_marketing_without_doi_warns_and_with_doi_does_not(
    workspace: Workspace,
) -> None:
    from terminflow.campaigns.services import save_campaign
    from tests.campaigns.factories import graph
    from tests.etermin.factories import etermin_element, make_account

    make_account(workspace)
    news = make_email(workspace, "marketing")
    doi = make_email(workspace, "doi")
    booking = etermin_element()
    send = element("mail", "email.send", email_id=news.pk)
    ask = element("ask", "email.doi", email_id=doi.pk)

    _, direct = save_campaign(
        workspace, graph([booking, send], [edge("booking", "mail")], status="draft")
    )
    _, guarded = save_campaign(
        workspace,
        graph([booking, ask, send], [edge("booking", "ask"), edge("ask", "mail")], status="draft"),
    )

    assert [w.element for w in direct] == ["mail"]
    assert guarded == []
