"""The public sign-up page over real HTTP: the sign-up, its DOI email, its confirmation.

terminflow's front serves ``/f/<id>`` on a loopback port, the worker's steps run in this
process, and emails go to a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import re

import httpx
import pytest
from django.test import override_settings

from terminflow.campaigns import engine
from terminflow.campaigns.models import Enrollment, Run
from terminflow.contacts import consent
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentEvent, Contact
from terminflow.forms import services, submissions
from terminflow.forms.models import Form, Submission, SubmissionCounter
from terminflow.mail import sending
from terminflow.mail.models import Outbox
from terminflow.workspaces.models import Workspace
from tests.fixtures.sandbox import ServerThread
from tests.fixtures.smtp import Received, SmtpServer
from tests.mail.conftest import make_contact

from .factories import CONSENT, make_form, make_form_campaign, make_marketing_email

pytestmark = pytest.mark.django_db(transaction=True)
BROWSER = {"Accept": "text/html,application/xhtml+xml", "User-Agent": "Mozilla/5.0 Test"}


def work() -> None:
    """One pass of what the worker's sweeps do, in order."""
    while submissions.process_due():
        pass
    while engine.advance_due():
        pass
    while sending.send_due():
        pass


def post(front: ServerThread, form: Form, data: dict[str, str], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{front.url}/f/{form.public_id}",
        data=data,
        headers={**BROWSER, **headers},
        follow_redirects=False,
    )


def confirm_path(message: Received) -> str:
    found = re.search(r"http://testserver(/mail/confirm/[^\s)\"]+/)", message.part("text/plain"))
    assert found is not None, message.part("text/plain")
    return found.group(1)


def stored() -> dict[str, int]:
    return {
        "contacts": Contact.objects.count(),
        "submissions": Submission.objects.count(),
        "outbox": Outbox.objects.count(),
        "consent": ConsentEvent.objects.count(),
    }


