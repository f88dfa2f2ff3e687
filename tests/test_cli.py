"""``terminflow createadmin`` and ``terminflow apitoken``, run in-process."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.test import Client

from terminflow.cli import main
from terminflow.kit.crypto import token_hash
from terminflow.workspaces.models import ApiToken, Membership, User, Workspace

pytestmark = pytest.mark.django_db


def test_createadmin_creates_user_workspace_and_membership(capsys):
    # when
    code = main(
        ["createadmin", "--email", "Anna@Example.CH", "--password", "s3cret!", "--workspace", "Spa"]
    )
    # then
    assert code == 0
    out = capsys.readouterr().out
    assert out == "Admin anna@example.ch can now log in to workspace 'Spa'.\n"
    user = User.objects.get()
    assert (user.email, user.is_staff, user.is_superuser) == ("anna@example.ch", True, True)
    assert authenticate(username="anna@example.ch", password="s3cret!") == user
    membership = Membership.objects.get()
    assert (membership.user, membership.workspace.name, membership.role) == (user, "Spa", "admin")
    assert Workspace.objects.get().plan.key == "basic"


def test_createadmin_twice_changes_password_without_duplicates(capsys):
    # given
    main(["createadmin", "--email", "anna@example.ch", "--password", "old", "--workspace", "Spa"])
    # when
    code = main(
        ["createadmin", "--email", "ANNA@example.ch", "--password", "new", "--workspace", "Spa"]
    )
    # then
    assert code == 0
    assert (User.objects.count(), Workspace.objects.count(), Membership.objects.count()) == (
        1,
        1,
        1,
    )
    assert authenticate(username="anna@example.ch", password="new") is not None
    assert authenticate(username="anna@example.ch", password="old") is None


def test_apitoken_prints_a_working_token_stored_only_as_hash(capsys):
    # given
    main(["createadmin", "--email", "anna@example.ch", "--password", "pw", "--workspace", "Spa"])
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
