"""Email templates: saving with checks, rendering for a contact, queueing, preview."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from terminflow.campaigns import registry
from terminflow.contacts.models import ConsentEvent
from terminflow.kit.errors import Unprocessable
from terminflow.mail import services, tracking
from terminflow.mail.models import EmailTemplate, Outbox
from terminflow.workspaces.models import Workspace
from tests.contacts.factories import make_field

from .conftest import make_contact, make_email

pytestmark = pytest.mark.django_db


def template_data(**changes: Any) -> services.TemplateData:
    values: dict[str, Any] = {
        "name": "Termin bestätigen",
        "subject": "Ihr Termin",
        "body_html": '<p>Bitte bestätigen: <a href="{{ links.confirm }}">hier</a></p>',
        "kind": "doi",
    }
    values.update(changes)
    return services.TemplateData(**values)


def test_create_template_stores_it_with_version_one(workspace: Workspace) -> None:
    template = services.create_template(workspace, template_data())

    stored = EmailTemplate.objects.get(pk=template.pk)
    assert (stored.name, stored.kind, stored.version, stored.body_text) == (
        "Termin bestätigen",
        "doi",
        1,
        "",
    )


def test_syntax_error_is_refused_with_line_and_nothing_is_stored(workspace: Workspace) -> None:
    data = template_data(body_html="<p>\n{{ links.confirm }}\n{{ contact.first_name }\n</p>")

    with pytest.raises(Unprocessable) as caught:
        services.create_template(workspace, data)

    errors = caught.value.extra["errors"]
    assert errors == [
        {"field": "body_html", "line": 3, "message": "unexpected '}'"},
    ]
    assert caught.value.detail == "HTML content, line 3: unexpected '}'"
    assert EmailTemplate.objects.count() == 0


def test_doi_template_without_confirmation_link_is_refused(workspace: Workspace) -> None:
    with pytest.raises(Unprocessable) as caught:
        services.create_template(workspace, template_data(body_html="<p>Hallo</p>"))

    assert caught.value.extra["errors"] == [
        {
            "field": "body_html",
            "line": None,
            "message": "a double opt-in email must contain the confirmation link "
            "{{ links.confirm }}",
        }
    ]
    assert EmailTemplate.objects.count() == 0


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("{{ links.confirm }}{{ kontakt.email }}", "unknown placeholder 'kontakt'"),
        (
            "{{ links.confirm }}{{ contact.fields.farbe }}",
            "unknown placeholder 'contact.fields.farbe'",
        ),
        ("{{ links.confirm }}{{ ''.__class__ }}", "attributes starting with '_' are not allowed"),
        ("{{ links.confirm }}{{ cycler.__init__.__globals__ }}", "unknown placeholder 'cycler'"),
        ("{{ links.confirm }}{{ contact.first_name|wordcount + [] }}", "TypeError"),
    ],
)
def test_unknown_placeholders_and_sandbox_escapes_are_refused_on_save(
    workspace: Workspace, html: str, message: str
) -> None:
    data = template_data(body_html=html)

    problems = services.check_template(workspace, data)

    assert message in problems[0]["message"]
    with pytest.raises(Unprocessable):
        services.create_template(workspace, data)
    assert EmailTemplate.objects.count() == 0


def test_known_field_of_the_workspace_is_accepted(workspace: Workspace) -> None:
    from terminflow.contacts import fields as contact_fields

    contact_fields.create_field(workspace, key="termin", type="datetime", label="Termin")
    data = template_data(
        body_html='{{ links.confirm }} {{ contact.fields.termin|datetime("full") }}'
    )

    assert services.check_template(workspace, data) == []


def test_update_replaces_content_and_bumps_the_version(workspace: Workspace) -> None:
    template = services.create_template(workspace, template_data())

    services.update_template(template, template_data(subject="Neu: {{ contact.first_name }}"))

    stored = EmailTemplate.objects.get(pk=template.pk)
    assert (stored.subject, stored.version) == ("Neu: {{ contact.first_name }}", 2)


def test_queue_email_renders_subject_bodies_and_unsubscribe_headers(
    workspace: Workspace,
) -> None:
    contact = make_contact(workspace, first_name="Zoë")
    template = make_email(workspace, "marketing")

    row = services.queue_email(template, contact, now=datetime(2026, 12, 1, 9, tzinfo=UTC))

    stored = Outbox.objects.get(pk=row.pk)
    assert stored.status == "queued"
    assert stored.subject == "Hallo Zoë"
    assert stored.to_email == "anna@example.com"
    assert stored.message_id == f"<{stored.public_id.hex}@localhost>"
    assert stored.reason == services.NO_SMTP_REASON
    assert "Hallo Zoë, Neuigkeiten!" in stored.body_text
    assert stored.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert stored.headers["List-Unsubscribe"].startswith("<http://testserver/mail/unsubscribe/")
    # The template has its own unsubscribe link, so no footer is added.
    assert "Hier abmelden" not in stored.body_html


def test_marketing_email_without_unsubscribe_link_gets_a_footer(workspace: Workspace) -> None:
    contact = make_contact(workspace)
    template = make_email(workspace, "marketing", body_html="<html><body><p>News</p></body></html>")

    row = services.queue_email(template, contact)

    unsubscribe_url = row.headers["List-Unsubscribe"][1:-1]
    # (the open pixel, on by default, goes after the footer: tests/mail/test_tracking.py)
    pixel = f'<img src="{tracking.open_url(row.public_id)}" width="1" height="1" alt="">'
    assert row.body_html == (
        '<html><body><p>News</p><p style="font-size:12px;color:#666">Sie möchten keine E-Mails '
        f'mehr von Praxis Seefeld erhalten? <a href="{unsubscribe_url}">Hier abmelden</a>.'
        f"</p>{pixel}</body></html>"
    )
    assert row.body_text.endswith(
        f"-- \nSie möchten keine E-Mails mehr von Praxis Seefeld erhalten? Hier abmelden: "
        f"{unsubscribe_url}\n"
    )


def test_doi_email_records_the_request_in_the_consent_ledger(workspace: Workspace) -> None:
    contact = make_contact(workspace, status="confirmed_soi")
    template = make_email(workspace, "doi")

    row = services.queue_email(template, contact, source="test")

    event = ConsentEvent.objects.get(contact=contact, kind="doi_requested")
    assert event.source == "test"
    assert event.details["consent_text_version"] == f"email {template.pk} v1"
    assert event.details["message_id"] == row.message_id
    assert "/mail/confirm/" in row.body_html


def test_placeholder_missing_at_send_time_fails_only_that_email(workspace: Workspace) -> None:
    contact = make_contact(workspace)
    template = make_email(workspace, "marketing")
    # Saved while valid; the appointment is missing for this contact.
    EmailTemplate.objects.filter(pk=template.pk).update(
        subject="Termin am {{ appointment.start|date }}"
    )
    template.refresh_from_db()

    row = services.queue_email(template, contact)

    stored = Outbox.objects.get(pk=row.pk)
    assert (stored.status, stored.reason) == (
        "failed",
        "Template error in subject, line 1: unknown placeholder 'appointment'",
    )
    assert stored.next_attempt_at is None


def test_ics_attachment_uses_the_appointment_zone(workspace: Workspace, monkeypatch: Any) -> None:
    from terminflow.campaigns.models import Campaign, Enrollment

    contact = make_contact(workspace)
    template = make_email(
        workspace,
        "marketing",
        subject='Termin {{ appointment.start|datetime("short") }}',
        attach_ics=True,
    )
    start = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # A provider of our own in place of the etermin app's, restored after the test.
    monkeypatch.setitem(
        registry._CONTEXT_PROVIDERS,
        "appointment",
        lambda enrollment: {"uid": "u-1", "start": start, "end": None, "status": "booked"},
    )
    campaign = Campaign.objects.create(workspace=workspace, name="c")
    enrollment = Enrollment.objects.create(workspace=workspace, campaign=campaign, contact=contact)

    row = services.queue_email(template, contact, enrollment=enrollment)

    assert row.subject == "Termin 29.03.26, 09:00"
    assert "DTSTART;TZID=Europe/Zurich:20260329T090000" in row.ics
    assert "DTEND;TZID=Europe/Zurich:20260329T093000" in row.ics
    assert "UID:u-1@terminflow" in row.ics
    assert "METHOD:PUBLISH" in row.ics


def test_later_ics_for_the_same_appointment_updates_it_and_a_cancellation_cancels() -> None:
    from terminflow.mail.calendar import appointment_ics

    appointment = {"uid": "u-1", "start": datetime(2026, 12, 3, 9, 30, tzinfo=UTC), "end": None}
    first = appointment_ics(
        appointment,
        summary="Termin",
        organizer_name="Praxis",
        organizer_email="praxis@example.com",
        timezone="Europe/Zurich",
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )
    moved = appointment_ics(
        {**appointment, "start": datetime(2026, 12, 4, 9, 30, tzinfo=UTC)},
        summary="Termin",
        organizer_name="Praxis",
        organizer_email="praxis@example.com",
        timezone="Europe/Zurich",
        now=datetime(2026, 11, 2, tzinfo=UTC),
    )
    cancelled = appointment_ics(
        {**appointment, "status": "deleted"},
        summary="Termin",
        organizer_name="Praxis",
        organizer_email="praxis@example.com",
        timezone="Europe/Zurich",
        now=datetime(2026, 11, 3, tzinfo=UTC),
    )

    def field(ics: str, name: str) -> str:
        return next(line for line in ics.splitlines() if line.startswith(name)).split(":", 1)[1]

    assert field(first, "UID") == field(moved, "UID") == field(cancelled, "UID") == "u-1@terminflow"
    assert (
        int(field(first, "SEQUENCE"))
        < int(field(moved, "SEQUENCE"))
        < int(field(cancelled, "SEQUENCE"))
    )
    assert field(moved, "DTSTART;TZID=Europe/Zurich") == "20261204T103000"
    assert (field(cancelled, "METHOD"), field(cancelled, "STATUS")) == ("CANCEL", "CANCELLED")
    assert "BEGIN:VTIMEZONE" in first


@pytest.mark.parametrize(
    ("locale", "source", "expected"),
    [
        ("de-CH", "{{ contact.fields.termin_beginn }}", "Freitag, 4. Dezember 2026 um 16:30"),
        ("de-CH", "{{ contact.fields.geburtstag }}", "Mittwoch, 3. März 1999"),
        ("de-CH", "{{ contact.fields.termin_beginn | time }}", "16:30"),
        ("de-CH", "{{ contact.fields.termin_beginn | date('short') }}", "04.12.26"),
        ("de-CH", "{{ contact.fields.termin_beginn.year }}", "2026"),
        ("en-GB", "{{ contact.fields.termin_beginn }}", "Friday, 4 December 2026 at 16:30"),
        ("en-GB", "{{ contact.fields.termin_beginn | datetime('short') }}", "04/12/2026, 16:30"),
        ("en", "{{ contact.fields.termin_beginn | datetime }}", "4 Dec 2026, 16:30"),
        ("en-US", "{{ contact.fields.termin_beginn | date('short') }}", "04/12/2026"),
    ],
)
def test_date_and_datetime_fields_read_in_the_workspace_locale_and_zone(
    workspace: Workspace, locale: str, source: str, expected: str
) -> None:
    # given a workspace in Zürich and a contact whose fields hold an appointment and a birthday
    workspace.locale = locale
    workspace.timezone = "Europe/Zurich"
    workspace.save()
    make_field(workspace, "termin_beginn", "datetime")
    make_field(workspace, "geburtstag", "date")
    contact = make_contact(
        workspace,
        fields={"termin_beginn": "2026-12-04T15:30:00+00:00", "geburtstag": "1999-03-03"},
    )
    template = make_email(workspace, "marketing", subject=source)

    # when the email is rendered for the contact
    row = services.queue_email(template, contact, now=datetime(2026, 12, 1, 9, tzinfo=UTC))

    # then the subject reads as a person writes the date, not the stored ISO text
    assert Outbox.objects.get(pk=row.pk).subject == expected
