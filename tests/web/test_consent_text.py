"""The consent ledger as sentences: each kind and channel in German, naming what it points at."""

from __future__ import annotations

import pytest
from django.utils import translation

from terminflow.contacts.models import ConsentEvent
from terminflow.web.consent_text import Names, sentence


def _event(kind: str, source: str, **details: object) -> ConsentEvent:
    return ConsentEvent(kind=kind, source=source, details=details)


NAMES = Names(
    accounts={4: "Praxis Seefeld"}, emails={7: "Bitte bestätigen"}, campaigns={3: "Termine"}
)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            _event("soi", "etermin", account_id=4, calendar_name="Zahnreinigung", calendar_id=1),
            "Single-Opt-in über eTermin-Buchung, Kalender «Zahnreinigung», Konto «Praxis Seefeld».",
        ),
        (_event("soi", "import"), "Single-Opt-in über Kontaktimport."),
        (
            _event(
                "doi_requested",
                "campaign 'Termine' (email.doi email-2)",
                email_id=7,
                campaign_id=3,
                calendar="Zahnreinigung",
                consent_text_sha256="ab" * 32,
            ),
            "Double-Opt-in angefordert mit der E-Mail «Bitte bestätigen», Kampagne «Termine», "
            "Termin im Kalender «Zahnreinigung».",
        ),
        (
            _event("doi_sent", "smtp", message_id="<x@y>"),
            "Double-Opt-in-E-Mail an den Mailserver übergeben.",
        ),
        (
            _event(
                "doi_confirmed",
                "double opt-in link",
                **{"from": "confirmed_soi", "to": "confirmed_doi"},
            ),
            "Double-Opt-in bestätigt über den Bestätigungslink.",
        ),
        (
            _event("unsubscribed", "unsubscribe (one-click)"),
            "Abgemeldet über Ein-Klick-Abmeldung im E-Mail-Programm.",
        ),
        (_event("unsubscribed", "unsubscribe (link)"), "Abgemeldet über den Abmeldelink."),
        (
            _event("bounced", "smtp", reply="550 5.1.1 unknown user", permanent=True),
            "Die E-Mail kam dauerhaft zurück, der Mailserver antwortete «550 5.1.1 unknown user».",
        ),
        (_event("blocked", "smtp", blocked_until=None), "Für E-Mails gesperrt."),
        (
            _event(
                "status_changed",
                "ui:lea@praxis.example",
                **{"from": "unknown", "to": "confirmed_manual"},
            ),
            "E-Mail-Status geändert von «Unbekannt» zu «Bestätigt (manuell)» über die "
            "Weboberfläche (lea@praxis.example).",
        ),
    ],
)
def test_consent_events_read_as_german_sentences(event: ConsentEvent, expected: str) -> None:
    with translation.override("de"):
        assert sentence(event, NAMES) == expected


def test_a_missing_name_leaves_out_the_part_rather_than_show_an_id() -> None:
    # given an event pointing at an email that was deleted since
    event = _event("doi_requested", "email", email_id=99, campaign_id=98)
    # when / then
    with translation.override("de"):
        assert sentence(event, NAMES) == "Double-Opt-in angefordert."


def test_a_sign_up_names_the_form_and_the_consent_version_in_german() -> None:
    names = Names(emails={7: "Bitte bestätigen"}, forms={5: "Newsletter"})
    event = _event("doi_requested", "form 5", email_id=7, form_id=5, form_consent_version=2)

    with translation.override("de"):
        text = sentence(event, names)

    assert text == (
        "Double-Opt-in angefordert mit der E-Mail «Bitte bestätigen», "
        "Anmeldeformular «Newsletter» (Einwilligungstext Version 2)."
    )
