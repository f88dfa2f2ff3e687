"""The team services: invitations and their links, joining, roles, removal and the change log.

Without an SMTP server configured, invitations are stored but not sent (``sent`` is False);
the mail tests cover the email itself.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from terminflow.kit import clock
from terminflow.kit.errors import Forbidden, NotFound, Unprocessable
from terminflow.workspaces import team
from terminflow.workspaces.models import (
    ApiToken,
    Invitation,
    Membership,
    Role,
    TeamEvent,
    User,
)
from terminflow.workspaces.services import issue_api_token
from tests.conftest import make_workspace

from .factories import PASSWORD, actor_for, invite, make_member, token_of

NEW_PASSWORD = "Sommer im Seefeld 2026!"


@pytest.fixture
def admin(workspace):
    return make_member(workspace, "admin@praxis.example", Role.ADMIN)


def _log(workspace):
    return [
        (e.kind, e.actor_label, e.subject_email, e.role, e.old_role)
        for e in TeamEvent.objects.filter(workspace=workspace).order_by("id")
    ]


# Inviting -------------------------------------------------------------------------------------


def test_invite_stores_an_open_invitation_with_only_a_hash_of_the_link(workspace, admin):
    # when
    issued = invite(admin, "Lea@Praxis.example", Role.EDITOR)
    # then the invitation is open for seven days and the link names the page
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "lea@praxis.example",
        "editor",
        admin.user,
    )
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    assert issued.url.startswith("http://testserver/invitations/")
    token = token_of(issued)
    assert token not in invitation.secret_hash
    assert token.split(".")[0].split("-", 1)[1] not in invitation.secret_hash
    # and no SMTP server is configured here, so the result says it was not sent
    assert issued.sent is False
    assert "not configured" in invitation.send_problem
    assert team.invitation_status(invitation) == "pending"
    assert _log(workspace) == [
        ("invited", "admin@praxis.example", "lea@praxis.example", "editor", "")
    ]


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_admins_invite(workspace, admin, role):
    # given
    member = make_member(workspace, f"{role}@praxis.example", role)
    # when / then
    with pytest.raises(Forbidden):
        invite(member, "lea@praxis.example")
    assert Invitation.objects.count() == 0
    assert TeamEvent.objects.count() == 0


def test_inviting_a_member_or_a_pending_address_again_is_refused(workspace, admin):
    # given
    make_member(workspace, "tom@praxis.example", Role.VIEWER)
    invite(admin, "lea@praxis.example")
    # when / then
    with pytest.raises(team.AlreadyMember):
        invite(admin, "TOM@praxis.example")
    with pytest.raises(team.AlreadyInvited):
        invite(admin, "lea@praxis.example", Role.ADMIN)
    assert list(Invitation.objects.values_list("email", "role")) == [
        ("lea@praxis.example", "editor")
    ]


def test_inviting_again_after_expiry_replaces_the_expired_invitation(workspace, admin):
    # given an invitation that expired
    old = invite(admin, "lea@praxis.example", Role.VIEWER)
    with time_machine.travel(clock.now() + timedelta(days=8), tick=False):
        # when
        new = invite(admin, "lea@praxis.example", Role.EDITOR)
        # then the old one is closed and its link says so; the new one works
        old_row = Invitation.objects.get(pk=old.invitation.pk)
        assert old_row.revoked_at is not None
        with pytest.raises(team.InvitationGone):
            team.read_invitation(token_of(old))
        assert team.read_invitation(token_of(new)).role == "editor"


def test_invalid_email_or_role_is_refused(workspace, admin):
    with pytest.raises(Unprocessable):
        invite(admin, "not-an-address")
    with pytest.raises(Unprocessable):
        invite(admin, "lea@praxis.example", "owner")
    assert Invitation.objects.count() == 0


# Links ----------------------------------------------------------------------------------------


def test_tampered_link_is_invalid(workspace, admin):
    # given
    token = token_of(invite(admin))
    value, _, signature = token.rpartition(".")
    other_id = str(int(value.split("-")[0]) + 1) + "-" + value.split("-", 1)[1]
    # The secret is random: its last character may already be "x".
    other_last = "y" if value.endswith("x") else "x"
    # when / then: a changed id, secret or signature, a cut token, or garbage
    for bad in (
        other_id + "." + signature,
        value[:-1] + other_last + "." + signature,
        value + "." + signature[:-2],
        token[:20],
        "nonsense",
    ):
        with pytest.raises(team.InvitationInvalid):
            team.read_invitation(bad)


def test_expired_link_is_gone(workspace, admin):
    # given
    token = token_of(invite(admin))
    # when seven days and a minute have passed
    later = clock.now() + timedelta(days=7, minutes=1)
    with time_machine.travel(later, tick=False), pytest.raises(team.InvitationGone) as raised:
        team.read_invitation(token)
    # then
    assert raised.value.reason == "expired"
    assert raised.value.status == 410


def test_resend_gives_a_new_link_and_ends_the_old_one(workspace, admin):
    # given an invitation six days old
    issued = invite(admin)
    with time_machine.travel(clock.now() + timedelta(days=6), tick=False):
        # when it is sent again
        again = team.resend(actor_for(admin), issued.invitation.pk)
        # then the old link is replaced, the new one is valid for seven more days
        with pytest.raises(team.InvitationGone) as raised:
            team.read_invitation(token_of(issued))
        assert raised.value.reason == "replaced"
        assert team.read_invitation(token_of(again)).pk == issued.invitation.pk
        assert again.invitation.expires_at == clock.now() + timedelta(days=7)
    assert [kind for kind, *_ in _log(workspace)] == ["invited", "invitation_resent"]


def test_revoked_link_is_gone_and_revoking_twice_is_a_conflict(workspace, admin):
    # given
    issued = invite(admin)
    # when
    team.revoke(actor_for(admin), issued.invitation.pk)
    # then
    with pytest.raises(team.InvitationGone) as raised:
        team.read_invitation(token_of(issued))
    assert raised.value.reason == "revoked"
    with pytest.raises(team.Conflict):
        team.revoke(actor_for(admin), issued.invitation.pk)
    with pytest.raises(team.Conflict):
        team.resend(actor_for(admin), issued.invitation.pk)
    assert [kind for kind, *_ in _log(workspace)] == ["invited", "invitation_revoked"]


# Accepting ------------------------------------------------------------------------------------


def test_new_person_sets_name_and_password_and_joins(workspace, admin):
    # given
    issued = invite(admin, "lea@praxis.example", Role.EDITOR)
    # when
    membership = team.accept_as_new_user(
        token_of(issued), first_name="Lea", last_name="Meier", password=NEW_PASSWORD
    )
    # then the account exists with that password, and is an editor of the workspace
    user = User.objects.get(email="lea@praxis.example")
    assert (user.first_name, user.last_name) == ("Lea", "Meier")
    assert user.check_password(NEW_PASSWORD)
    assert (membership.user, membership.workspace, membership.role) == (user, workspace, "editor")
    invitation = Invitation.objects.get()
    assert (invitation.accepted_by, invitation.accepted_at is not None) == (user, True)
    assert _log(workspace)[-1] == (
        "joined",
        "lea@praxis.example",
        "lea@praxis.example",
        "editor",
        "",
    )


def test_a_used_link_cannot_be_used_again(workspace, admin):
    # given an accepted invitation
    token = token_of(invite(admin))
    team.accept_as_new_user(token, first_name="Lea", last_name="", password=NEW_PASSWORD)
    # when the link is opened again
    with pytest.raises(team.InvitationGone) as raised:
        team.accept_as_new_user(token, first_name="Eve", last_name="", password=NEW_PASSWORD)
    # then
    assert raised.value.reason == "accepted"
    assert User.objects.get(email="lea@praxis.example").first_name == "Lea"
    assert Membership.objects.filter(workspace=workspace).count() == 2


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("kurz1", "password_too_short"),
        ("password123", "password_too_common"),
        ("48291037465", "password_entirely_numeric"),
        ("lea@praxis.example", "password_too_similar"),
        ("", "password_too_short"),
    ],
)
def test_password_validators_apply(workspace, admin, password, fragment):
    # given
    token = token_of(invite(admin))
    # when
    with pytest.raises(Unprocessable) as raised:
        team.accept_as_new_user(token, first_name="Lea", last_name="", password=password)
    # then nothing was stored and the link still works
    assert fragment in raised.value.extra["codes"]["password"]
    assert raised.value.extra["errors"]["password"]
    assert not User.objects.filter(email="lea@praxis.example").exists()
    assert Invitation.objects.get().accepted_at is None
    assert team.read_invitation(token).email == "lea@praxis.example"


def test_existing_user_joins_with_their_login(workspace, admin):
    # given someone with an account in another workspace
    other = make_workspace("Zahnarzt Oerlikon")
    tom = make_member(other, "tom@praxis.example", Role.ADMIN).user
    token = token_of(invite(admin, "tom@praxis.example", Role.VIEWER))
    # when a new account is asked for, then that is refused
    with pytest.raises(team.AccountExists):
        team.accept_as_new_user(token, first_name="Eve", last_name="", password=NEW_PASSWORD)
    # when he accepts logged in
    membership = team.accept_as_user(token, tom)
    # then he is a viewer here and keeps his other workspace and password
    assert (membership.workspace, membership.role) == (workspace, "viewer")
    assert set(tom.memberships.values_list("workspace__name", "role")) == {
        ("Praxis Seefeld", "viewer"),
        ("Zahnarzt Oerlikon", "admin"),
    }
    tom.refresh_from_db()
    assert tom.check_password(PASSWORD)


def test_another_account_cannot_accept(workspace, admin):
    # given
    token = token_of(invite(admin, "lea@praxis.example"))
    eve = make_member(make_workspace("Zahnarzt Oerlikon"), "eve@example.com", Role.ADMIN).user
    # when / then
    with pytest.raises(team.WrongAccount):
        team.accept_as_user(token, eve)
    assert not Membership.objects.filter(user=eve, workspace=workspace).exists()
    assert Invitation.objects.get().accepted_at is None


# Roles and removal ----------------------------------------------------------------------------


def test_change_role_is_logged(workspace, admin):
    # given
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    # when
    change = team.change_role(actor_for(admin), lea.pk, Role.VIEWER)
    # then
    assert (change.old_role, Membership.objects.get(pk=lea.pk).role) == ("editor", "viewer")
    assert _log(workspace) == [
        ("role_changed", "admin@praxis.example", "lea@praxis.example", "viewer", "editor")
    ]


def test_the_last_admin_can_be_neither_demoted_nor_removed(workspace, admin):
    # given the only admin
    make_member(workspace, "lea@praxis.example", Role.EDITOR)
    # when / then
    with pytest.raises(team.LastAdmin):
        team.change_role(actor_for(admin), admin.pk, Role.EDITOR)
    with pytest.raises(team.LastAdmin) as raised:
        team.remove(actor_for(admin), admin.pk)
    assert raised.value.status == 409
    assert raised.value.code == "last_admin"
    assert Membership.objects.get(pk=admin.pk).role == "admin"
    assert TeamEvent.objects.count() == 0


def test_with_two_admins_one_may_step_down(workspace, admin):
    # given
    second = make_member(workspace, "chef@praxis.example", Role.ADMIN)
    # when
    team.change_role(actor_for(admin), admin.pk, Role.EDITOR)
    # then the other one is now the last admin
    with pytest.raises(team.LastAdmin):
        team.remove(actor_for(second), second.pk)


def test_editors_and_viewers_change_nothing(workspace, admin):
    # given
    editor = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    viewer = make_member(workspace, "tom@praxis.example", Role.VIEWER)
    issued = invite(admin, "neu@praxis.example")
    events_before = TeamEvent.objects.count()
    # when / then
    for member in (editor, viewer):
        with pytest.raises(Forbidden):
            team.change_role(actor_for(member), member.pk, Role.ADMIN)
        with pytest.raises(Forbidden):
            team.remove(actor_for(member), admin.pk)
        with pytest.raises(Forbidden):
            team.revoke(actor_for(member), issued.invitation.pk)
        with pytest.raises(Forbidden):
            team.resend(actor_for(member), issued.invitation.pk)
    assert sorted(Membership.objects.values_list("role", flat=True)) == [
        "admin",
        "editor",
        "viewer",
    ]
    assert Invitation.objects.get().revoked_at is None
    assert TeamEvent.objects.count() == events_before


def test_another_workspaces_member_and_invitation_are_not_found(workspace, admin):
    # given another workspace with its own admin, member and invitation
    other = make_workspace("Zahnarzt Oerlikon")
    other_admin = make_member(other, "chef@zahnarzt.example", Role.ADMIN)
    other_member = make_member(other, "assistenz@zahnarzt.example", Role.EDITOR)
    other_invitation = invite(other_admin, "neu@zahnarzt.example").invitation
    # when / then this workspace's admin cannot touch them
    with pytest.raises(NotFound):
        team.change_role(actor_for(admin), other_member.pk, Role.VIEWER)
    with pytest.raises(NotFound):
        team.remove(actor_for(admin), other_member.pk)
    with pytest.raises(NotFound):
        team.revoke(actor_for(admin), other_invitation.pk)
    with pytest.raises(NotFound):
        team.resend(actor_for(admin), other_invitation.pk)
    assert Membership.objects.get(pk=other_member.pk).role == "editor"
    assert Invitation.objects.get(pk=other_invitation.pk).revoked_at is None
    assert TeamEvent.objects.filter(workspace=workspace).count() == 0


def test_removal_revokes_the_members_api_tokens_in_that_workspace_only(workspace, admin):
    # given a second admin with tokens here and in another workspace, and someone else's token
    chef = make_member(workspace, "chef@praxis.example", Role.ADMIN)
    other = make_workspace("Zahnarzt Oerlikon")
    make_member(other, "chef@praxis.example", Role.ADMIN)
    here = issue_api_token(workspace, name="sync", created_by=chef.user)
    there = issue_api_token(other, name="sync", created_by=chef.user)
    admins_token = issue_api_token(workspace, name="admin's", created_by=admin.user)
    # when
    change = team.remove(actor_for(admin), chef.pk)
    # then
    assert change.tokens_revoked == 1
    revoked = dict(ApiToken.objects.values_list("pk", "revoked_at"))
    assert revoked[here.record.pk] is not None
    assert revoked[there.record.pk] is None
    assert revoked[admins_token.record.pk] is None
    assert not Membership.objects.filter(pk=chef.pk).exists()
    assert User.objects.filter(email="chef@praxis.example").exists()
    assert _log(workspace) == [
        ("removed", "admin@praxis.example", "chef@praxis.example", "", "admin")
    ]


def test_an_admin_who_becomes_editor_loses_their_tokens(workspace, admin):
    # given
    chef = make_member(workspace, "chef@praxis.example", Role.ADMIN)
    token = issue_api_token(workspace, created_by=chef.user)
    # when
    change = team.change_role(actor_for(admin), chef.pk, Role.EDITOR)
    # then
    assert change.tokens_revoked == 1
    assert ApiToken.objects.get(pk=token.record.pk).revoked_at is not None


def test_an_api_token_acts_as_admin_and_is_named_in_the_log(workspace, admin):
    # given
    issued = issue_api_token(workspace, name="script", created_by=admin.user)
    actor = team.Actor.token(issued.record)
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    # when
    team.change_role(actor, lea.pk, Role.VIEWER)
    # then
    assert _log(workspace) == [
        (
            "role_changed",
            f"API token {issued.record.prefix}…",
            "lea@praxis.example",
            "viewer",
            "editor",
        )
    ]
    assert TeamEvent.objects.get().actor is None


def test_an_admin_demoted_meanwhile_cannot_act_on_their_old_role(workspace, admin):
    # given a second admin whose request started while they were admin
    chef = make_member(workspace, "chef@praxis.example", Role.ADMIN)
    lea = make_member(workspace, "lea@praxis.example", Role.EDITOR)
    stale = actor_for(chef)
    # when the first admin demotes them before their change runs
    team.change_role(actor_for(admin), chef.pk, Role.VIEWER)
    # then their change is refused
    with pytest.raises(Forbidden):
        team.remove(stale, lea.pk)
    with pytest.raises(Forbidden):
        team.change_role(stale, admin.pk, Role.VIEWER)
    assert Membership.objects.filter(pk=lea.pk).exists()
    assert Membership.objects.get(pk=admin.pk).role == "admin"


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(workspace):
    # given two admins
    first = make_member(workspace, "admin@praxis.example", Role.ADMIN)
    second = make_member(workspace, "chef@praxis.example", Role.ADMIN)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor_membership: Membership, target: Membership) -> None:
        barrier.wait()
        try:
            team.change_role(actor_for(actor_membership), target.pk, Role.EDITOR)
            outcomes.append("changed")
        except (team.LastAdmin, Forbidden) as exc:
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    # when each demotes the other in the same moment
    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # then exactly one change went through; the other admin was no longer admin when theirs ran
    assert sorted(outcomes) == ["Forbidden", "changed"]
    assert Membership.objects.filter(workspace=workspace, role=Role.ADMIN).count() == 1
    assert TeamEvent.objects.filter(kind="role_changed").count() == 1
