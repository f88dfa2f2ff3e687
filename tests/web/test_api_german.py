"""Every API error a person can read comes in German when German is asked for.

The test walks the API's error paths twice, in English and in German, and fails when a German
``detail`` (or a message inside it) is still English: equal to the English answer, or holding a
sentence of the English msgid catalogue. The stable ``code`` is the same in both languages.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from terminflow.campaigns import registry
from terminflow.kit import input_errors, reasons
from terminflow.mail.models import EmailTemplate
from tests.campaigns.factories import edge, element
from tests.conftest import ApiClient
from tests.contacts.factories import make_contact

pytestmark = pytest.mark.django_db


# Words that German spells as English does.
SAME_IN_GERMAN = {
    "ID",
    "Position",
    "Cursor",
    "Limit",
    "Name",
    "Tag",
    "Status",
    "Text",
    "eTermin",
    "Tags",
}


def english_sentences() -> set[str]:
    """Fragments of the English msgids: the text between placeholders, long enough to tell."""
    msgids = [r.msgid for r in reasons.catalogue()]
    with translation.override("en"):
        msgids += [str(message) for message in input_errors.MESSAGES.values()]
    fragments = set()
    for msgid in msgids:
        for part in re.split(r"%\(\w+\)[sr]", msgid):
            part = part.strip(" .:;,'()")
            if len(part) >= 14:
                fragments.add(part)
    return fragments


def readable(body: dict[str, Any]) -> list[str]:
    texts = [body["detail"]]
    for error in body.get("errors", []):
        texts.append(str(error.get("message") or error.get("msg") or ""))
    return [t for t in texts if t]


def error_paths(workspace: Any) -> list[tuple[str, str, Any]]:
    contact = make_contact(workspace, email="lea@example.ch")
    return [
        ("get", "/api/v1/campaigns/9999", None),
        ("get", f"/api/v1/campaigns/9999/contacts/{contact.pk}", None),
        ("get", "/api/v1/contacts/9999", None),
        ("get", "/api/v1/emails/9999", None),
        ("get", "/api/v1/etermin/accounts/9999", None),
        ("get", "/api/v1/inbox?limit=0", None),
        ("get", "/api/v1/inbox?status=done", None),
        ("post", "/api/v1/fields", {"key": "Plan!", "type": "text"}),
        ("post", "/api/v1/fields", {"key": "plan", "type": "colour"}),
        ("post", "/api/v1/fields", {"type": "text"}),
        ("post", "/api/v1/contacts", {"email": "not-an-address"}),
        ("post", "/api/v1/contacts", {"email": "lea@example.ch"}),
        ("post", "/api/v1/contacts", {"email": "x@example.ch", "tags": "vip"}),
        ("post", "/api/v1/emails", {"name": "Erinnerung", "subject": "Hallo", "kind": "marketing"}),
        (
            "post",
            "/api/v1/emails",
            {"name": "x", "subject": "Hallo", "body_html": "{{ nope }}", "kind": "marketing"},
        ),
        (
            "post",
            "/api/v1/emails",
            {"name": "x", "subject": "Hallo", "body_html": "<p>Hallo</p>", "kind": "doi"},
        ),
        ("post", "/api/v1/etermin/accounts", {"name": "", "public_key": "a", "private_key": "b"}),
        ("post", "/api/v1/etermin/accounts", {"name": "Praxis", "public_key": "a"}),
        (
            "post",
            "/api/v1/campaigns",
            {
                "name": "Erinnerung",
                "status": "active",
                "elements": [
                    element("start", "contact.tag_added", tag="x"),
                    element("mail", "email.send", email_id=9999),
                    element("wait", "wait.duration", minutes=0),
                    element("lost", "contact.tag", add=["y"]),
                    element("date", "wait.until_field", field="nowhere"),
                    element("booking", "etermin.appointment"),
                ],
                "edges": [
                    edge("start", "mail"),
                    edge("start", "wait", "yes"),
                    edge("start", "date"),
                ],
            },
        ),
        ("post", "/api/v1/campaigns", {"name": "", "elements": "none"}),
    ]


def test_every_api_error_reads_german_with_the_same_code(workspace: Any) -> None:
    english = ApiClient(workspace, language="en")
    german = ApiClient(workspace, language="de")
    fragments = english_sentences()
    untranslated = []
    for method, path, body in error_paths(workspace):
        args = (path,) if body is None else (path, body)
        in_english = getattr(english, method)(*args)
        in_german = getattr(german, method)(*args)
        assert 400 <= in_german.status_code < 500, (path, in_german.status_code)
        assert in_german.json()["code"] == in_english.json()["code"]
        for de, en in zip(readable(in_german.json()), readable(in_english.json()), strict=True):
            if de == en or any(fragment in de for fragment in fragments):
                untranslated.append((path, de))
    assert untranslated == [], "\n".join(map(repr, untranslated))
    assert EmailTemplate.objects.count() == 0


def test_the_body_html_label_reads_html_inhalt(workspace: Any) -> None:
    response = ApiClient(workspace, language="de").post(
        "/api/v1/emails", {"name": "Erinnerung", "subject": "Hallo", "kind": "marketing"}
    )

    assert response.status_code == 422
    assert response.json()["detail"] == "HTML-Inhalt: Angabe fehlt."


def test_without_a_token_the_answer_is_german_too() -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="de").get("/api/v1/contacts")

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Senden Sie Authorization: Bearer <API-Token des Arbeitsbereichs>.",
        "code": "not_authenticated",
    }


def test_every_stored_reason_and_input_message_has_a_german_translation() -> None:
    missing = []
    with translation.override("de"):
        for reason in reasons.catalogue():
            if translation.gettext(reason.msgid) == reason.msgid:
                missing.append(reason.msgid)
        for message in [*input_errors.MESSAGES.values(), *input_errors.FIELD_LABELS.values()]:
            with translation.override("en"):
                english = str(message)
            if str(message) == english and english not in SAME_IN_GERMAN:
                missing.append(english)
        for element_type in registry.all_types():
            label = element_type.label
            if translation.gettext(label) == label and label not in SAME_IN_GERMAN:
                missing.append(label)
    assert missing == []
