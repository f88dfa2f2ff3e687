"""Operator admin for the team: invitations and the change log are there to read, not to edit."""

from __future__ import annotations

import pytest
from django.test import Client

from terminflow.workspaces.models import Invitation, Role, User

from .factories import invite, make_member


@pytest.fixture
def operator(db) -> Client:
    user = User.objects.create_user(email="op@example.ch", password="pw")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_operator_reads_invitations_without_their_hash_and_cannot_edit(operator, workspace):
    # given
    issued = invite(make_member(workspace, "admin@praxis.example", Role.ADMIN))
    row = Invitation.objects.get()
    # when
    listing = operator.get("/admin/workspaces/invitation/")
    detail = operator.get(f"/admin/workspaces/invitation/{row.pk}/change/")
    edit = operator.post(f"/admin/workspaces/invitation/{row.pk}/change/", {"role": "admin"})
    events = operator.get("/admin/workspaces/teamevent/")
    # then
    assert (listing.status_code, detail.status_code, events.status_code) == (200, 200, 200)
    assert "lea@praxis.example" in listing.content.decode()
    assert row.secret_hash not in detail.content.decode()
    assert issued.url not in detail.content.decode()
    assert edit.status_code == 403
    assert Invitation.objects.get().role == "editor"
