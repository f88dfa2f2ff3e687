"""``/admin/`` is the operators' door: closed to workspace people, rate-limited, password rules."""

from __future__ import annotations

import pytest
from django.test import Client

from terminflow.contacts.models import Contact
from terminflow.contacts.services import create_contact
from terminflow.etermin import services as etermin
from terminflow.workspaces.models import Plan, Role, User, Workspace
from terminflow.workspaces.services import (
    MAX_LOGIN_FAILURES_PER_PAIR,
    create_admin,
    create_operator,
)
from tests.conftest import make_workspace

from .conftest import logged_in

GOOD = "Seefeld-Praxis-2026"


@pytest.fixture
def tenant_a(db):
    return make_workspace("Praxis A")


@pytest.fixture
def tenant_b_admin(db) -> User:
    user, _workspace = create_admin(email="admin-b@example.ch", password=GOOD, workspace_name="B")
    return user


@pytest.fixture
def operator(db) -> User:
    return create_operator(email="ops@example.ch", password=GOOD)


def admin_urls(tenant_a: Workspace, user: User) -> list[str]:
    """A sample of the admin: index, changelists and change pages, over every app."""
    contact = create_contact(tenant_a, email="secret@a.example")
    account = etermin.connect_account(
        tenant_a, name="A", public_key="pub-a", private_key="priv-a", verify=False
    )
    return [
        "/admin/",
        "/admin/contacts/",
        "/admin/contacts/contact/",
        f"/admin/contacts/contact/{contact.pk}/change/",
        "/admin/contacts/consentevent/",
        "/admin/workspaces/user/",
        f"/admin/workspaces/user/{user.pk}/change/",
        f"/admin/workspaces/user/{user.pk}/password/",
        "/admin/workspaces/workspace/",
        f"/admin/workspaces/workspace/{tenant_a.pk}/change/",
        "/admin/workspaces/plan/",
        "/admin/workspaces/apitoken/",
        "/admin/etermin/eterminaccount/",
        f"/admin/etermin/eterminaccount/{account.pk}/change/",
        "/admin/etermin/webpush/",
        "/admin/campaigns/campaign/",
        "/admin/campaigns/run/",
        "/admin/mail/outbox/",
        "/admin/mail/emailtemplate/",
        "/admin/password_change/",
        "/admin/jsi18n/",
    ]


def test_a_workspace_admin_is_sent_to_the_login_on_every_admin_url(tenant_a, tenant_b_admin):
    # given
    client = logged_in(tenant_b_admin)
    urls = admin_urls(tenant_a, tenant_b_admin)
    # when
    responses = {url: client.get(url) for url in urls}
    # then
    for url, response in responses.items():
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/?next="), url
        assert b"secret@a.example" not in response.content


def test_a_workspace_admin_cannot_change_plans_or_users_through_the_admin(tenant_a, tenant_b_admin):
    # given
    client = logged_in(tenant_b_admin)
    basic = Plan.objects.get(key="basic")
    # when
    plan = client.post(
        f"/admin/workspaces/plan/{basic.pk}/change/",
        {"key": "basic", "name": "Hacked", "features": "[]"},
    )
    promote = client.post(
        f"/admin/workspaces/user/{tenant_b_admin.pk}/change/",
        {"username": tenant_b_admin.username, "is_staff": "on", "is_superuser": "on"},
    )
    # then
    assert (plan.status_code, promote.status_code) == (302, 302)
    basic.refresh_from_db()
    tenant_b_admin.refresh_from_db()
    assert basic.name == "Basic"
    assert (tenant_b_admin.is_staff, tenant_b_admin.is_superuser) == (False, False)


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_superuser": True}])
def test_half_an_operator_is_no_operator(tenant_a, flags):
    # given a user with only one of the two flags
    user = User.objects.create_user(email="half@example.ch", password=GOOD, **flags)
    client = logged_in(user)
    # when
    response = client.get("/admin/contacts/contact/")
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_an_operator_opens_every_admin_url(tenant_a, tenant_b_admin, operator):
    # given
    client = logged_in(operator)
    # when
    statuses = {url: client.get(url).status_code for url in admin_urls(tenant_a, tenant_b_admin)}
    # then
    assert set(statuses.values()) == {200}, statuses


