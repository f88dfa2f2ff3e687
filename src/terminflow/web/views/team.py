"""Settings → Team: members, invitations and the change log; and the page behind an invitation.

Every member sees the team; only admins change it. The views check the role (``workspace_view``
with ``role=admin`` for every change) and the services check it again (``team.Actor``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from terminflow.kit.errors import Forbidden, NotFound, TerminflowError, Unprocessable
from terminflow.web.forms import AcceptInvitationForm, InviteForm, RoleForm
from terminflow.web.http import render_page
from terminflow.web.labels import ROLES
from terminflow.web.permissions import activate_preferences, can_edit, workspace_view
from terminflow.workspaces import team
from terminflow.workspaces.api import SESSION_WORKSPACE_KEY
from terminflow.workspaces.models import Invitation, Role, TeamEvent, TeamEventKind, User

INVITATION_KINDS = {
    TeamEventKind.INVITED,
    TeamEventKind.INVITATION_RESENT,
    TeamEventKind.INVITATION_REVOKED,
}


def _role(code: str) -> str:
    return str(ROLES.get(code, code))


def _event_text(event: TeamEvent, *, show_invitee: bool) -> str:
    """One line of the change log, in the reader's language."""
    who = event.subject_email
    if event.kind in INVITATION_KINDS and not show_invitee:
        who = _("someone")
    values = {"who": who, "role": _role(event.role), "old": _role(event.old_role)}
    texts = {
        TeamEventKind.INVITED: _("invited %(who)s as %(role)s"),
        TeamEventKind.INVITATION_RESENT: _("sent the invitation to %(who)s again"),
        TeamEventKind.INVITATION_REVOKED: _("revoked the invitation to %(who)s"),
        TeamEventKind.JOINED: _("joined as %(role)s"),
        TeamEventKind.ROLE_CHANGED: _("changed the role of %(who)s from %(old)s to %(role)s"),
        TeamEventKind.REMOVED: _("removed %(who)s (%(old)s)"),
    }
    return texts.get(event.kind, event.kind) % values  # type: ignore[call-overload]


def _error_text(exc: TerminflowError, email: str = "") -> str:
    """The translated sentence for a refusal; the API keeps the English detail and the code."""
    if isinstance(exc, team.LastAdmin):
        return _(
            "A workspace needs at least one admin: the last admin can be neither given another "
            "role nor removed. Make someone else admin first."
        )
    if isinstance(exc, team.AlreadyMember):
        return _("%(email)s is already a member of this workspace.") % {"email": email}
    if isinstance(exc, team.AlreadyInvited):
        return _("%(email)s is already invited. Use “Send again” in the list of invitations.") % {
            "email": email
        }
    if isinstance(exc, Unprocessable):
        return _("Please check the email address and the role.")
    return _("This invitation was already accepted or revoked.")


def _actor(request: HttpRequest) -> team.Actor:
    return team.Actor.member(request.membership)  # type: ignore[attr-defined]


def _team_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    workspace = request.workspace  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    show_invitees = can_edit(membership)
    invitations = [
        {
            "invitation": invitation,
            "status": team.invitation_status(invitation),
            "email": invitation.email if show_invitees else "",
        }
        for invitation in team.open_invitations(workspace)
    ]
    log = [
        {"event": event, "text": _event_text(event, show_invitee=show_invitees)}
        for event in team.events(workspace)
    ]
    members = team.members(workspace)
    context = {
        "nav": "settings",
        "tab": "team",
        "members": members,
        "invitations": invitations,
        "log": log,
        "show_invitees": show_invitees,
        "invite_form": InviteForm(),
        "roles": list(ROLES.items()),
        "admin_count": sum(1 for m in members if m.role == Role.ADMIN),
    }
    context.update(extra)
    return context


@workspace_view
@require_http_methods(["GET", "HEAD"])
def team_page(request: HttpRequest) -> HttpResponse:
    return render_page(request, "web/settings_team.html", _team_context(request))


def _issued_message(request: HttpRequest, issued: team.IssuedInvitation) -> HttpResponse:
    """After sending: back to the list, or, when the email did not go out, the link shown once."""
    email = issued.invitation.email
    if issued.sent:
        messages.success(
            request, _("The invitation to %(email)s is on its way.") % {"email": email}
        )
        return redirect("web:settings_team")
    # Shown in this response only (never stored in a message cookie): the admin passes it on.
    return render_page(
        request,
        "web/settings_team.html",
        _team_context(request, unsent={"email": email, "url": issued.url}),
    )


@workspace_view(role=Role.ADMIN)
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if not form.is_valid():
        context = _team_context(request, invite_form=form)
        return render_page(request, "web/settings_team.html", context, status=422)
    email = form.cleaned_data["email"]
    try:
        issued = team.invite(_actor(request), email=email, role=form.cleaned_data["role"])
    except Forbidden as exc:
        raise PermissionDenied(exc.detail) from exc
    except TerminflowError as exc:
        messages.error(request, _error_text(exc, email.lower()))
        return redirect("web:settings_team")
    return _issued_message(request, issued)


