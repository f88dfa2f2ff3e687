"""Export and erasure of one person's data (``contacts.privacy`` and its API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from terminflow.campaigns.engine import advance_due
from terminflow.campaigns.models import Enrollment, Run
from terminflow.contacts import notes as contact_notes
from terminflow.contacts import privacy
from terminflow.contacts import services as contacts
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentEvent, Contact, Erasure, Note
from terminflow.etermin.models import Appointment, EterminAccount, WebPush
from terminflow.etermin.processing import process_pending
from terminflow.forms import submissions as form_submissions
from terminflow.mail import bounces
from terminflow.mail.models import BounceMessage, Outbox
from terminflow.web import contact_import
from terminflow.web.models import ContactImportRow
from terminflow.workspaces.models import Membership, Role, User, Workspace
from tests.conftest import ApiClient, make_workspace
from tests.etermin.factories import (
    etermin_element,
    make_account,
    make_campaign,
    make_field,
    push_body,
    store_push,
)
from tests.forms.factories import make_form
from tests.mail.conftest import make_email

SAMPLES = Path(__file__).parents[1] / "mail" / "bounce_samples"
EMAIL = "quirina.zwyssig@example.ch"
PHONE_E164 = "+41795550123"
OTHER_EMAIL = "bruno.keller@example.ch"
# What must not survive an erasure, in every spelling a column could hold it.
ERASED = [
    EMAIL,
    quote_plus(EMAIL),
    "Quirina",
    "Zwyssig",
    PHONE_E164,
    "79 555 01 23",
    "Knieschmerzen",
]


def person_push(uid: str, **extra: Any) -> bytes:
    return push_body(
        "CREATED",
        uid,
        email=EMAIL,
        firstName="Quirina",
        lastName="Zwyssig",
        phone="+41 79 555 01 23",
        notes="Knieschmerzen seit dem Skiurlaub",
        **extra,
    )


def other_push(uid: str) -> bytes:
    return push_body(
        "CREATED",
        uid,
        email=OTHER_EMAIL,
        firstName="Bruno",
        lastName="Keller",
        phone="+41 79 555 09 87",
        notes="Rollstuhlzugang",
    )


def booked_person(workspace: Workspace) -> tuple[Contact, Contact]:
    """A booking flow run for the person and for someone else, with every kind of trace."""
    account = make_account(workspace)
    make_field(workspace, "termin")
    doi = make_email(
        workspace,
        "doi",
        subject="Hallo {{ contact.first_name }} {{ contact.last_name }}",
        body_html=(
            "<p>{{ contact.first_name }} {{ contact.last_name }}, {{ contact.phone }}:"
            " {{ appointment.notes }}</p><p><a href='{{ links.confirm }}'>OK</a></p>"
        ),
    )
    make_campaign(
        workspace,
        [
            etermin_element(save_notes=True, start_field="termin"),
            {"id": "doi", "type": "email.doi", "config": {"email_id": doi.pk}, "position": {}},
        ],
        [("booking", "doi")],
    )
    store_push(account, person_push("uid-q1"))
    store_push(account, other_push("uid-b1"))
    while process_pending():
        pass
    while advance_due():
        pass
    # a push still waiting in the inbox, form-encoded, for an appointment not yet registered
    form = f"command=CREATED&appointmentUID=uid-q2&email={quote_plus(EMAIL)}&firstName=Quirina"
    store_push(account, form.encode(), content_type="application/x-www-form-urlencoded")
    person = Contact.objects.get(workspace=workspace, email=EMAIL)
    other = Contact.objects.get(workspace=workspace, email=OTHER_EMAIL)
    contact_tags.add_tags(person, ["knie"])
    contact_notes.add_note(person, "Ruft lieber abends an", source="ui")
    upload = (
        "email,first_name,last_name,phone\n"
        f"{OTHER_EMAIL},Bruno,Keller,+41795550987\n"
        f"{EMAIL.upper()},Quirina,Zwyssig,{PHONE_E164}\n"
        "not-an-email,Quirina,Zwyssig,\n"
    )
    item = contact_import.start_import(workspace, None, filename="praxis.csv", raw=upload.encode())
    contact_import.configure(
        item,
        mapping={"0": "email", "1": "first_name", "2": "last_name", "3": "phone"},
        email_status="unknown",
        add_tags=[],
    )
    contact_import.import_chunk(item.pk, workspace)
    # and the same list uploaded again, not imported yet: its rows wait in the database
    contact_import.start_import(workspace, None, filename="praxis-2.csv", raw=upload.encode())
    # a sign-up on a form, not yet taken by the worker (tied to the address only)
    signup = make_form(workspace)
    form_submissions.submit(signup, {"email": EMAIL.upper(), "first_name": "Quirina"}, ip=None)
    # a late bounce of their email, and an auto-reply from them kept for review
    row = Outbox.objects.get(contact=person)
    bounce = (SAMPLES / "postfix_hard.eml").read_text()
    for placeholder, value in (
        ("@@TOKEN@@", row.public_id.hex),
        ("@@MESSAGE_ID@@", row.message_id.strip("<>")),
        ("@@RCPT@@", EMAIL),
    ):
        bounce = bounce.replace(placeholder, value)
    assert bounces.record(bounce.encode()).status == "applied"  # type: ignore[union-attr]
    reply = f"From: Quirina Zwyssig <{EMAIL}>\r\nSubject: Ferien\r\n\r\nBin weg.\r\n"
    assert bounces.record(reply.encode()).status == "review"  # type: ignore[union-attr]
    operator = User.objects.create_user(
        email="operator@terminflow.test", password="x" * 16, is_staff=True
    )
    LogEntry.objects.create(
        user=operator,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(person.pk),
        object_repr=EMAIL,
        action_flag=ADDITION,
        change_message="",
    )
    return person, other


def _text(value: Any) -> str:
    if isinstance(value, memoryview | bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def columns_naming(needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every value in every table of the database naming a needle."""
    hits: list[tuple[str, str, str]] = []
    lowered = [n.lower() for n in needles]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor, include_views=False):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            names = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for name, value in zip(names, row, strict=True):
                    if value is None:
                        continue
                    text = _text(value).lower()
                    hits.extend((table, name, n) for n in lowered if n in text)
    return sorted(set(hits))


