"""What the worker does with a sign-up, and what the confirmation of its DOI email does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from terminflow.campaigns.models import Enrollment
from terminflow.contacts import fields as contact_fields
from terminflow.contacts import privacy
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentEvent, Contact
from terminflow.forms import submissions
from terminflow.forms.models import Form, Submission
from terminflow.kit import clock
from terminflow.mail import links
from terminflow.mail import services as mail
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace
from tests.campaigns.factories import make_field
from tests.mail.conftest import make_contact

from .factories import make_form, make_form_campaign, make_marketing_email

pytestmark = pytest.mark.django_db


def sign_up(form: Form, **data: str) -> submissions.Result:
    return submissions.submit(form, data, ip="203.0.113.9", user_agent="Test")


def confirm(submission: Submission) -> Contact:
    submission.refresh_from_db()
    assert submission.outbox is not None
    token = links.make_token(links.Purpose.CONFIRM, submission.outbox.public_id)
    return mail.confirm_doi(token, ip="203.0.113.9")


def test_a_known_contacts_values_are_only_filled_in_until_the_confirmation(
    workspace: Workspace,
) -> None:
    # given a known contact with a name and an empty city field
    make_field(workspace, "city", "text")
    form = make_form(
        workspace,
        fields=[{"key": "first_name"}, {"key": "last_name"}, {"key": "city"}],
    )
    contact = make_contact(workspace, "lea@example.com", status="confirmed_soi", first_name="Lea")

    # when a sign-up with other values is processed
    sign_up(form, email="lea@example.com", first_name="Mallory", last_name="M", field_city="Bern")
    submissions.process_due()

    # then only the empty ones are filled
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.fields) == ("Lea", "M", {"city": "Bern"})

    # and the confirmation applies what the person typed
    confirm(Submission.objects.get())
    contact.refresh_from_db()
    assert (contact.first_name, contact.email_status) == ("Mallory", "confirmed_doi")


def test_an_already_confirmed_contact_gets_no_email_and_starts_the_campaign_at_once(
    workspace: Workspace,
) -> None:
    form = make_form(workspace)
    campaign = make_form_campaign(workspace, form, make_marketing_email(workspace))
    contact = make_contact(workspace, "anna@example.com", status="confirmed_doi")

    sign_up(form, email="anna@example.com")
    submissions.process_due()

    assert Outbox.objects.count() == 0
    assert Submission.objects.get().status == "confirmed"
    assert contact_tags.tag_names(contact) == ["newsletter"]
    assert Enrollment.objects.filter(campaign=campaign, contact=contact).count() == 1
    assert not ConsentEvent.objects.filter(contact=contact, kind="doi_requested").exists()


def test_a_form_whose_doi_email_was_deleted_takes_no_sign_ups(workspace: Workspace) -> None:
    form = make_form(workspace)
    sign_up(form, email="anna@example.com")
    form.doi_email.delete()

    submissions.process_due()

    assert Submission.objects.get().status == "failed"
    assert Outbox.objects.count() == 0
    form.refresh_from_db()
    assert form.doi_email is None
    from terminflow.forms import services

    assert services.public_form(form.public_id) is None


def test_a_processed_submission_is_not_taken_again_after_its_lease(workspace: Workspace) -> None:
    form = make_form(workspace)
    sign_up(form, email="anna@example.com")
    now = clock.now()

    first = submissions.process_due(now=now)
    again = submissions.process_due(now=now + submissions.LEASE + timedelta(seconds=1))

    assert (first, again) == (1, 0)
    assert Outbox.objects.count() == 1
    assert ConsentEvent.objects.filter(kind="doi_requested").count() == 1


def test_with_nothing_due_the_sweep_only_reads(workspace: Workspace) -> None:
    # given a sign-up already processed
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    form = make_form(workspace)
    sign_up(form, email="anna@example.com")
    submissions.process_due()

    # when the sweep looks again
    with CaptureQueriesContext(connection) as queries:
        moved = submissions.process_due()

    # then it found nothing with one read, and took no lock (a write transaction on SQLite)
    assert moved == 0
    assert len(queries) == 1
    assert queries[0]["sql"].startswith("SELECT")
    assert "FOR UPDATE" not in queries[0]["sql"]


def test_a_submission_of_a_deleted_field_is_still_taken(workspace: Workspace) -> None:
    make_field(workspace, "city", "text")
    form = make_form(workspace, fields=[{"key": "city"}])
    sign_up(form, email="anna@example.com", field_city="Bern")
    contact_fields.delete_field(workspace, "city")

    submissions.process_due()

    contact = Contact.objects.get()
    assert contact.fields == {}
    assert Submission.objects.get().status == "requested"


def test_the_persons_sign_ups_are_exported_and_erased(workspace: Workspace) -> None:
    form = make_form(workspace)
    sign_up(form, email="anna@example.com", first_name="Anna")
    submissions.process_due()
    sign_up(form, email="ANNA@example.com")  # not yet taken by the worker
    contact = Contact.objects.get()

    exported = privacy.export_contact(contact)["form_submissions"]
    privacy.erase_contact(contact, reason="request")

    assert [(s["email"], s["status"], s["ip"]) for s in exported] == [
        ("anna@example.com", "requested", "203.0.113.9"),
        ("anna@example.com", "received", "203.0.113.9"),
    ]
    assert exported[0]["values"] == {"first_name": "Anna", "fields": {}}
    assert Submission.objects.count() == 0
