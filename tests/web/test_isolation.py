"""Workspaces are sealed: B's users and tokens get 404 for every id of A, and change nothing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client

from terminflow.campaigns.models import Campaign
from terminflow.contacts.models import Contact
from terminflow.etermin import services as etermin
from terminflow.etermin.models import EterminAccount, WebPush
from terminflow.kit import clock
from terminflow.mail.models import EmailTemplate
from terminflow.workspaces.models import Role
from tests.campaigns.factories import element, make_campaign
from tests.conftest import ApiClient, make_workspace
from tests.contacts.factories import make_contact
from tests.mail.conftest import make_email

from .conftest import logged_in, make_user


class TenantA:
    """Workspace A with one of each: contact, campaign, email, eTermin account, inbox item."""

    def __init__(self) -> None:
        self.workspace = make_workspace("Praxis A")
        self.contact = make_contact(
            self.workspace, email="patient@a.example", first_name="Anna", tags=["vip"]
        )
        self.campaign = make_campaign(
            self.workspace,
            [element("start", "contact.tag_added", tag="booked")],
            status="draft",
        )
        self.email = make_email(self.workspace)
        self.account = etermin.connect_account(
            self.workspace, name="A", public_key="pub-a", private_key="priv-a", verify=False
        )
        body = b"appointmentUID=u-1&command=CREATED"
        self.push = WebPush.objects.create(
            account=self.account,
            workspace=self.workspace,
            received_at=clock.now(),
            content_type="application/x-www-form-urlencoded",
            body=body,
            body_sha256=hashlib.sha256(body).hexdigest(),
            status="failed",
            reason="The push has no email address.",
        )

    def snapshot(self) -> dict[str, Any]:
        contact = Contact.objects.get(pk=self.contact.pk)
        account = EterminAccount.objects.get(pk=self.account.pk)
        return {
            "contact": (contact.email, contact.first_name, contact.email_status),
            "tags": sorted(contact.contact_tags.values_list("tag__name", flat=True)),
            "notes": contact.notes.count(),
            "campaign": Campaign.objects.filter(pk=self.campaign.pk)
            .values_list("name", "status")
            .get(),
            "email": EmailTemplate.objects.filter(pk=self.email.pk)
            .values_list("name", "subject", "version")
            .get(),
            "account": (
                account.name,
                account.public_key,
                account.private_key_encrypted,
                account.web_push_token_hash,
                account.synced_at,
            ),
            "push": WebPush.objects.filter(pk=self.push.pk).values_list("status").get(),
        }


@pytest.fixture
def tenant_a(db) -> TenantA:
    return TenantA()


@pytest.fixture
def tenant_b(db):
    return make_workspace("Zahnarzt B")


def api_calls(a: TenantA) -> list[tuple[str, str, dict | None]]:
    contact, campaign, email = a.contact.pk, a.campaign.pk, a.email.pk
    account, push = a.account.pk, a.push.pk
    return [
        ("get", f"/api/v1/contacts/{contact}", None),
        ("patch", f"/api/v1/contacts/{contact}", {"first_name": "Mallory"}),
        ("delete", f"/api/v1/contacts/{contact}", None),
        ("get", f"/api/v1/contacts/{contact}/appointments", None),
        ("get", f"/api/v1/contacts/{contact}/consent", None),
        ("get", f"/api/v1/contacts/{contact}/export", None),
        ("post", f"/api/v1/contacts/{contact}/erase", {}),
        ("get", f"/api/v1/campaigns/{campaign}", None),
        ("put", f"/api/v1/campaigns/{campaign}", {"name": "Mallory", "status": "draft"}),
        ("post", f"/api/v1/campaigns/{campaign}/activate", {}),
        ("post", f"/api/v1/campaigns/{campaign}/pause", {}),
        ("get", f"/api/v1/campaigns/{campaign}/stats", None),
        ("post", f"/api/v1/campaigns/{campaign}/reset", {}),
        ("get", f"/api/v1/campaigns/{campaign}/contacts/{contact}", None),
        ("post", f"/api/v1/campaigns/{campaign}/contacts/{contact}/reset", {}),
        ("get", f"/api/v1/emails/{email}", None),
        (
            "put",
            f"/api/v1/emails/{email}",
            {"name": "Mallory", "subject": "x", "body_html": "<p>x {{ links.unsubscribe }}</p>"},
        ),
        ("post", f"/api/v1/emails/{email}/preview", {"contact_id": contact}),
        ("get", f"/api/v1/etermin/accounts/{account}", None),
        ("patch", f"/api/v1/etermin/accounts/{account}", {"rotate_web_push_token": True}),
        ("delete", f"/api/v1/etermin/accounts/{account}", None),
        ("get", f"/api/v1/etermin/accounts/{account}/calendars", None),
        ("post", f"/api/v1/etermin/accounts/{account}/sync", {}),
        ("get", f"/api/v1/inbox?account_id={account}", None),
        ("get", f"/api/v1/inbox/{push}", None),
        ("post", f"/api/v1/inbox/{push}/retry", {}),
    ]


def call(client: Client, method: str, path: str, body: dict | None) -> Any:
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=body, content_type="application/json")


def test_a_token_of_workspace_b_gets_404_for_every_id_of_a(tenant_a, tenant_b):
    # given
    token = ApiClient(tenant_b)
    before = tenant_a.snapshot()
    # when
    responses = {
        (method, path): call(token._client, method, path, body)
        for method, path, body in api_calls(tenant_a)
    }
    # then
    for (method, path), response in responses.items():
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["code"] == "not_found", (method, path)
    assert tenant_a.snapshot() == before


@pytest.mark.parametrize("role", [Role.ADMIN, Role.EDITOR])
def test_a_session_user_of_workspace_b_gets_404_for_every_id_of_a(tenant_a, tenant_b, role):
    # given
    client = logged_in(make_user("someone@b.example", tenant_b, role))
    before = tenant_a.snapshot()
    # when
    responses = {
        (method, path): call(client, method, path, body)
        for method, path, body in api_calls(tenant_a)
    }
    # then
    for (method, path), response in responses.items():
        assert response.status_code == 404, (method, path, response.content)
    assert tenant_a.snapshot() == before


def test_b_sees_none_of_a_in_lists(tenant_a, tenant_b):
    # given
    token = ApiClient(tenant_b)
    # when
    lists = {
        path: token.get(path).json()
        for path in (
            "/api/v1/campaigns",
            "/api/v1/emails",
            "/api/v1/etermin/accounts",
            f"/api/v1/outbox?contact_id={tenant_a.contact.pk}",
            "/api/v1/fields",
            "/api/v1/tags",
        )
    }
    contacts = token.get("/api/v1/contacts").json()
    inbox = token.get("/api/v1/inbox").json()
    # then
    assert all(value == [] for value in lists.values()), lists
    assert (contacts["items"], inbox["items"]) == ([], [])


def test_the_pages_of_workspace_b_answer_404_for_every_id_of_a(tenant_a, tenant_b):
    # given
    client = logged_in(make_user("admin@b.example", tenant_b, Role.ADMIN))
    a = tenant_a
    before = a.snapshot()
    contact, campaign, email = a.contact.pk, a.campaign.pk, a.email.pk
    # when
    gets = [
        f"/contacts/{contact}/",
        f"/contacts/{contact}/edit/",
        f"/contacts/{contact}/export.json",
        f"/campaigns/{campaign}/",
        f"/campaigns/{campaign}/contacts/",
        f"/campaigns/{campaign}/contacts/{contact}/",
        f"/emails/{email}/",
        f"/emails/preview/?email_id={email}",
    ]
    posts = [
        (f"/contacts/{contact}/edit/", {"email": "m@b.example", "email_status": "unknown"}),
        (f"/contacts/{contact}/delete/", {}),
        (f"/contacts/{contact}/erase/", {}),
        (f"/contacts/{contact}/notes/", {"text": "Mallory was here"}),
        (f"/contacts/{contact}/tags/", {"add": "hacked"}),
        (f"/campaigns/{campaign}/contacts/{contact}/reset/", {}),
        (f"/campaigns/{campaign}/reset-all/", {}),
        (f"/emails/{email}/", {"name": "Mallory", "kind": "marketing", "subject": "x"}),
        (f"/settings/api/etermin/accounts/{a.account.pk}/rotate/", {}),
        (f"/settings/api/etermin/accounts/{a.account.pk}/delete/", {}),
        (f"/settings/api/etermin/accounts/{a.account.pk}/sync/", {}),
        (
            f"/settings/api/etermin/accounts/{a.account.pk}/keys/",
            {"public_key": "pub-m", "private_key": "priv-m"},
        ),
        (f"/inbox/{a.push.pk}/retry/", {}),
    ]
    statuses = {("GET", path): client.get(path).status_code for path in gets}
    statuses.update({("POST", path): client.post(path, data).status_code for path, data in posts})
    # then
    assert {key: status for key, status in statuses.items() if status != 404} == {}
    assert a.snapshot() == before


def test_pages_of_workspace_b_list_nothing_of_a(tenant_a, tenant_b):
    # given
    client = logged_in(make_user("admin@b.example", tenant_b, Role.ADMIN))
    # when
    pages = [
        client.get(path).content.decode()
        for path in (
            "/",
            "/contacts/",
            "/campaigns/",
            "/emails/",
            "/inbox/",
            "/outbox/",
            "/settings/api/etermin/",
            f"/inbox/?account={tenant_a.account.pk}",
        )
    ]
    export = client.get("/contacts/export.csv")
    csv_text = b"".join(export.streaming_content).decode("utf-8-sig")
    # then
    for text in [*pages, csv_text]:
        assert "patient@a.example" not in text
        assert "u-1" not in text
        assert tenant_a.account.web_push_token not in text
