"""Settings → Team and the invitation page, through Django's test client (pages in German)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from terminflow.contacts.models import Contact
from terminflow.kit import clock
from terminflow.workspaces import team
from terminflow.workspaces.models import ApiToken, Invitation, Membership, Role, TeamEvent, User
from terminflow.workspaces.services import issue_api_token
from tests.workspaces.factories import invite, make_member, token_of

from .conftest import PASSWORD, logged_in

NEW_PASSWORD = "Sommer im Seefeld 2026!"


@pytest.fixture
def admin(workspace):
    return make_member(workspace, "admin@praxis.example", Role.ADMIN)


@pytest.fixture
def admin_client(admin) -> Client:
    return logged_in(admin.user)


def _page(client: Client) -> str:
    response = client.get("/settings/team/")
    assert response.status_code == 200
    return response.content.decode()


# The page -------------------------------------------------------------------------------------


def test_admin_sees_members_invitations_log_and_the_forms(workspace, admin, admin_client):
    # given
    make_member(workspace, "lea@praxis.example", Role.EDITOR)
    invite(admin, "neu@praxis.example", Role.VIEWER)
    # when
    html = _page(admin_client)
    # then
    assert 'data-member="lea@praxis.example"' in html
    assert 'data-invitation="neu@praxis.example"' in html
    assert "hat neu@praxis.example als Betrachter eingeladen" in html
    assert 'data-testid="invite-form"' in html
    assert "Rolle ändern" in html
    assert "Letzter Admin" in html  # the only admin has no "remove" button
    assert "Nur Admins" not in html


def test_editor_sees_the_team_read_only_with_invitation_emails(workspace, admin):
    # given
    editor = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    invite(admin, "neu@praxis.example", Role.VIEWER)
    # when
    html = _page(logged_in(editor.user))
    # then
    assert 'data-testid="team-read-only"' in html
    assert 'data-testid="invite-form"' not in html
    assert "Rolle ändern" not in html
    assert "neu@praxis.example" in html


def test_viewer_sees_members_but_no_invitee_emails(workspace, admin):
    # given
    viewer = make_member(workspace, "tom@praxis.example", Role.VIEWER)
    invite(admin, "geheim@praxis.example", Role.EDITOR)
    # when
    html = _page(logged_in(viewer.user))
    # then the invitation is listed, but not to whom, also not in the log
    assert "geheim@praxis.example" not in html
    assert "hat eine Person als Bearbeiter eingeladen" in html
    assert 'data-member="admin@praxis.example"' in html
    assert "Offen" in html


def test_the_page_speaks_english_to_an_english_user(workspace, admin):
    # given
    admin.user.language = "en"
    admin.user.save()
    # when
    html = _page(logged_in(admin.user))
    # then
    assert "Members" in html and "Invitations" in html and "Last login" in html


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_cannot_change_anything_through_the_pages(workspace, admin, role):
    # given
    member = make_member(workspace, "lea@praxis.example", role)
    invitation = invite(admin, "neu@praxis.example").invitation
    client = logged_in(member.user)
    before = TeamEvent.objects.count()
    # when
    answers = [
        client.post("/settings/team/invite/", {"email": "x@praxis.example", "role": "admin"}),
        client.post(f"/settings/team/members/{member.pk}/role/", {"role": "admin"}),
        client.post(f"/settings/team/members/{admin.pk}/role/", {"role": "viewer"}),
        client.post(f"/settings/team/members/{admin.pk}/remove/"),
        client.post(f"/settings/team/invitations/{invitation.pk}/resend/"),
        client.post(f"/settings/team/invitations/{invitation.pk}/revoke/"),
    ]
    # then every one is refused and nothing changed
    assert [a.status_code for a in answers] == [403] * 6
    assert dict(Membership.objects.values_list("user__email", "role")) == {
        "admin@praxis.example": "admin",
        "lea@praxis.example": role,
    }
    assert list(Invitation.objects.values_list("email", "revoked_at")) == [
        ("neu@praxis.example", None)
    ]
    assert TeamEvent.objects.count() == before


def test_admin_invites_and_the_email_arrives(smtp, workspace, admin_client):
    # when
    response = admin_client.post(
        "/settings/team/invite/", {"email": "lea@praxis.example", "role": "editor"}, follow=True
    )
    # then
    assert response.status_code == 200
    assert "Die Einladung an lea@praxis.example ist unterwegs." in response.content.decode()
    assert [m.rcpt_tos for m in smtp.messages] == [["lea@praxis.example"]]
    assert Invitation.objects.get().role == "editor"


def test_without_smtp_the_admin_gets_the_link_once(workspace, admin_client):
    # when
    response = admin_client.post(
        "/settings/team/invite/", {"email": "lea@praxis.example", "role": "viewer"}
    )
    # then the page shows the link to pass on, and the list shows it as not sent
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="invitation-unsent"' in html
    link = html.split('id="invitation-link" value="', 1)[1].split('"', 1)[0]
    assert team.read_invitation(link.rstrip("/").rsplit("/", 1)[1]).email == "lea@praxis.example"
    assert "Nicht gesendet" in html
    # and the next visit no longer shows it
    assert link not in _page(admin_client)


def test_invalid_invitation_form_is_422_and_stores_nothing(workspace, admin_client):
    # when
    response = admin_client.post("/settings/team/invite/", {"email": "kaputt", "role": "boss"})
    # then
    assert response.status_code == 422
    assert Invitation.objects.count() == 0


def test_last_admin_gets_a_clear_message(workspace, admin, admin_client):
    # when
    demote = admin_client.post(
        f"/settings/team/members/{admin.pk}/role/", {"role": "editor"}, follow=True
    )
    remove = admin_client.post(f"/settings/team/members/{admin.pk}/remove/", follow=True)
    # then
    for response in (demote, remove):
        assert "Der letzte Admin kann weder eine andere Rolle erhalten noch entfernt werden" in (
            response.content.decode()
        )
    assert Membership.objects.get(pk=admin.pk).role == "admin"


def test_member_of_another_workspace_is_not_found(workspace, admin_client, other_workspace):
    # given
    stranger = make_member(other_workspace, "chef@zahnarzt.example", Role.ADMIN)
    other_invitation = invite(stranger, "neu@zahnarzt.example").invitation
    # when
    answers = [
        admin_client.post(f"/settings/team/members/{stranger.pk}/role/", {"role": "viewer"}),
        admin_client.post(f"/settings/team/members/{stranger.pk}/remove/"),
        admin_client.post(f"/settings/team/invitations/{other_invitation.pk}/revoke/"),
        admin_client.post(f"/settings/team/invitations/{other_invitation.pk}/resend/"),
    ]
    # then
    assert [a.status_code for a in answers] == [404] * 4
    assert Membership.objects.get(pk=stranger.pk).role == "admin"
    assert Invitation.objects.get(pk=other_invitation.pk).revoked_at is None


def test_removal_ends_the_members_session_and_tokens_at_once(workspace, admin, admin_client):
    # given a logged-in editor with a token they created as admin earlier
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    token = issue_api_token(workspace, name="lea", created_by=lea.user)
    lea_client = logged_in(lea.user)
    assert lea_client.get("/contacts/").status_code == 200
    # when the admin removes her
    response = admin_client.post(f"/settings/team/members/{lea.pk}/remove/", follow=True)
    # then
    assert "lea@praxis.example wurde aus dem Arbeitsbereich entfernt." in (
        response.content.decode()
    )
    assert "Das API-Token, das diese Person erstellt hat, wurde widerrufen." in (
        response.content.decode()
    )
    # and her very next requests are refused: pages, the session API, the token
    refused = lea_client.get("/contacts/")
    assert refused.status_code == 403
    assert "Sie sind Mitglied keines Arbeitsbereichs." in refused.content.decode()
    assert lea_client.post("/contacts/new/", {"email": "x@example.com"}).status_code == 403
    assert lea_client.get("/api/v1/contacts").status_code == 401
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    assert bearer.get("/api/v1/contacts").status_code == 401
    assert ApiToken.objects.get(pk=token.record.pk).revoked_at is not None
    assert Contact.objects.count() == 0


def test_demoted_editor_cannot_write_on_the_next_request(workspace, admin, admin_client):
    # given
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    lea_client = logged_in(lea.user)
    # when
    admin_client.post(f"/settings/team/members/{lea.pk}/role/", {"role": "viewer"})
    # then
    response = lea_client.post(
        "/contacts/new/", {"email": "anna@example.com", "email_status": "unknown"}
    )
    assert response.status_code == 403
    assert "Betrachter können diesen Arbeitsbereich ansehen, aber nicht ändern." in (
        response.content.decode()
    )
    assert Contact.objects.count() == 0
    assert lea_client.get("/contacts/").status_code == 200


# The invitation page --------------------------------------------------------------------------


def _link(issued: team.IssuedInvitation) -> str:
    return "/invitations/" + token_of(issued) + "/"


def test_new_person_sees_the_form_and_get_changes_nothing(client, workspace, admin):
    # given
    issued = invite(admin, "lea@praxis.example", Role.EDITOR)
    # when a mail scanner or the person opens the link
    response = client.get(_link(issued))
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Praxis Seefeld beitreten" in html
    assert "Admin lädt Sie als Bearbeiter ein." in html
    assert 'name="password_again"' in html
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    assert Invitation.objects.get().accepted_at is None
    assert not User.objects.filter(email="lea@praxis.example").exists()


def test_weak_password_is_refused_with_the_validators_message(client, workspace, admin):
    # given
    issued = invite(admin, "lea@praxis.example")
    # when
    response = client.post(
        _link(issued),
        {
            "first_name": "Lea",
            "last_name": "Meier",
            "password": "12345678",
            "password_again": "12345678",
        },
    )
    # then
    html = response.content.decode()
    assert response.status_code == 422
    assert "Dieses Passwort ist zu üblich." in html
    assert "Dieses Passwort ist komplett numerisch." in html
    assert not User.objects.filter(email="lea@praxis.example").exists()
    assert Membership.objects.filter(workspace=workspace).count() == 1


def test_passwords_that_differ_are_refused(client, workspace, admin):
    issued = invite(admin, "lea@praxis.example")
    response = client.post(
        _link(issued),
        {"first_name": "Lea", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "x"},
    )
    assert response.status_code == 422
    assert "Die beiden Passwörter stimmen nicht überein." in response.content.decode()
    assert not User.objects.filter(email="lea@praxis.example").exists()


def test_new_person_joins_and_is_logged_in(client, workspace, admin):
    # given
    issued = invite(admin, "lea@praxis.example", Role.EDITOR)
    # when
    response = client.post(
        _link(issued),
        {
            "first_name": "Lea",
            "last_name": "Meier",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    # then she lands on the overview of the workspace, logged in, as editor
    assert (response.status_code, response["Location"]) == (302, "/")
    overview = client.get("/")
    assert overview.status_code == 200
    assert "Willkommen bei Praxis Seefeld." in overview.content.decode()
    user = User.objects.get(email="lea@praxis.example")
    assert user.get_full_name() == "Lea Meier"
    assert user.last_login is not None
    assert Membership.objects.get(user=user).role == "editor"
    # when the link is opened again
    again = client.get(_link(issued))
    # then it says it was used
    assert again.status_code == 410
    assert "Diese Einladung wurde bereits angenommen" in again.content.decode()


def test_existing_user_logs_in_and_joins(client, workspace, admin, other_workspace):
    # given someone with an account elsewhere
    tom = make_member(other_workspace, "tom@praxis.example", Role.ADMIN).user
    issued = invite(admin, "tom@praxis.example", Role.VIEWER)
    # when he opens the link logged out
    page = client.get(_link(issued))
    # then he is asked to log in and sent back here afterwards
    html = page.content.decode()
    assert "Sie haben bereits ein Konto." in html
    assert f'href="/login/?next={_link(issued)}"' in html
    # when he posts without logging in, nothing happens
    assert client.post(_link(issued)).status_code == 403
    assert not Membership.objects.filter(user=tom, workspace=workspace).exists()
    # when he logs in and joins
    login = client.post(
        "/login/", {"email": "tom@praxis.example", "password": PASSWORD, "next": _link(issued)}
    )
    assert login["Location"] == _link(issued)
    joined = client.post(_link(issued))
    # then
    assert (joined.status_code, joined["Location"]) == (302, "/")
    assert Membership.objects.get(user=tom, workspace=workspace).role == "viewer"
    assert client.session["terminflow_workspace_id"] == workspace.pk


def test_someone_else_logged_in_cannot_accept(workspace, admin, other_workspace):
    # given
    make_member(other_workspace, "tom@praxis.example", Role.ADMIN)
    eve = make_member(other_workspace, "eve@zahnarzt.example", Role.ADMIN).user
    issued = invite(admin, "tom@praxis.example", Role.ADMIN)
    eve_client = logged_in(eve)
    # when
    page = eve_client.get(_link(issued))
    post = eve_client.post(_link(issued))
    # then
    assert "Sie sind als eve@zahnarzt.example angemeldet." in page.content.decode()
    assert post.status_code == 403
    assert not Membership.objects.filter(workspace=workspace, user=eve).exists()
    assert Invitation.objects.get().accepted_at is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_and_garbage_links_get_a_clear_page(client, workspace, admin, method):
    # given
    token = token_of(invite(admin))
    for bad in (
        token[:-3] + "abc",
        token.replace("-", "-x", 1),
        "x",
        "1-abc.def.ghi",
        "%C3%A4%00",
        "a" * 5000,
        "..",
    ):
        # when
        response = getattr(client, method)(f"/invitations/{bad}/")
        # then
        assert response.status_code == 404, bad
        assert "Dieser Einladungslink ist ungültig" in response.content.decode()
    assert not User.objects.filter(email="lea@praxis.example").exists()


def test_expired_revoked_and_replaced_links_get_a_clear_page(client, workspace, admin):
    # given three invitations: one expires, one is revoked, one is sent again
    expired = invite(admin, "alt@praxis.example")
    revoked = invite(admin, "weg@praxis.example")
    replaced = invite(admin, "neu@praxis.example")
    team.revoke(team.Actor.member(admin), revoked.invitation.pk)
    team.resend(team.Actor.member(admin), replaced.invitation.pk)
    # when / then
    assert "wurde zurückgezogen" in client.get(_link(revoked)).content.decode()
    assert client.get(_link(revoked)).status_code == 410
    assert "Dieser Link wurde ersetzt" in client.get(_link(replaced)).content.decode()
    with time_machine.travel(clock.now() + timedelta(days=8), tick=False):
        response = client.post(
            _link(expired),
            {"first_name": "A", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        )
    assert response.status_code == 410
    assert "Diese Einladung ist abgelaufen" in response.content.decode()
    assert User.objects.filter(email__in=["alt@praxis.example", "neu@praxis.example"]).count() == 0
