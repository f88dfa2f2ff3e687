"""Settings → API info: API tokens, the eTermin tab (connected accounts), the email tab,
Settings → Tracking (open and click tracking of marketing emails) and Settings → Data protection
(how long sign-ups are kept)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from terminflow.etermin import services as etermin
from terminflow.etermin import sync
from terminflow.etermin.models import EterminAccount
from terminflow.kit.errors import NotFound, TerminflowError
from terminflow.mail import links, sender_domain
from terminflow.web.forms import (
    ApiTokenForm,
    EterminAccountForm,
    EterminKeysForm,
    RetentionForm,
    TrackingForm,
)
from terminflow.web.http import is_htmx, render_page
from terminflow.web.permissions import can_admin, can_edit, workspace_view
from terminflow.workspaces.models import ApiToken, Feature, Role
from terminflow.workspaces.services import (
    MAX_RETENTION_DAYS,
    issue_api_token,
    require_feature,
    set_submission_retention,
    set_tracking,
)


@workspace_view
def index(request: HttpRequest) -> HttpResponse:
    return redirect("web:settings_etermin")


@workspace_view
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    issued = None
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST":
        # Tokens act for the whole workspace, so only admins hand them out.
        if request.membership.role != Role.ADMIN:  # type: ignore[attr-defined]
            return HttpResponse(_("Only admins can create API tokens."), status=403)
        if form.is_valid():
            issued = issue_api_token(
                workspace,
                name=form.cleaned_data["name"],
                created_by=request.user,  # type: ignore[arg-type]
            ).token
            form = ApiTokenForm()
    tokens = ApiToken.objects.filter(workspace=workspace).order_by("-id")
    return render_page(
        request,
        "web/settings_api.html",
        {"nav": "settings", "tab": "api", "tokens": tokens, "form": form, "issued": issued},
    )


def _etermin_context(request: HttpRequest) -> dict:
    workspace = request.workspace  # type: ignore[attr-defined]
    # The URL lets anyone post bookings: viewers never receive it, not even hidden in the page.
    show_url = can_edit(request.membership)  # type: ignore[attr-defined]
    accounts = [
        {"account": account, "web_push_url": etermin.web_push_url(account) if show_url else None}
        for account in etermin.accounts_of(workspace)
    ]
    return {
        "nav": "settings",
        "tab": "etermin",
        "accounts": accounts,
        "plan_ok": workspace.has_feature(Feature.ETERMIN),
        "plan_name": workspace.plan.name,
    }


@workspace_view
def etermin_tab(request: HttpRequest) -> HttpResponse:
    context = _etermin_context(request)
    context["form"] = EterminAccountForm()
    return render_page(request, "web/settings_etermin.html", context)


@workspace_view
@require_http_methods(["GET", "POST"])
def etermin_add_account(request: HttpRequest) -> HttpResponse:
    """The "Add account" dialog: the form, its errors, and after saving the Web Push URL."""
    form = EterminAccountForm(request.POST or None)
    connected = None
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            account = etermin.connect_account(
                request.workspace,  # type: ignore[attr-defined]
                name=form.cleaned_data["name"],
                public_key=form.cleaned_data["public_key"],
                private_key=form.cleaned_data["private_key"],
            )
        except TerminflowError as exc:
            error = exc.detail
        else:
            connected = {"account": account, "web_push_url": etermin.web_push_url(account)}
    context = {"form": form, "error": error, "connected": connected}
    if is_htmx(request):
        return render_page(request, "web/etermin_dialog.html", context)
    # Without JavaScript the tab is rendered again with the dialog open.
    full = _etermin_context(request)
    full.update(context)
    full["dialog_open"] = request.method == "POST"
    status = 200 if connected or request.method == "GET" else 422
    return render_page(request, "web/settings_etermin.html", full, status=status)


def _workspace_account(request: HttpRequest, account_id: int) -> EterminAccount:
    try:
        return etermin.account_for_workspace(request.workspace, account_id)  # type: ignore[attr-defined]
    except NotFound as exc:
        raise Http404(exc.detail) from exc


@workspace_view
@require_POST
def etermin_rotate(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _workspace_account(request, account_id)
    try:
        etermin.rotate_web_push_token(account)
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request,
            _(
                "The account %(name)s has a new Web Push URL. Paste it into eTermin now: "
                "the old URL no longer works."
            )
            % {"name": account.name},
        )
    return redirect("web:settings_etermin")


@workspace_view
@require_POST
def etermin_delete(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _workspace_account(request, account_id)
    name = account.name
    try:
        etermin.delete_account(account)
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("The account %(name)s was removed.") % {"name": name})
    return redirect("web:settings_etermin")


@workspace_view
@require_POST
def etermin_sync(request: HttpRequest, account_id: int) -> HttpResponse:
    """ "Sync now": reconcile the account with eTermin; htmx gets the account's sync status."""
    notice = ""
    workspace = request.workspace  # type: ignore[attr-defined]
    account = _workspace_account(request, account_id)
    try:
        require_feature(workspace, Feature.ETERMIN)
    except TerminflowError as exc:
        messages.error(request, exc.detail)
        return redirect("web:settings_etermin")
    try:
        counts = sync.sync_account(account)
    except sync.SyncRunning:
        notice = _("A sync of this account is running already; its result shows here shortly.")
    except TerminflowError:
        # eTermin's refusal is recorded on the account and shown with it, translated.
        account.refresh_from_db()
    else:
        found = counts.created + counts.modified + counts.deleted
        notice = (
            ngettext(
                "Synced: %(count)s change missed by Web Push is being processed now.",
                "Synced: %(count)s changes missed by Web Push are being processed now.",
                found,
            )
            % {"count": found}
            if found
            else _("Synced: nothing was missed.")
        )
    if is_htmx(request):
        return render_page(
            request, "web/_etermin_sync.html", {"account": account, "notice": notice}
        )
    if notice:
        messages.info(request, notice)
    return redirect("web:settings_etermin")


