"""Starter emails: every one, in German and English, renders for a real contact and appointment.

The appointment comes the way the engine gives it to an email: a stored eTermin appointment
behind an enrollment, read through the registry's context provider.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from terminflow.campaigns.models import Enrollment
from terminflow.campaigns.schemas import CampaignIn
from terminflow.campaigns.services import save_campaign
from terminflow.etermin.models import Appointment
from terminflow.kit.errors import NotFound, Unprocessable
from terminflow.mail import design, rendering, services, starters
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Workspace
from tests.conftest import make_workspace
from tests.etermin.factories import make_account

from .conftest import make_contact

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)  # 10:30 in Zurich
END = datetime(2026, 12, 3, 10, 15, tzinfo=UTC)

# What each starter says, with Lea Brunner's appointment at Praxis Seefeld.
PHRASES = {
    ("appointment-confirmation", "de"): [
        "Ihr Termin ist bestätigt",
        "Guten Tag Lea Brunner",
        "haben den folgenden Termin für Sie reserviert:",
        "{datetime} bis 11:15\n\nKalender: Praxis Seefeld",
        "Die angehängte Kalenderdatei (.ics) trägt den Termin in Ihren Kalender ein.",
        "Freundliche Grüsse\nPraxis Seefeld",
        "Hier abmelden (http://testserver/mail/unsubscribe/",
    ],
    ("appointment-confirmation", "en"): [
        "Your appointment is confirmed",
        "Dear Lea Brunner,",
        "have reserved the following appointment for you:",
        "{datetime} until 11:15\n\nCalendar: Praxis Seefeld",
        "Open the attached calendar file (.ics) to add the appointment to your calendar.",
        "Kind regards,\nPraxis Seefeld",
        "Unsubscribe here (http://testserver/mail/unsubscribe/",
    ],
    ("reminder-24h", "de"): [
        "Ihr Termin ist morgen",
        "Gerne erinnern wir Sie an Ihren Termin:\n\n{datetime}\n\nKalender: Praxis Seefeld",
        "sagen Sie den Termin bitte rechtzeitig ab",
        "Hier abmelden (http://testserver/mail/unsubscribe/",
    ],
    ("reminder-24h", "en"): [
        "Your appointment is tomorrow",
        "We would like to remind you of your appointment:\n\n"
        "{datetime}\n\nCalendar: Praxis Seefeld",
        "please cancel in good time",
        "Unsubscribe here (http://testserver/mail/unsubscribe/",
    ],
    ("review-request", "de"): [
        "Herzlichen Dank für Ihren Besuch",
        "Hätten Sie zwei Minuten Zeit für eine kurze Bewertung?",
        "Jetzt bewerten (https://example.com/bewertung)",
        "Hier abmelden (http://testserver/mail/unsubscribe/",
    ],
    ("review-request", "en"): [
        "Thank you for your visit",
        "Could you spare two minutes for a short review?",
        "Write a review (https://example.com/review)",
        "Unsubscribe here (http://testserver/mail/unsubscribe/",
    ],
    ("cancellation-confirmed", "de"): [
        "Ihre Absage ist bei uns angekommen",
        "Wir haben den folgenden Termin für Sie storniert:\n\n"
        "{datetime}\n\nKalender: Praxis Seefeld",
        "entfernt ihn die angehängte Kalenderdatei wieder",
        "Hier abmelden (http://testserver/mail/unsubscribe/",
    ],
    ("cancellation-confirmed", "en"): [
        "We have received your cancellation",
        "We have cancelled the following appointment for you:\n\n"
        "{datetime}\n\nCalendar: Praxis Seefeld",
        "the attached calendar file removes it again",
        "Unsubscribe here (http://testserver/mail/unsubscribe/",
    ],
    ("doi-request", "de"): [
        "Nur noch ein Klick",
        "Bitte bestätigen Sie Ihre E-Mail-Adresse, damit wir Ihnen Terminerinnerungen",
        "E-Mail-Adresse bestätigen (http://testserver/mail/confirm/",
        "Dann kopieren Sie diesen Link in Ihren Browser: http://testserver/mail/confirm/",
        "Freundliche Grüsse\nPraxis Seefeld",
    ],
    ("doi-request", "en"): [
        "Just one more click",
        "Please confirm your email address so that we may send you appointment reminders",
        "Confirm email address (http://testserver/mail/confirm/",
        "Then copy this link into your browser: http://testserver/mail/confirm/",
        "Kind regards,\nPraxis Seefeld",
    ],
}
SUBJECTS = {
    ("appointment-confirmation", "de"): "Ihr Termin bei Praxis Seefeld ist bestätigt",
    ("appointment-confirmation", "en"): "Your appointment with Praxis Seefeld is confirmed",
    ("reminder-24h", "de"): "Erinnerung: Ihr Termin morgen bei Praxis Seefeld",
    ("reminder-24h", "en"): "Reminder: your appointment with Praxis Seefeld tomorrow",
    ("review-request", "de"): "Wie war Ihr Besuch bei Praxis Seefeld?",
    ("review-request", "en"): "How was your visit to Praxis Seefeld?",
    ("cancellation-confirmed", "de"): "Absage bestätigt: Ihr Termin bei Praxis Seefeld",
    ("cancellation-confirmed", "en"): (
        "Cancellation confirmed: your appointment with Praxis Seefeld"
    ),
    ("doi-request", "de"): "Bitte bestätigen Sie Ihre E-Mail-Adresse",
    ("doi-request", "en"): "Please confirm your email address",
}
# How the appointment reads in each workspace locale (Zurich time).
DATES = {
    "de-CH": {
        "date": "Donnerstag, 3. Dezember 2026",
        "datetime": "Donnerstag, 3. Dezember 2026 um 10:30",
    },
    "en-GB": {
        "date": "Thursday, 3 December 2026",
        "datetime": "Thursday, 3 December 2026 at 10:30",
    },
}
CASES = [(key, language, locale) for key, language in PHRASES for locale in DATES]


def booked(workspace: Workspace) -> tuple[object, Enrollment]:
    """Lea Brunner with an eTermin appointment that let her into a campaign."""
    contact = make_contact(
        workspace, "lea@example.ch", status="confirmed_doi", first_name="Lea", last_name="Brunner"
    )
    account = make_account(workspace)
    appointment = Appointment.objects.create(
        workspace=workspace,
        account=account,
        uid="6a1f0e52",
        contact=contact,
        calendar_id="211614",
        calendar_name="Praxis Seefeld",
        start=START,
        end=END,
        taken_in=True,
    )
    campaign, _ = save_campaign(workspace, CampaignIn(name="Buchung"))
    enrollment = Enrollment.objects.create(
        workspace=workspace,
        campaign=campaign,
        contact=contact,
        context={"appointment_id": appointment.pk},
    )
    return contact, enrollment


@pytest.mark.parametrize(("key", "language", "locale"), CASES)
def test_every_starter_renders_for_a_real_contact_and_appointment(
    key: str, language: str, locale: str
) -> None:
    # given a workspace in the locale and a contact booked through eTermin
    workspace = make_workspace()
    workspace.locale = locale
    workspace.save()
    contact, enrollment = booked(workspace)
    # when the starter is copied and rendered as the engine renders it
    template = starters.create_from_starter(workspace, key, language)
    rendered = services.render_for_queue(template, contact, enrollment=enrollment, now=NOW)
    # then
    assert rendered.error == ""
    assert rendered.email is not None
    assert rendered.email.subject == SUBJECTS[(key, language)]
    text = rendered.email.body_text
    for phrase in PHRASES[(key, language)]:
        assert phrase.format(**DATES[locale]) in text, phrase
    assert "{{" not in rendered.email.body_html and "{%" not in rendered.email.body_html
    # and the .ics goes with the confirmation (PUBLISH) and the cancellation
    if template.attach_ics:
        assert "DTSTART;TZID=Europe/Zurich:20261203T103000" in rendered.email.ics
    else:
        assert rendered.email.ics == ""


@pytest.mark.parametrize(("key", "language"), list(PHRASES))
def test_every_starter_file_holds_the_format_and_its_required_link(key: str, language: str) -> None:
    # given
    raw = json.loads((starters.DATA / f"{key}.{language}.json").read_text(encoding="utf-8"))
    starter = starters.get_starter(key, language)
    # then
    assert set(raw) == {"name", "subject", "kind", "attach_ics", "design"}
    assert raw["design"]["version"] == 1
    assert starter.body_html.startswith("<!DOCTYPE html>")
    if starter.kind == "doi":
        assert rendering.uses_link(starter.body_html, "confirm")
    else:
        assert starter.kind == "marketing"
        assert rendering.uses_link(starter.body_html, "unsubscribe")
    # Swiss spelling in German
    assert "ß" not in json.dumps(raw, ensure_ascii=False)
    assert raw["attach_ics"] is (key in ("appointment-confirmation", "cancellation-confirmed"))


def test_the_cancellation_calendar_file_cancels_the_entry(workspace: Workspace) -> None:
    # given Lea's appointment, deleted in eTermin
    contact, enrollment = booked(workspace)
    Appointment.objects.update(status="deleted")
    template = starters.create_from_starter(workspace, "cancellation-confirmed", "de")
    # when
    rendered = services.render_for_queue(template, contact, enrollment=enrollment, now=NOW)
    # then
    assert rendered.email is not None
    assert "METHOD:CANCEL" in rendered.email.ics
    assert "STATUS:CANCELLED" in rendered.email.ics


def test_without_an_appointment_the_appointment_block_is_left_out(workspace: Workspace) -> None:
    # given a contact who came without an appointment
    contact = make_contact(workspace, "max@example.ch", first_name="Max", last_name="Muster")
    template = starters.create_from_starter(workspace, "reminder-24h", "de")
    # when
    rendered = services.render_for_queue(template, contact, now=NOW)
    # then
    assert rendered.email is not None
    assert "Gerne erinnern wir Sie an Ihren Termin:\n\nBitte planen Sie" in (
        rendered.email.body_text
    )


def test_the_copy_is_named_once_per_workspace_and_the_language_defaults_to_the_workspace(
    workspace: Workspace,
) -> None:
    # given a second workspace in English with its own copy
    other = make_workspace("Physio Zug")
    starters.create_from_starter(other, "appointment-confirmation", "de")
    # when
    first = starters.create_from_starter(workspace, "appointment-confirmation")
    second = starters.create_from_starter(workspace, "appointment-confirmation")
    EmailTemplate.objects.filter(pk=second.pk).update(archived_at=NOW)
    third = starters.create_from_starter(workspace, "appointment-confirmation")
    english = starters.create_from_starter(workspace, "appointment-confirmation", "en")
    # then
    assert [first.name, second.name, third.name] == [
        "Terminbestätigung",
        "Terminbestätigung (2)",
        "Terminbestätigung (3)",
    ]
    assert english.name == "Appointment confirmation"
    assert (first.kind, first.attach_ics, first.version) == ("marketing", True, 1)
    assert EmailTemplate.objects.filter(workspace=other).count() == 1


@pytest.mark.parametrize(
    ("key", "language", "error", "code"),
    [
        ("newsletter", "de", NotFound, "starter_not_found"),
        ("doi-request", "fr", Unprocessable, "starter_language"),
    ],
)
def test_unknown_keys_and_languages_store_nothing(
    workspace: Workspace, key: str, language: str, error: type, code: str
) -> None:
    with pytest.raises(error) as raised:
        starters.create_from_starter(workspace, key, language)
    assert raised.value.code == code
    assert EmailTemplate.objects.count() == 0


def test_a_copied_starter_keeps_its_design_so_it_opens_in_the_visual_editor(
    workspace: Workspace,
) -> None:
    # when
    template = starters.create_from_starter(workspace, "reminder-24h", "de")
    # then the stored design is the starter's, and the HTML is what the editor renders from it
    starter = starters.get_starter("reminder-24h", "de")
    assert template.design == starter.design
    assert template.design is not None and template.design["blocks"][0]["type"] == "heading"
    assert template.body_html == design.render(starter.design, language="de", attach_ics=False)