def test_a_sign_up_gets_the_doi_email_and_its_confirmation_starts_the_form_campaign(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    # given a form and an active campaign started by it
    form = make_form(workspace)
    campaign = make_form_campaign(workspace, form, make_marketing_email(workspace))

    # when a person signs up on the hosted page
    response = post(
        terminflow_front, form, {"email": "Lea.Brunner@Example.ch", "first_name": "Lea"}
    )
    work()

    # then they see the thank-you text, and get the form's DOI email
    assert response.status_code == 200
    assert "Vielen Dank! Wir haben Ihnen eine E-Mail geschickt" in response.text
    contact = Contact.objects.get(workspace=workspace)
    assert (contact.email, contact.first_name, contact.email_status) == (
        "lea.brunner@example.ch",
        "Lea",
        "unknown",
    )
    [doi] = smtp.messages
    assert doi.rcpt_tos == ["lea.brunner@example.ch"]
    assert doi.message["Subject"] == "Bitte bestätigen"
    assert Enrollment.objects.count() == 0
    assert contact_tags.tag_names(contact) == []

    # when they confirm (the confirmation page POSTs)
    confirmed = httpx.post(terminflow_front.url + confirm_path(doi))
    work()

    # then the contact is confirmed_doi, tagged, and the form's campaign ran its first action
    assert confirmed.status_code == 200
    contact.refresh_from_db()
    assert contact.email_status == "confirmed_doi"
    assert contact_tags.tag_names(contact) == ["newsletter"]
    [enrollment] = Enrollment.objects.filter(campaign=campaign)
    assert enrollment.contact_id == contact.pk
    assert enrollment.context["form_id"] == form.pk
    runs = dict(Run.objects.filter(enrollment=enrollment).values_list("element__key", "status"))
    assert runs == {"signup": "completed", "welcome": "completed"}
    [_, welcome] = smtp.messages
    assert welcome.message["Subject"] == "Willkommen!"
    submission = Submission.objects.get()
    assert (submission.status, submission.contact_id) == ("confirmed", contact.pk)

    # and confirming again changes nothing
    assert httpx.post(terminflow_front.url + confirm_path(doi)).status_code == 200
    work()
    assert Enrollment.objects.count() == 1
    assert len(smtp.messages) == 2


def test_the_ledger_names_the_form_and_the_consent_version_the_person_saw(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    # given a form whose consent text was changed once
    form = make_form(workspace)
    form = services.update_form(
        form,
        services.FormData(
            name=form.name,
            doi_email_id=form.doi_email_id,
            consent_text="Neuer Text, Version 2.",
            fields=form.fields,
        ),
    )

    # when someone signs up
    post(terminflow_front, form, {"email": "anna@example.com"})
    work()

    # then the DOI request in the ledger names the form, version 2 and its text's hash
    [event] = ConsentEvent.objects.filter(kind="doi_requested")
    assert event.source == f"form {form.pk}"
    assert event.details["form_id"] == form.pk
    assert event.details["form_consent_version"] == 2
    assert event.details["form_consent_sha256"] == services.consent_sha256("Neuer Text, Version 2.")
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "Mozilla/5.0 Test"
    assert form.consent_versions.count() == 2
    assert Submission.objects.get().consent_version == 2


def test_the_honeypot_gets_the_same_answer_and_nothing_is_stored_or_sent(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    form = make_form(workspace)
    before = stored()
    good = post(terminflow_front, form, {"email": "real@example.com"})
    Submission.objects.all().delete()

    bot = post(terminflow_front, form, {"email": "bot@example.com", "website": "http://spam"})
    work()

    assert (bot.status_code, bot.text) == (good.status_code, good.text)
    assert stored() == before
    assert smtp.messages == []


@override_settings(FORM_SUBMISSIONS_PER_ADDRESS=3)
def test_the_rate_limit_per_client_address_answers_429_and_stores_nothing(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    form = make_form(workspace)
    answers = [
        post(terminflow_front, form, {"email": f"p{i}@example.com"}).status_code for i in range(3)
    ]
    work()
    before = stored()

    refused = post(terminflow_front, form, {"email": "p4@example.com"})
    work()

    assert answers == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3600"
    assert "Zu viele Anmeldungen in kurzer Zeit." in refused.text
    assert stored() == before
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]


@override_settings(FORM_SUBMISSIONS_PER_EMAIL=2)
def test_the_rate_limit_per_email_address_holds_across_client_addresses(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    form = make_form(workspace)
    first = [post(terminflow_front, form, {"email": "lea@example.com"}) for _ in range(2)]
    other = post(terminflow_front, form, {"email": "other@example.com"})

    refused = post(terminflow_front, form, {"email": "LEA@example.com"})

    assert [r.status_code for r in first] == [200, 200]
    assert other.status_code == 200
    assert refused.status_code == 429
    assert Submission.objects.filter(email="lea@example.com").count() == 2
    # the counters keep keyed hashes, never the address
    assert not SubmissionCounter.objects.filter(key__contains="lea").exists()
    assert not SubmissionCounter.objects.filter(key__contains="127.0.0.1").exists()


def test_new_known_confirmed_and_unsubscribed_addresses_get_the_same_answer(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    # given a form and contacts in every state
    form = make_form(workspace)
    make_contact(workspace, "known@example.com", status="confirmed_soi")
    make_contact(workspace, "confirmed@example.com", status="confirmed_doi")
    make_contact(workspace, "gone@example.com", status="unsubscribed")
    make_contact(workspace, "blocked@example.com", status="blocked")

    # when each signs up
    answers = {
        email: post(terminflow_front, form, {"email": email, "first_name": "X"})
        for email in (
            "new@example.com",
            "known@example.com",
            "confirmed@example.com",
            "gone@example.com",
            "blocked@example.com",
        )
    }

    # then status, headers that matter and body are identical
    shapes = {
        (r.status_code, r.headers["Content-Type"], r.headers.get("Set-Cookie"), r.text)
        for r in answers.values()
    }
    assert len(shapes) == 1
    # and afterwards: a DOI email to each address that may get one, none to the confirmed one
    work()
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "gone@example.com",
        "known@example.com",
        "new@example.com",
    ]
    statuses = dict(Submission.objects.values_list("email", "status"))
    assert statuses == {
        "new@example.com": "requested",
        "known@example.com": "requested",
        "confirmed@example.com": "confirmed",
        "gone@example.com": "requested",
        "blocked@example.com": "refused",
    }
    # a sign-up never overwrites the status a contact has
    assert dict(Contact.objects.values_list("email", "email_status")) == {
        "new@example.com": "unknown",
        "known@example.com": "confirmed_soi",
        "confirmed@example.com": "confirmed_doi",
        "gone@example.com": "unsubscribed",
        "blocked@example.com": "blocked",
    }


def test_json_clients_get_the_same_answer_for_known_and_unknown_addresses(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    form = make_form(workspace)
    make_contact(workspace, "confirmed@example.com", status="confirmed_doi")

    as_json = "application/json"
    known = post(terminflow_front, form, {"email": "confirmed@example.com"}, Accept=as_json)
    new = post(terminflow_front, form, {"email": "new@example.com"}, Accept=as_json)

    assert known.status_code == new.status_code == 200
    assert known.json() == new.json()
    assert new.json()["code"] == "received"


def test_an_unsubscribed_contact_comes_back_only_through_the_doi(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    # given an unsubscribed contact and a form campaign
    form = make_form(workspace)
    campaign = make_form_campaign(workspace, form, make_marketing_email(workspace))
    contact = make_contact(workspace, "gone@example.com", status="unsubscribed")

    # when they sign up again, the sign-up alone changes nothing
    post(terminflow_front, form, {"email": "gone@example.com", "first_name": "Gina"})
    work()
    contact.refresh_from_db()
    assert (contact.email_status, contact.first_name) == ("unsubscribed", "Anna")
    assert Enrollment.objects.filter(campaign=campaign).count() == 0
    [doi] = smtp.messages

    # when they confirm, they are subscribed again and the campaign starts
    assert httpx.post(terminflow_front.url + confirm_path(doi)).status_code == 200
    work()
    contact.refresh_from_db()
    # the name they typed replaces the stored one only now that the address is proven theirs
    assert (contact.email_status, contact.first_name) == ("confirmed_doi", "Gina")
    assert Enrollment.objects.filter(campaign=campaign, contact=contact).count() == 1


def test_a_doi_email_queued_before_the_contact_unsubscribed_is_not_sent(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    form = make_form(workspace)
    contact = make_contact(workspace, "lea@example.com", status="confirmed_soi")
    post(terminflow_front, form, {"email": "lea@example.com"})
    submissions.process_due()

    consent.set_email_status(contact, "unsubscribed", source="test")
    while sending.send_due():
        pass

    assert smtp.messages == []
    assert Outbox.objects.get().status == "cancelled"


def test_invalid_input_shows_the_form_again_with_422_and_stores_nothing(
    workspace: Workspace, terminflow_front: ServerThread, smtp: SmtpServer
) -> None:
    form = make_form(
        workspace,
        fields=[
            {"key": "email", "label": "E-Mail", "required": True},
            {"key": "first_name", "label": "Vorname", "required": True},
        ],
    )
    before = stored()

    response = post(terminflow_front, form, {"email": "not-an-address", "first_name": ""})
    too_long = post(terminflow_front, form, {"email": "a@example.com", "first_name": "x" * 201})
    as_json = post(
        terminflow_front, form, {"email": "nope", "first_name": "A"}, Accept="application/json"
    )
    work()

    assert response.status_code == 422
    assert "Bitte geben Sie eine gültige E-Mail-Adresse ein." in response.text
    assert "Bitte füllen Sie dieses Feld aus." in response.text
    assert 'value="not-an-address"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert too_long.status_code == 422
    assert "Höchstens 200 Zeichen." in too_long.text
    assert as_json.status_code == 422
    assert as_json.json()["errors"] == [
        {"field": "email", "message": "Bitte geben Sie eine gültige E-Mail-Adresse ein."}
    ]
    assert stored() == before
    assert smtp.messages == []


def test_a_body_over_the_cap_gets_413_and_stores_nothing(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    form = make_form(workspace)
    before = stored()

    response = post(terminflow_front, form, {"email": "a@example.com", "first_name": "x" * 20_000})

    assert response.status_code == 413
    assert stored() == before


def test_a_redirect_form_sends_people_on_with_303(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    form = make_form(workspace, redirect_url="https://praxis.example/danke")

    response = post(terminflow_front, form, {"email": "a@example.com"})

    assert response.status_code == 303
    assert response.headers["Location"] == "https://praxis.example/danke"
    assert Submission.objects.count() == 1


def test_unknown_inactive_and_other_ids_are_404(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    form = make_form(workspace, active=False)

    inactive = httpx.get(f"{terminflow_front.url}/f/{form.public_id}")
    by_number = httpx.get(f"{terminflow_front.url}/f/{form.pk}")
    posted = post(terminflow_front, form, {"email": "a@example.com"})

    assert (inactive.status_code, by_number.status_code, posted.status_code) == (404, 404, 404)
    assert Submission.objects.count() == 0


def test_the_hosted_page_speaks_the_workspace_language_and_shows_the_consent_text(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    # the workspace is de-CH; the visitor's browser asks for English
    form = make_form(workspace)

    page = httpx.get(
        f"{terminflow_front.url}/f/{form.public_id}", headers={"Accept-Language": "en"}
    )
    invalid = post(terminflow_front, form, {"email": "kaputt"})
    thanks = post(terminflow_front, form, {"email": "a@example.com"})

    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert "Anmelden" in page.text
    assert CONSENT in page.text
    assert '<label for="f-email">E-Mail' in page.text
    assert "script" not in page.headers["Content-Security-Policy"].replace("default-src", "")
    assert "Bitte geben Sie eine gültige E-Mail-Adresse ein." in invalid.text
    assert "Bitte überprüfen Sie Ihre Angaben:" in invalid.text
    assert "Vielen Dank! Wir haben Ihnen eine E-Mail geschickt" in thanks.text


def test_the_post_needs_no_csrf_token_and_no_cookie(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    form = make_form(workspace)

    response = post(
        terminflow_front, form, {"email": "a@example.com"}, Origin="http://other.example"
    )

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_workspace_in_english_gets_the_page_in_english(
    workspace: Workspace, terminflow_front: ServerThread
) -> None:
    workspace.locale = "en-GB"
    workspace.save()
    form = make_form(workspace, fields=[])

    page = httpx.get(
        f"{terminflow_front.url}/f/{form.public_id}", headers={"Accept-Language": "de"}
    )
    thanks = post(terminflow_front, form, {"email": "a@example.com"})

    assert '<html lang="en">' in page.text
    assert '<label for="f-email">Email address' in page.text
    assert ">Sign up</button>" in page.text
    assert "Thank you! We have sent you an email" in thanks.text
