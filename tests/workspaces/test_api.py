"""The team API: /api/v1/members and /api/v1/invitations, by token and by session."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from terminflow.workspaces.models import ApiToken, Invitation, Membership, Role, TeamEvent
from terminflow.workspaces.services import issue_api_token
from tests.conftest import make_workspace

from .factories import invite, make_member


@pytest.fixture
def admin(workspace):
    return make_member(workspace, "admin@praxis.example", Role.ADMIN)


def _session(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _json(client: Client, method: str, path: str, body: object = None):
    call = getattr(client, method)
    if body is None:
        return call(path)
    return call(path, data=json.dumps(body), content_type="application/json")


def test_list_members_by_token(api, workspace, admin):
    # given
    make_member(workspace, "lea@praxis.example", Role.VIEWER)
    # when
    response = api.get("/api/v1/members")
    # then
    assert response.status_code == 200
    rows = response.json()
    assert [(r["email"], r["role"], r["name"]) for r in rows] == [
        ("admin@praxis.example", "admin", "Admin"),
        ("lea@praxis.example", "viewer", "Lea"),
    ]
    assert rows[0]["id"] == admin.pk
    assert rows[0]["last_login"] is None


def test_patch_and_delete_a_member_by_token(api, workspace, admin):
    # given
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    # when
    patched = api.patch(f"/api/v1/members/{lea.pk}", {"role": "viewer"})
    deleted = api.delete(f"/api/v1/members/{lea.pk}")
    # then
    assert (patched.status_code, patched.json()["role"]) == (200, "viewer")
    assert deleted.status_code == 204
    assert not Membership.objects.filter(pk=lea.pk).exists()
    prefix = ApiToken.objects.get(workspace=workspace).prefix
    assert list(TeamEvent.objects.order_by("id").values_list("kind", "actor_label")) == [
        ("role_changed", f"API token {prefix}…"),
        ("removed", f"API token {prefix}…"),
    ]


def test_last_admin_is_409_with_a_code(api, admin):
    # when
    demote = api.patch(f"/api/v1/members/{admin.pk}", {"role": "editor"})
    remove = api.delete(f"/api/v1/members/{admin.pk}")
    # then
    assert demote.status_code == 409
    assert demote.json() == {
        "detail": "The workspace's last admin cannot be given another role.",
        "code": "last_admin",
    }
    assert (remove.status_code, remove.json()["code"]) == (409, "last_admin")
    assert Membership.objects.get(pk=admin.pk).role == "admin"


def test_unknown_role_is_422(api, workspace, admin):
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    response = api.patch(f"/api/v1/members/{lea.pk}", {"role": "owner"})
    assert (response.status_code, response.json()["code"]) == (422, "invalid")
    assert Membership.objects.get(pk=lea.pk).role == "editor"


def test_another_workspaces_members_and_invitations_are_404(api, workspace, admin):
    # given
    other = make_workspace("Zahnarzt Oerlikon")
    chef = make_member(other, "chef@zahnarzt.example", Role.ADMIN)
    helper = make_member(other, "assistenz@zahnarzt.example", Role.EDITOR)
    their_invitation = invite(chef, "neu@zahnarzt.example").invitation
    # when
    answers = [
        api.patch(f"/api/v1/members/{helper.pk}", {"role": "admin"}),
        api.delete(f"/api/v1/members/{chef.pk}"),
        api.delete(f"/api/v1/invitations/{their_invitation.pk}"),
        api.post(f"/api/v1/invitations/{their_invitation.pk}/resend"),
    ]
    listed = api.get("/api/v1/members").json()
    # then
    assert [a.status_code for a in answers] == [404] * 4
    assert {r["email"] for r in listed} == {"admin@praxis.example"}
    assert Membership.objects.get(pk=helper.pk).role == "editor"
    assert Invitation.objects.get(pk=their_invitation.pk).revoked_at is None


def test_invite_by_api_sends_the_email(smtp, api):
    # when
    response = api.post("/api/v1/invitations", {"email": "Lea@Praxis.example", "role": "editor"})
    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"], body["status"], body["invited_by"]) == (
        "lea@praxis.example",
        "editor",
        "pending",
        None,
    )
    assert (body["email_sent"], body["email_problem"], body["accept_url"]) == (True, "", None)
    assert [m.rcpt_tos for m in smtp.messages] == [["lea@praxis.example"]]


def test_invite_without_smtp_returns_the_link_once(api):
    # when
    body = api.post("/api/v1/invitations", {"email": "lea@praxis.example", "role": "viewer"}).json()
    listed = api.get("/api/v1/invitations").json()
    # then
    assert body["email_sent"] is False
    assert body["accept_url"].startswith("http://testserver/invitations/")
    assert "accept_url" not in listed[0]
    assert listed[0]["sent_at"] is None


def test_invite_conflicts_and_bad_input(api, workspace, admin):
    # given
    make_member(workspace, "lea@praxis.example", Role.EDITOR)
    api.post("/api/v1/invitations", {"email": "neu@praxis.example", "role": "viewer"})
    # when
    member = api.post("/api/v1/invitations", {"email": "lea@praxis.example", "role": "viewer"})
    again = api.post("/api/v1/invitations", {"email": "neu@praxis.example", "role": "admin"})
    bad_email = api.post("/api/v1/invitations", {"email": "kaputt", "role": "viewer"})
    bad_role = api.post("/api/v1/invitations", {"email": "x@praxis.example", "role": "boss"})
    # then
    assert (member.status_code, member.json()["code"]) == (409, "already_member")
    assert (again.status_code, again.json()["code"]) == (409, "already_invited")
    assert (bad_email.status_code, bad_email.json()["code"]) == (422, "invalid")
    assert (bad_role.status_code, bad_role.json()["code"]) == (422, "invalid")
    assert list(Invitation.objects.values_list("email", "role")) == [
        ("neu@praxis.example", "viewer")
    ]


def test_revoke_and_resend_by_api(api, admin):
    # given
    first = invite(admin)
    # when
    resent = api.post(f"/api/v1/invitations/{first.invitation.pk}/resend")
    revoked = api.delete(f"/api/v1/invitations/{first.invitation.pk}")
    revoked_again = api.delete(f"/api/v1/invitations/{first.invitation.pk}")
    # then
    assert resent.status_code == 200
    assert resent.json()["accept_url"] != first.url
    assert revoked.status_code == 204
    assert (revoked_again.status_code, revoked_again.json()["code"]) == (409, "conflict")
    assert api.get("/api/v1/invitations").json() == []


def test_viewer_session_reads_members_and_invitations_without_emails(workspace, admin):
    # given
    viewer = make_member(workspace, "tom@praxis.example", Role.VIEWER)
    invite(admin, "geheim@praxis.example")
    client = _session(viewer)
    # when
    members = client.get("/api/v1/members")
    invitations = client.get("/api/v1/invitations")
    # then
    assert members.status_code == 200
    assert {m["email"] for m in members.json()} == {"admin@praxis.example", "tom@praxis.example"}
    assert [(i["email"], i["invited_by"], i["role"]) for i in invitations.json()] == [
        (None, None, "editor")
    ]
    assert "geheim" not in invitations.content.decode()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_viewer_and_editor_sessions_change_nothing(workspace, admin, role):
    # given
    member = make_member(workspace, "tom@praxis.example", role)
    invitation = invite(admin, "neu@praxis.example").invitation
    client = _session(member)
    before = TeamEvent.objects.count()
    # when
    answers = [
        _json(client, "patch", f"/api/v1/members/{member.pk}", {"role": "admin"}),
        _json(client, "delete", f"/api/v1/members/{admin.pk}"),
        _json(
            client, "post", "/api/v1/invitations", {"email": "x@praxis.example", "role": "admin"}
        ),
        _json(client, "delete", f"/api/v1/invitations/{invitation.pk}"),
        _json(client, "post", f"/api/v1/invitations/{invitation.pk}/resend", {}),
    ]
    # then
    assert [a.status_code for a in answers] == [403] * 5
    assert {a.json()["code"] for a in answers} == {"forbidden"}
    assert dict(Membership.objects.values_list("user__email", "role")) == {
        "admin@praxis.example": "admin",
        "tom@praxis.example": role,
    }
    assert Invitation.objects.count() == 1
    assert Invitation.objects.get().revoked_at is None
    assert TeamEvent.objects.count() == before


def test_admin_session_can_change_the_team(workspace, admin):
    # given
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    client = _session(admin)
    # when
    response = _json(client, "patch", f"/api/v1/members/{lea.pk}", {"role": "admin"})
    # then
    assert (response.status_code, response.json()["role"]) == (200, "admin")
    assert TeamEvent.objects.get().actor == admin.user


def test_removed_members_token_stops_working(workspace, admin):
    # given a second admin who made a token
    chef = make_member(workspace, "chef@praxis.example", Role.ADMIN)
    theirs = issue_api_token(workspace, name="chef's", created_by=chef.user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {theirs.token}")
    assert client.get("/api/v1/members").status_code == 200
    # when the first admin removes them
    _json(_session(admin), "delete", f"/api/v1/members/{chef.pk}")
    # then
    assert client.get("/api/v1/members").status_code == 401


def test_openapi_schema_documents_the_team_endpoints(client, db):
    # when
    schema = client.get("/api/v1/openapi.json").json()
    # then
    paths = schema["paths"]
    assert set(paths["/api/v1/members"]) == {"get"}
    assert set(paths["/api/v1/members/{member_id}"]) == {"patch", "delete"}
    assert set(paths["/api/v1/invitations"]) == {"get", "post"}
    assert set(paths["/api/v1/invitations/{invitation_id}"]) == {"delete"}
    assert set(paths["/api/v1/invitations/{invitation_id}/resend"]) == {"post"}
    assert "409" in paths["/api/v1/members/{member_id}"]["patch"]["responses"]
    assert "last_admin" in paths["/api/v1/members/{member_id}"]["patch"]["description"]
