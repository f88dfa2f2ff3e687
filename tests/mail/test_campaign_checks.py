"""Saving a campaign warns when an email reads names that the paths leading to it lack."""

from __future__ import annotations

from typing import Any

import pytest

from terminflow.campaigns.engine import advance_due
from terminflow.campaigns.models import Campaign
from terminflow.contacts.models import Field
from terminflow.mail import sending
from terminflow.mail.models import Outbox
from tests.campaigns.factories import edge, element
from tests.conftest import ApiClient
from tests.etermin.factories import etermin_element, make_account, make_field

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db

REMINDER = (
    "<p>Ihr Termin am {{ appointment.start | datetime }}</p>"
    '<p><a href="{{ links.unsubscribe }}">Abmelden</a></p>'
)


def body(elements: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "Erinnerung", "status": "draft", "elements": elements, "edges": edges}


def test_appointment_behind_double_opt_in_confirmed_is_warned_about_and_saved(
    api: ApiClient,
) -> None:
    # given an email that shows the appointment, behind "double opt-in confirmed"
    email = make_email(api.workspace, "marketing", body_html=REMINDER)
    elements = [
        element("confirmed", "contact.doi_confirmed"),
        element("mail", "email.send", email_id=email.pk),
    ]

    # when the campaign is saved
    response = api.post("/api/v1/campaigns", body(elements, [edge("confirmed", "mail")]))

    # then it is saved, with a warning naming the element by its label and the missing name
    assert response.status_code == 201
    assert response.json()["warnings"] == [
        {
            "element": "mail",
            "code": "name_not_provided",
            "message": "Element “Send email” uses “appointment”, but not every path leading to "
            "it provides one (only an eTermin event does); sending fails for contacts who came "
            "another way.",
        }
    ]
    # and the builder reads the same warning when it loads the campaign
    campaign_id = response.json()["id"]
    assert (
        api.get(f"/api/v1/campaigns/{campaign_id}").json()["warnings"]
        == (response.json()["warnings"])
    )
    assert Campaign.objects.count() == 1
    assert Outbox.objects.count() == 0


def test_the_same_warning_comes_in_german(api_for: Any, workspace: Any) -> None:
    german = ApiClient(workspace, language="de")
    email = make_email(workspace, "marketing", body_html=REMINDER)
    elements = [
        element("confirmed", "contact.doi_confirmed"),
        element("mail", "email.send", email_id=email.pk),
    ]

    response = german.post("/api/v1/campaigns", body(elements, [edge("confirmed", "mail")]))

    assert response.json()["warnings"][0]["message"] == (
        "Element „E-Mail senden“ verwendet „appointment“, aber nicht jeder Weg dorthin liefert "
        "einen Termin (nur ein eTermin-Ereignis tut das); der Versand scheitert für Kontakte, "
        "die auf anderem Weg kamen."
    )


def test_appointment_behind_an_etermin_event_is_fine(api: ApiClient) -> None:
    make_account(api.workspace)
    email = make_email(api.workspace, "marketing", body_html=REMINDER)
    elements = [
        etermin_element(),
        element("ask", "email.doi", email_id=make_email(api.workspace, "doi").pk),
        element("mail", "email.send", email_id=email.pk),
    ]

    response = api.post(
        "/api/v1/campaigns", body(elements, [edge("booking", "ask"), edge("ask", "mail")])
    )

    assert response.status_code == 201
    assert response.json()["warnings"] == []


def test_a_field_filled_on_one_path_only_is_warned_about_and_a_missing_field_too(
    api: ApiClient,
) -> None:
    # given the eTermin event fills "termin", a tag event does not, and both lead to the email
    make_account(api.workspace)
    make_field(api.workspace, "termin")
    make_field(api.workspace, "alt", "text")
    email = make_email(
        api.workspace,
        "doi",
        body_html='{{ contact.fields.termin }} {{ contact.fields["alt"] }} {{ links.confirm }}',
    )
    # and the field "alt" was deleted after the email was written
    Field.objects.filter(workspace=api.workspace, key="alt").delete()
    elements = [
        etermin_element(start_field="termin"),
        element("tagged", "contact.tag_added", tag="vip"),
        element("ask", "email.doi", email_id=email.pk),
    ]
    edges = [edge("booking", "ask"), edge("tagged", "ask")]

    # when the campaign is saved
    response = api.post("/api/v1/campaigns", body(elements, edges))

    # then both names are warned about
    assert response.status_code == 201
    assert [(w["element"], w["code"]) for w in response.json()["warnings"]] == [
        ("ask", "field_missing"),
        ("ask", "field_not_provided"),
    ]
    assert response.json()["warnings"][1]["message"] == (
        "Element “Double opt-in email” uses the field “termin”, which not every path leading to "
        "it fills; sending fails for contacts without it."
    )


def test_an_email_the_server_refused_shows_on_its_element_with_the_reason(
    workspace: Any, smtp: Any
) -> None:
    # given a campaign that emails contacts tagged "news", and a server that refuses one address
    email = make_email(workspace, "marketing", name="News")
    german = ApiClient(workspace, language="de")
    campaign_id = german.post(
        "/api/v1/campaigns",
        {
            "name": "News",
            "status": "active",
            "elements": [
                element("tagged", "contact.tag_added", tag="news"),
                element("mail", "email.send", email_id=email.pk),
            ],
            "edges": [edge("tagged", "mail")],
        },
    ).json()["id"]
    smtp.handler.refuse["gone@example.com"] = "550 5.1.1 no such user"
    make_contact(workspace, email="gone@example.com", tags=["news"])
    advance_due()

    # when the email is sent and refused
    sending.send_due()

    # then the element's stats show the failure and its reason, in German, with a code
    stats = german.get(f"/api/v1/campaigns/{campaign_id}/stats").json()
    mail = next(row for row in stats["elements"] if row["id"] == "mail")
    assert mail["completed"] == 1
    assert [(f["reason"], f["code"], f["count"]) for f in mail["failures"]] == [
        ("Adresse vom Mailserver abgelehnt: 550 5.1.1 no such user", "address_refused", 1)
    ]
    assert Outbox.objects.get().status == "failed"