def test_a_workspace_admin_cannot_log_in_to_the_admin_even_with_the_right_password(
    tenant_b_admin,
):
    # given
    client = Client()
    # when
    response = client.post("/admin/login/", {"username": "admin-b@example.ch", "password": GOOD})
    english = client.post(
        "/admin/login/",
        {"username": "admin-b@example.ch", "password": GOOD},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    # then
    assert response.status_code == 200
    assert "E-Mail oder Passwort ist falsch, oder dieses Konto ist kein Betreiber-Konto." in (
        response.content.decode()
    )
    assert "Email or password is wrong, or this account is not an operator." in (
        english.content.decode()
    )
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_an_operator_logs_in_to_the_admin(operator):
    # given
    client = Client()
    # when
    response = client.post("/admin/login/", {"username": "OPS@Example.ch", "password": GOOD})
    # then
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_login_is_rate_limited_per_email_and_address(operator):
    # given as many failures as allowed from one address
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(MAX_LOGIN_FAILURES_PER_PAIR):
        attacker.post("/admin/login/", {"username": "ops@example.ch", "password": "wrong"})
    # when the right password comes from the same address, and from the operator's own
    locked = attacker.post("/admin/login/", {"username": "ops@example.ch", "password": GOOD})
    own = Client(REMOTE_ADDR="198.51.100.4")
    allowed = own.post("/admin/login/", {"username": "ops@example.ch", "password": GOOD})
    # then
    assert locked.status_code == 429
    assert "Zu viele Fehlversuche. Bitte warten Sie 15 Minuten und versuchen Sie es erneut." in (
        locked.content.decode()
    )
    assert "_auth_user_id" not in attacker.session
    assert allowed.status_code == 302
    assert own.get("/admin/").status_code == 200


def test_admin_and_page_logins_share_their_counters(operator):
    # given failures on the pages' login
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(MAX_LOGIN_FAILURES_PER_PAIR):
        client.post("/login/", {"email": "ops@example.ch", "password": "wrong"})
    # when
    response = client.post("/admin/login/", {"username": "ops@example.ch", "password": GOOD})
    # then
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_admin_adds_users_by_email_who_can_then_log_in(operator, tenant_a):
    # given
    client = logged_in(operator)
    password = "Zahnarzt-Oerlikon-9"
    # when
    first, second, again = (
        client.post(
            "/admin/workspaces/user/add/",
            {
                "email": email,
                "usable_password": "true",
                "password1": password,
                "password2": password,
            },
        )
        for email in ("Lea@Example.ch", "ben@example.ch", "LEA@example.ch")
    )
    # then
    assert (first.status_code, second.status_code, again.status_code) == (302, 302, 200)
    assert "Ein Benutzer mit dieser E-Mail-Adresse existiert bereits." in again.content.decode()
    added = list(
        User.objects.exclude(pk=operator.pk)
        .order_by("email")
        .values_list("username", "email", "is_staff", "is_superuser")
    )
    assert added == [
        ("ben@example.ch", "ben@example.ch", False, False),
        ("lea@example.ch", "lea@example.ch", False, False),
    ]
    # and the new user logs in to the pages with that email once in a workspace
    User.objects.get(email="lea@example.ch").memberships.create(workspace=tenant_a)
    login = Client().post("/login/", {"email": "lea@example.ch", "password": password})
    assert login.status_code == 302


def test_the_admin_refuses_a_weak_password_for_a_new_user(operator):
    # given
    client = logged_in(operator)
    # when
    weak = client.post(
        "/admin/workspaces/user/add/",
        {
            "email": "new@example.ch",
            "usable_password": "true",
            "password1": "12345678",
            "password2": "12345678",
        },
    )
    # then
    assert weak.status_code == 200
    assert "Dieses Passwort ist zu kurz. Es muss mindestens 10 Zeichen enthalten." in (
        weak.content.decode()
    )
    assert not User.objects.filter(email="new@example.ch").exists()


def test_the_admin_refuses_a_weak_password_change(operator, tenant_b_admin):
    # given
    client = logged_in(operator)
    before = tenant_b_admin.password
    # when the first try is weak, the second strong
    response = client.post(
        f"/admin/workspaces/user/{tenant_b_admin.pk}/password/",
        {"usable_password": "true", "password1": "password", "password2": "password"},
    )
    tenant_b_admin.refresh_from_db()
    after_weak = tenant_b_admin.password
    strong = client.post(
        f"/admin/workspaces/user/{tenant_b_admin.pk}/password/",
        {
            "usable_password": "true",
            "password1": "Zahnarzt-Oerlikon-9",
            "password2": "Zahnarzt-Oerlikon-9",
        },
    )
    # then
    assert response.status_code == 200
    assert "Dieses Passwort ist zu üblich." in response.content.decode()
    assert after_weak == before
    assert strong.status_code == 302
    tenant_b_admin.refresh_from_db()
    assert tenant_b_admin.password != before
    assert tenant_b_admin.check_password("Zahnarzt-Oerlikon-9")


def test_a_viewer_of_workspace_a_sees_nothing_of_it_in_the_admin(tenant_a):
    # given
    viewer = User.objects.create_user(email="viewer@a.example", password=GOOD)
    viewer.memberships.create(workspace=tenant_a, role=Role.VIEWER)
    create_contact(tenant_a, email="someone@a.example")
    # when
    response = logged_in(viewer).get("/admin/contacts/contact/")
    # then
    assert response.status_code == 302
    assert Contact.objects.count() == 1