@workspace_view(role=Role.ADMIN)
@require_POST
def resend(request: HttpRequest, invitation_id: int) -> HttpResponse:
    try:
        issued = team.resend(_actor(request), invitation_id)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    except TerminflowError as exc:
        messages.error(request, _error_text(exc))
        return redirect("web:settings_team")
    return _issued_message(request, issued)


@workspace_view(role=Role.ADMIN)
@require_POST
def revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    try:
        invitation = team.revoke(_actor(request), invitation_id)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    except TerminflowError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            _("The invitation to %(email)s was revoked; its link no longer works.")
            % {"email": invitation.email},
        )
    return redirect("web:settings_team")


def _tokens_note(count: int) -> str:
    if not count:
        return ""
    return " " + ngettext(
        "The API token they created was revoked.",
        "The %(count)d API tokens they created were revoked.",
        count,
    ) % {"count": count}


@workspace_view(role=Role.ADMIN)
@require_POST
def change_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please choose a role."))
        return redirect("web:settings_team")
    try:
        change = team.change_role(_actor(request), membership_id, form.cleaned_data["role"])
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    except TerminflowError as exc:
        messages.error(request, _error_text(exc))
    else:
        if change.old_role != change.membership.role:
            messages.success(
                request,
                _("%(email)s is now %(role)s.")
                % {"email": change.membership.user.email, "role": _role(change.membership.role)}
                + _tokens_note(change.tokens_revoked),
            )
    return redirect("web:settings_team")


@workspace_view(role=Role.ADMIN)
@require_POST
def remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    try:
        change = team.remove(_actor(request), membership_id)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    except TerminflowError as exc:
        messages.error(request, _error_text(exc))
        return redirect("web:settings_team")
    messages.success(
        request,
        _("%(email)s was removed from the workspace.") % {"email": change.membership.user.email}
        + _tokens_note(change.tokens_revoked),
    )
    if change.membership.user_id == request.user.pk:
        # An admin who removed themself has nothing left to see here.
        return redirect("web:dashboard")
    return redirect("web:settings_team")


# The page behind the link ---------------------------------------------------------------------


def _invitation_response(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    response = render(request, template, context, status=status)
    # The token is in the URL: keep it out of Referer headers to other sites and out of shared
    # caches. Not "no-referrer": browsers then send "Origin: null" with the form, which
    # Django's CSRF check rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


def _problem(request: HttpRequest, exc: TerminflowError) -> HttpResponse:
    activate_preferences(request, None)
    reason = exc.reason if isinstance(exc, team.InvitationGone) else "invalid"
    return _invitation_response(
        request, "web/invitation_problem.html", {"reason": reason}, status=exc.status
    )


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    request.session[SESSION_WORKSPACE_KEY] = invitation.workspace_id
    messages.success(
        request,
        _("Welcome to %(workspace)s.") % {"workspace": invitation.workspace.name},
    )
    return redirect("web:dashboard")


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET only shows the invitation (mail scanners open links); POST accepts it.

    A new person chooses a name and a password; someone who has an account logs in first and
    then joins with one click.
    """
    try:
        invitation = team.read_invitation(token)
    except (team.InvitationInvalid, team.InvitationGone) as exc:
        return _problem(request, exc)
    workspace = invitation.workspace
    user: User | None = request.user if request.user.is_authenticated else None  # type: ignore[assignment]
    activate_preferences(request, workspace)
    account = team.account_for(invitation)
    context: dict[str, Any] = {
        "invitation": invitation,
        "workspace": workspace,
        "role": _role(invitation.role),
        "inviter": invitation.invited_by,
        "token": token,
        "user": user,
    }
    if account is not None:
        context["has_account"] = True
        context["is_that_account"] = user is not None and user.pk == account.pk
        if request.method == "POST" and context["is_that_account"]:
            try:
                team.accept_as_user(token, user)  # type: ignore[arg-type]
            except (team.InvitationInvalid, team.InvitationGone) as exc:
                return _problem(request, exc)
            return _joined(request, invitation)
        status = 403 if request.method == "POST" else 200
        return _invitation_response(request, "web/invitation.html", context, status=status)

    form = AcceptInvitationForm(request.POST if request.method == "POST" else None)
    context["form"] = form
    if request.method == "POST" and form.is_valid():
        try:
            membership = team.accept_as_new_user(
                token,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                password=form.cleaned_data["password"],
            )
        except (team.InvitationInvalid, team.InvitationGone) as exc:
            return _problem(request, exc)
        except Unprocessable as exc:
            for message in exc.extra.get("errors", {}).get("password", []):
                form.add_error("password", message)
            if not form.errors:
                form.add_error(None, exc.detail)
        except team.AccountExists:
            form.add_error(None, _("An account with this email address exists; log in first."))
        else:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            translation.activate(workspace.language)
            return _joined(request, invitation)
    status = 422 if request.method == "POST" else 200
    return _invitation_response(request, "web/invitation.html", context, status=status)