# -- erasure -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_erasure_leaves_no_trace_of_the_person_in_any_table(workspace: Workspace) -> None:
    # given the person booked, got an email, has a note, a tag, an import row and admin history
    person, other = booked_person(workspace)
    assert Outbox.objects.filter(contact=person).count() == 1
    assert Appointment.objects.filter(contact=person).count() == 1
    assert {t for t, _, _ in columns_naming(ERASED)} >= {
        "contacts_contact",
        "contacts_note",
        "etermin_inbox",
        "etermin_appointment",
        "mail_outbox",
        "web_contactimportrow",
        "django_admin_log",
        "mail_bouncemessage",
        "forms_submission",
    }
    assert BounceMessage.objects.count() == 2
    ledger = list(
        ConsentEvent.objects.filter(contact=person)
        .order_by("occurred_at", "pk")
        .values_list("kind", flat=True)
    )

    # when the person is erased through the API
    response = ApiClient(workspace).post(f"/api/v1/contacts/{person.pk}/erase", {})

    # then no table names them any more, in any spelling
    assert response.status_code == 200, response.content
    assert columns_naming(ERASED) == []
    # and the pseudonymised record proves what happened
    [erasure] = Erasure.objects.filter(workspace=workspace)
    assert erasure.email_hash == privacy.email_pseudonym(workspace.pk, EMAIL)
    assert erasure.reason == "request"
    assert [entry["kind"] for entry in erasure.ledger] == ledger
    assert ledger == ["soi", "doi_requested", "bounced", "blocked"]
    assert response.json()["email_hash"] == erasure.email_hash
    assert response.json()["removed"]["emails"] == 3  # the email, its bounce, the reply
    assert response.json()["removed"]["admin_log"] == 1
    assert privacy.erasures_of(workspace.pk, EMAIL.upper()) == [erasure]
    # and the other customer keeps everything
    assert Contact.objects.filter(pk=other.pk).exists()
    assert Outbox.objects.filter(contact=other).count() == 1
    assert Appointment.objects.filter(contact=other).count() == 1
    assert WebPush.objects.filter(appointment_uid="uid-b1").count() == 1
    assert Note.objects.filter(contact=other).count() == 1
    assert [
        cells[1]
        for cells in ContactImportRow.objects.filter(contact_import__filename="praxis-2.csv")
        .order_by("number")
        .values_list("cells", flat=True)
    ] == ["Bruno"]  # the waiting upload keeps Bruno's row; both rows naming the person are gone
    assert {t for t, _, _ in columns_naming(["Bruno", "Rollstuhlzugang"])} >= {
        "contacts_contact",
        "etermin_inbox",
        "mail_outbox",
        "web_contactimportrow",
    }


