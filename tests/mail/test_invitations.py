"""The invitation email: to a real SMTP server, in the inviter's workspace language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from terminflow.mail import invitations
from terminflow.workspaces import team
from terminflow.workspaces.models import Invitation, Role
from tests.conftest import make_workspace
from tests.workspaces.factories import invite, make_member, token_of


@pytest.fixture
def admin(workspace):
    member = make_member(workspace, "admin@praxis.example", Role.ADMIN)
    member.user.first_name, member.user.last_name = "Sandra", "Keller"
    member.user.save()
    return member


@time_machine.travel(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), tick=False)
def test_invitation_arrives_in_german_for_a_de_ch_workspace(smtp, workspace, admin):
    # when
    issued = invite(admin, "lea@praxis.example", Role.EDITOR)
    # then exactly one email reached the server, to the invitee, with the link
    assert issued.sent is True
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.rcpt_tos == ["lea@praxis.example"]
    message = received.message
    assert message["To"] == "lea@praxis.example"
    assert message["Subject"] == "Einladung zu Praxis Seefeld bei terminflow"
    text = received.part("text/plain")
    assert (
        'Sandra Keller lädt Sie in den Arbeitsbereich "Praxis Seefeld" bei terminflow ein, '
        "als Bearbeiter." in text
    )
    assert "(gültig bis 8. Dezember 2026 um 09:00):\n" + issued.url in text
    assert issued.url in received.part("text/html")
    assert "Einladung annehmen" in received.part("text/html")
    # and the row says it went out, with no problem
    invitation = Invitation.objects.get()
    assert invitation.sent_at is not None
    assert invitation.send_problem == ""
    # and the link in the email is the one that works
    link = text.split("http://testserver", 1)[1].split()[0]
    assert team.read_invitation(link.rstrip("/").rsplit("/", 1)[1]).pk == invitation.pk


def test_invitation_is_in_english_for_an_english_workspace(smtp, db):
    # given a workspace whose locale is English
    workspace = make_workspace("Dental Clinic")
    workspace.locale = "en-GB"
    workspace.save()
    admin = make_member(workspace, "owner@clinic.example", Role.ADMIN)
    # when
    invite(admin, "sam@clinic.example", Role.VIEWER)
    # then
    message = smtp.messages[0].message
    assert message["Subject"] == "Invitation to Dental Clinic on terminflow"
    text = smtp.messages[0].part("text/plain")
    assert 'invites you to the workspace "Dental Clinic" on terminflow, as Viewer.' in text


def test_resend_sends_a_new_link(smtp, workspace, admin):
    # given
    first = invite(admin)
    # when
    again = team.resend(team.Actor.member(admin), first.invitation.pk)
    # then two emails went out, each with its own link, and only the second works
    assert len(smtp.messages) == 2
    assert again.url in smtp.messages[1].part("text/plain")
    assert first.url not in smtp.messages[1].part("text/plain")
    assert team.read_invitation(token_of(again)).pk == first.invitation.pk


def test_smtp_down_keeps_the_invitation_and_says_why(smtp, workspace, admin):
    # given the server is down
    smtp.stop()
    # when
    issued = invite(admin)
    # then the invitation is stored, not sent, with the reason, and the link still works
    assert issued.sent is False
    invitation = Invitation.objects.get()
    assert invitation.sent_at is None
    assert "cannot reach smtp://127.0.0.1" in invitation.send_problem
    assert team.read_invitation(token_of(issued)).pk == invitation.pk
    # when the server is back and the admin sends it again
    smtp.start()
    again = team.resend(team.Actor.member(admin), invitation.pk)
    # then it arrives and the problem is cleared
    assert again.sent is True
    assert len(smtp.messages) == 1
    invitation.refresh_from_db()
    assert (invitation.sent_at is not None, invitation.send_problem) == (True, "")


def test_refused_recipient_is_reported(smtp, workspace, admin):
    # given
    smtp.handler.refuse["nobody@praxis.example"] = "550 5.1.1 no such user"
    # when
    issued = invite(admin, "nobody@praxis.example")
    # then
    assert issued.sent is False
    assert Invitation.objects.get().send_problem == "550 5.1.1 no such user"
    assert smtp.messages == []


def test_compose_without_an_inviter_still_reads_well(workspace, admin):
    # given an invitation whose inviter was deleted since
    issued = invite(admin)
    invitation = Invitation.objects.select_related("workspace").get(pk=issued.invitation.pk)
    invitation.invited_by = None
    # when
    subject, text, _ = invitations.compose(invitation, issued.url)
    # then
    assert subject == "Einladung zu Praxis Seefeld bei terminflow"
    assert 'Sie sind in den Arbeitsbereich "Praxis Seefeld" bei terminflow eingeladen' in text
