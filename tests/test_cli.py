"""``terminflow createadmin``, ``createoperator``, ``migrate`` and ``apitoken``, run in-process."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.test import Client
from django.utils import translation

from terminflow.cli import main
from terminflow.kit.crypto import token_hash
from terminflow.workspaces.models import ApiToken, Membership, User, Workspace

pytestmark = pytest.mark.django_db

GOOD = "Seefeld-Praxis-2026"
OTHER_GOOD = "Oerlikon-Zahn-2027"


def createadmin(email: str, password: str, workspace: str = "Spa", *extra: str) -> int:
    return main(
        ["createadmin", "--email", email, "--password", password, "--workspace", workspace, *extra]
    )


def createoperator(email: str, password: str, *extra: str) -> int:
    return main(["createoperator", "--email", email, "--password", password, *extra])


def password_hash(email: str) -> str:
    return User.objects.get(email=email).password


def test_createadmin_makes_a_workspace_admin_who_is_no_operator(capsys):
    # when
    with translation.override("en"):
        code = createadmin("Anna@Example.CH", GOOD)
    # then
    assert code == 0
    out = capsys.readouterr().out
    assert out == "Admin anna@example.ch can now log in to workspace 'Spa'.\n"
    user = User.objects.get()
    assert (user.email, user.is_staff, user.is_superuser) == ("anna@example.ch", False, False)
    assert authenticate(username="anna@example.ch", password=GOOD) == user
    membership = Membership.objects.get()
    assert (membership.user, membership.workspace.name, membership.role) == (user, "Spa", "admin")
    assert Workspace.objects.get().plan.key == "basic"


def test_createadmin_speaks_the_operators_english(capsys):
    # when
    code = createadmin("anna@example.ch", GOOD)
    # then
    assert code == 0
    assert capsys.readouterr().out == ("Admin anna@example.ch can now log in to workspace 'Spa'.\n")


def test_createadmin_for_an_existing_email_refuses_and_keeps_the_password(capsys):
    # given
    createadmin("anna@example.ch", GOOD)
    before = password_hash("anna@example.ch")
    capsys.readouterr()
    # when
    with translation.override("en"):
        code = createadmin("ANNA@example.ch", OTHER_GOOD, "Other shop")
    # then
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "A user with the email anna@example.ch already exists; "
        "add --reset-password to give them a new password.\n"
    )
    assert password_hash("anna@example.ch") == before
    assert authenticate(username="anna@example.ch", password=GOOD) is not None
    assert authenticate(username="anna@example.ch", password=OTHER_GOOD) is None
    assert list(Workspace.objects.values_list("name", flat=True)) == ["Spa"]
    assert (User.objects.count(), Membership.objects.count()) == (1, 1)


def test_createadmin_with_reset_password_changes_it_without_duplicates(capsys):
    # given
    createadmin("anna@example.ch", GOOD)
    # when
    code = createadmin("ANNA@example.ch", OTHER_GOOD, "Spa", "--reset-password")
    # then
    assert code == 0
    assert (User.objects.count(), Workspace.objects.count(), Membership.objects.count()) == (
        1,
        1,
        1,
    )
    assert authenticate(username="anna@example.ch", password=OTHER_GOOD) is not None
    assert authenticate(username="anna@example.ch", password=GOOD) is None
    user = User.objects.get()
    assert (user.is_staff, user.is_superuser) == (False, False)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "The password must not be empty."),
        ("s3cret!", "This password is too short. It must contain at least 10 characters."),
        ("1234567890123", "This password is too common. This password is entirely numeric."),
        ("password123", "This password is too common."),
        ("anna.muster@praxis", "The password is too similar to the email."),
    ],
)
def test_createadmin_refuses_passwords_the_validators_refuse(capsys, password, message):
    # when
    with translation.override("en"):
        code = createadmin("anna.muster@praxis.ch", password)
    # then
    assert code == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", message + "\n")
    assert (User.objects.count(), Workspace.objects.count(), Membership.objects.count()) == (
        0,
        0,
        0,
    )


def test_password_refusal_is_one_line_for_the_operator(capsys):
    # when
    code = createadmin("anna@example.ch", "kurz")
    # then
    assert code == 1
    assert capsys.readouterr().err == (
        "This password is too short. It must contain at least 10 characters.\n"
    )


def test_reset_password_is_checked_by_the_validators_too(capsys):
    # given
    createadmin("anna@example.ch", GOOD)
    before = password_hash("anna@example.ch")
    # when
    code = createadmin("anna@example.ch", "", "Spa", "--reset-password")
    # then
    assert code == 1
    assert password_hash("anna@example.ch") == before


def test_createoperator_makes_staff_and_superuser_in_no_workspace(capsys):
    # when
    with translation.override("en"):
        code = createoperator("Ops@Example.CH", GOOD)
    # then
    assert code == 0
    assert capsys.readouterr().out == "Operator ops@example.ch can now log in at /admin/.\n"
    user = User.objects.get()
    assert (user.email, user.is_staff, user.is_superuser) == ("ops@example.ch", True, True)
    assert Membership.objects.count() == 0
    assert Workspace.objects.count() == 0
    # and the operator opens the admin with that password
    client = Client()
    assert client.login(username="ops@example.ch", password=GOOD)
    assert client.get("/admin/").status_code == 200


def test_createoperator_refuses_an_existing_operator_without_reset_password(capsys):
    # given
    createoperator("ops@example.ch", GOOD)
    before = password_hash("ops@example.ch")
    capsys.readouterr()
    # when
    with translation.override("en"):
        refused = createoperator("ops@example.ch", OTHER_GOOD)
    err = capsys.readouterr().err
    reset = createoperator("ops@example.ch", OTHER_GOOD, "--reset-password")
    # then
    assert refused == 1
    assert err == (
        "The operator ops@example.ch already exists; "
        "add --reset-password to give them a new password.\n"
    )
    assert reset == 0
    assert password_hash("ops@example.ch") != before
    assert authenticate(username="ops@example.ch", password=OTHER_GOOD) is not None


def test_createoperator_never_promotes_a_workspace_user(capsys):
    # given
    createadmin("anna@example.ch", GOOD)
    before = password_hash("anna@example.ch")
    capsys.readouterr()
    # when
    with translation.override("en"):
        code = createoperator("anna@example.ch", OTHER_GOOD, "--reset-password")
    # then
    assert code == 1
    assert capsys.readouterr().err == (
        "anna@example.ch is already a user but not an operator; "
        "give the operator an email address of their own.\n"
    )
    user = User.objects.get()
    assert (user.is_staff, user.is_superuser, user.password) == (False, False, before)


def test_createoperator_refuses_a_weak_password(capsys):
    # when
    code = createoperator("ops@example.ch", "operator")
    # then
    assert code == 1
    assert User.objects.count() == 0


def test_migrate_names_workspace_members_who_are_operators(capsys):
    # given an admin made a superuser by an older createadmin, and a proper operator
    createadmin("anna@example.ch", GOOD)
    User.objects.filter(email="anna@example.ch").update(is_staff=True, is_superuser=True)
    createoperator("ops@example.ch", GOOD)
    capsys.readouterr()
    # when
    with translation.override("en"):
        code = main(["migrate"])
    # then
    assert code == 0
    err = capsys.readouterr().err
    assert err == (
        "These workspace members are also operators and can see every workspace in /admin/: "
        "anna@example.ch. If they do not run this server, remove their staff and superuser "
        "status (README, “Upgrading”).\n"
    )


def test_apitoken_prints_a_working_token_stored_only_as_hash(capsys):
    # given
    createadmin("anna@example.ch", GOOD)
    capsys.readouterr()
    # when
    code = main(["apitoken", "--workspace", "Spa", "--name", "zapier"])
    # then
    assert code == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert token.startswith("tf_")
    assert captured.out == token + "\n"
    assert "only its hash is stored" in captured.err
    record = ApiToken.objects.get()
    assert (record.name, record.workspace.name) == ("zapier", "Spa")
    assert record.token_hash == token_hash(token)
    assert token not in {record.token_hash, record.prefix, record.name}
    # and the token opens the API of that workspace
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/etermin/accounts")
    assert response.status_code == 200
    assert response.json() == []


def test_apitoken_for_unknown_workspace_exits_2(capsys):
    # when
    code = main(["apitoken", "--workspace", "Nowhere"])
    # then
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "terminflow: error: No workspace named 'Nowhere'.\n"
    assert ApiToken.objects.count() == 0


def test_missing_argument_exits_2(capsys):
    # when
    with pytest.raises(SystemExit) as caught:
        main(["createadmin", "--email", "anna@example.ch"])
    # then
    assert caught.value.code == 2
    assert "--password" in capsys.readouterr().err
    assert User.objects.count() == 0