@workspace_view
@require_POST
def etermin_keys(request: HttpRequest, account_id: int) -> HttpResponse:
    """New keys for an account eTermin stopped accepting; checked against eTermin first."""
    form = EterminKeysForm(request.POST)
    account = _workspace_account(request, account_id)
    try:
        if not form.is_valid():
            messages.error(request, _("Enter both API keys as eTermin shows them."))
            return redirect("web:settings_etermin")
        etermin.update_account(
            account,
            public_key=form.cleaned_data["public_key"],
            private_key=form.cleaned_data["private_key"],
        )
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request,
            _("eTermin accepts the new keys of %(name)s; the next sync runs within a minute.")
            % {"name": account.name},
        )
    return redirect("web:settings_etermin")


# The DNS lookup the email tab uses; tests replace it (no network there).
txt_lookup: sender_domain.TxtLookup = sender_domain.lookup_txt


@workspace_view
def email_tab(request: HttpRequest) -> HttpResponse:
    """The sending domain's SPF, DKIM and DMARC, checked when asked (DNS takes a moment)."""
    domain = sender_domain.sending_domain()
    findings = sender_domain.check(domain, txt_lookup) if request.GET.get("check") else None
    return render_page(
        request,
        "web/settings_email.html",
        {"nav": "settings", "tab": "email", "domain": domain, "findings": findings},
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def tracking_tab(request: HttpRequest) -> HttpResponse:
    """Open and click tracking: every member sees the switches, only admins change them."""
    workspace = request.workspace  # type: ignore[attr-defined]
    if request.method == "POST":
        # Tracking decides what is recorded about the workspace's contacts: an admin's call.
        if not can_admin(request.membership):  # type: ignore[attr-defined]
            return HttpResponse(_("Only admins can change tracking."), status=403)
        form = TrackingForm(request.POST)
        if form.is_valid():
            set_tracking(
                workspace,
                track_opens=form.cleaned_data["track_opens"],
                track_clicks=form.cleaned_data["track_clicks"],
            )
            messages.success(request, _("Tracking settings saved."))
            return redirect("web:settings_tracking")
    form = TrackingForm(
        initial={"track_opens": workspace.track_opens, "track_clicks": workspace.track_clicks}
    )
    return render_page(
        request, "web/settings_tracking.html", {"nav": "settings", "tab": "tracking", "form": form}
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def privacy_tab(request: HttpRequest) -> HttpResponse:
    """How long sign-ups are kept: every member sees it, only admins change it."""
    workspace = request.workspace  # type: ignore[attr-defined]
    status = 200
    if request.method == "POST":
        # How long personal data is kept is the business's decision as controller.
        if not can_admin(request.membership):  # type: ignore[attr-defined]
            return HttpResponse(_("Only admins can change data protection settings."), status=403)
        form = RetentionForm(request.POST)
        if form.is_valid():
            set_submission_retention(workspace, days=form.cleaned_data["submission_retention_days"])
            messages.success(request, _("Data protection settings saved."))
            return redirect("web:settings_privacy")
        status = 422
    else:
        form = RetentionForm(
            initial={"submission_retention_days": workspace.submission_retention_days}
        )
    return render_page(
        request,
        "web/settings_privacy.html",
        {
            "nav": "settings",
            "tab": "privacy",
            "form": form,
            "doi_days": links.max_age(links.Purpose.CONFIRM).days,
            "max_days": MAX_RETENTION_DAYS,
        },
        status=status,
    )