@pytest.mark.django_db(transaction=True)
def test_erasure_stops_runs_and_queued_emails(workspace: Workspace) -> None:
    # given the person has a queued email and runs
    person, other = booked_person(workspace)
    assert Run.objects.filter(contact=person).exists()
    assert Outbox.objects.filter(contact=person, status="queued").count() == 1

    # when erased
    privacy.erase_contact(person, reason="consent_withdrawn")

    # then nothing of theirs is left to run or to send
    assert Run.objects.filter(contact_id=person.pk).count() == 0
    assert Enrollment.objects.filter(contact_id=person.pk).count() == 0
    assert Outbox.objects.filter(to_email=EMAIL).count() == 0
    assert Outbox.objects.filter(contact=other, status="queued").count() == 1
    assert Erasure.objects.get().reason == "consent_withdrawn"


@pytest.mark.django_db(transaction=True)
def test_later_push_of_an_erased_address_makes_a_new_contact(workspace: Workspace) -> None:
    # given the person was erased
    person, _ = booked_person(workspace)
    privacy.erase_contact(person)
    # The campaign's eTermin element names the account it was built for.
    account = EterminAccount.objects.get(workspace=workspace)

    # when they book again
    store_push(account, person_push("uid-q3"))
    while process_pending():
        pass

    # then a new contact starts with a fresh single opt-in
    again = Contact.objects.get(workspace=workspace, email=EMAIL)
    assert again.pk != person.pk
    assert again.email_status == "confirmed_soi"
    assert list(again.consent_events.values_list("kind", flat=True)) == ["soi"]
    assert Erasure.objects.count() == 1


def test_erase_refuses_an_unknown_reason_and_changes_nothing(
    workspace: Workspace, api: ApiClient
) -> None:
    person = contacts.create_contact(workspace, email=EMAIL, first_name="Quirina")

    response = api.post(f"/api/v1/contacts/{person.pk}/erase", {"reason": "because"})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert Contact.objects.filter(pk=person.pk).exists()
    assert Erasure.objects.count() == 0


def test_erase_of_another_workspaces_contact_is_404_and_erases_nothing(
    workspace: Workspace, api: ApiClient
) -> None:
    elsewhere = make_workspace("Praxis Enge")
    stranger = contacts.create_contact(elsewhere, email=EMAIL)

    erase = api.post(f"/api/v1/contacts/{stranger.pk}/erase", {})
    export = api.get(f"/api/v1/contacts/{stranger.pk}/export")

    assert (erase.status_code, erase.json()["code"]) == (404, "not_found")
    assert (export.status_code, export.json()["code"]) == (404, "not_found")
    assert Contact.objects.filter(pk=stranger.pk).exists()
    assert Erasure.objects.count() == 0


def test_pseudonyms_differ_between_workspaces_and_ignore_case(workspace: Workspace) -> None:
    elsewhere = make_workspace("Praxis Enge")

    here = privacy.email_pseudonym(workspace.pk, EMAIL)

    assert here == privacy.email_pseudonym(workspace.pk, f" {EMAIL.upper()} ")
    assert here != privacy.email_pseudonym(elsewhere.pk, EMAIL)
    assert len(here) == 64 and EMAIL not in here


def test_erasure_records_cannot_be_changed(workspace: Workspace) -> None:
    person = contacts.create_contact(workspace, email=EMAIL)
    erasure = privacy.erase_contact(person)

    with pytest.raises(ValueError, match="append-only"):
        erasure.save()
    with pytest.raises(ValueError, match="append-only"):
        Erasure.objects.filter(pk=erasure.pk).update(reason="other")
    assert Erasure.objects.get(pk=erasure.pk).reason == "request"


# -- export ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_export_holds_the_whole_person(workspace: Workspace) -> None:
    # given the booked person
    person, _ = booked_person(workspace)

    # when their data is exported
    response = ApiClient(workspace).get(f"/api/v1/contacts/{person.pk}/export")

    # then it holds contact, fields, tags, notes, appointments, campaigns, emails and consent
    assert response.status_code == 200
    data = response.json()
    assert data["format"] == "terminflow.contact-export/1"
    assert data["contact"]["email"] == EMAIL
    assert data["contact"]["first_name"] == "Quirina"
    assert data["contact"]["phone"] == PHONE_E164
    assert data["fields"] == {"termin": "2026-12-03T08:30:00+00:00"}
    assert data["tags"] == ["knie"]
    assert [n["text"] for n in data["notes"]] == [
        "Knieschmerzen seit dem Skiurlaub",
        "Ruft lieber abends an",
    ]
    [appointment] = data["appointments"]
    assert appointment["appointment_uid"] == "uid-q1"
    assert appointment["notes"] == "Knieschmerzen seit dem Skiurlaub"
    assert appointment["start"] == "2026-12-03T08:30:00+00:00"
    [campaign] = data["campaigns"]
    assert campaign["campaign"] == "Booking flow"
    assert [(r["element"], r["status"]) for r in campaign["runs"]] == [
        ("booking", "completed"),
        ("doi", "completed"),
    ]
    [email] = data["emails"]
    assert (email["subject"], email["status"], email["kind"]) == (
        "Hallo Quirina Zwyssig",
        "queued",
        "doi",
    )
    assert email["sent_at"] is None
    assert [c["kind"] for c in data["consent"]] == ["soi", "doi_requested", "bounced", "blocked"]
    assert "imports" not in data


def _member(workspace: Workspace, role: str) -> Any:
    from django.test import Client

    user = User.objects.create_user(email=f"{role}@praxis.ch", password="pw-long-enough-1")
    Membership.objects.create(user=user, workspace=workspace, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_viewer_may_neither_export_nor_erase(workspace: Workspace) -> None:
    person = contacts.create_contact(workspace, email=EMAIL)
    viewer = _member(workspace, Role.VIEWER)

    export = viewer.get(f"/api/v1/contacts/{person.pk}/export")
    erase = viewer.post(f"/api/v1/contacts/{person.pk}/erase", "{}", "application/json")

    assert (export.status_code, export.json()["code"]) == (403, "forbidden")
    assert erase.status_code == 403
    assert Contact.objects.filter(pk=person.pk).exists()
    assert Erasure.objects.count() == 0


def test_editor_session_exports(workspace: Workspace) -> None:
    person = contacts.create_contact(workspace, email=EMAIL, first_name="Quirina")
    editor = _member(workspace, Role.EDITOR)

    response = editor.get(f"/api/v1/contacts/{person.pk}/export")

    assert response.status_code == 200
    assert response.json()["contact"]["first_name"] == "Quirina"
