"""Logging in and out, the user's preferences, switching workspace, and the overview page."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from terminflow.campaigns.models import Campaign
from terminflow.contacts.models import Contact
from terminflow.etermin.models import EterminAccount, WebPush
from terminflow.kit import clock
from terminflow.kit.errors import Unprocessable
from terminflow.mail.models import Outbox, OutboxStatus
from terminflow.web import overview, throttle
from terminflow.web.forms import LoginForm, PreferencesForm
from terminflow.web.http import render_page
from terminflow.web.permissions import activate_preferences, login_view, workspace_view
from terminflow.workspaces.api import SESSION_WORKSPACE_KEY
from terminflow.workspaces.models import Membership
from terminflow.workspaces.services import (
    clear_login_failures,
    login_locked,
    record_login_failure,
    update_preferences,
)

# The overview shows failures of the last week: long enough to cover a weekend, short enough
# that what shows still needs action.
FAILURE_DAYS = 7


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    form = LoginForm(request, data=request.POST if request.method == "POST" else None)
    locked = False
    if request.method == "POST":
        email = request.POST.get("email", "")
        address = throttle.client_address(request)
        if login_locked(email, address):
            locked = True
        elif form.is_valid():
            clear_login_failures(email, address)
            login(request, form.user)
            return HttpResponseRedirect(next_url or settings.LOGIN_REDIRECT_URL)
        else:
            record_login_failure(email, address)
    status = 429 if locked else (200 if request.method == "GET" or form.is_valid() else 400)
    return render(
        request,
        "web/login.html",
        {"form": form, "next": next_url, "locked": locked},
        status=status,
    )


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect(settings.LOGIN_URL)


@login_view
@require_POST
def switch_workspace(request: HttpRequest) -> HttpResponse:
    membership = Membership.objects.filter(
        user=request.user,  # type: ignore[misc]
        workspace_id=request.POST.get("workspace") or 0,
    ).first()
    if membership is None:
        return HttpResponse(_("You are not a member of that workspace."), status=403)
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    return redirect("web:dashboard")


@login_view
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    initial = {"language": user.language, "timezone": user.timezone}  # type: ignore[union-attr]
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            update_preferences(
                user,  # type: ignore[arg-type]
                language=form.cleaned_data["language"],
                timezone=form.cleaned_data["timezone"],
            )
        except Unprocessable as exc:
            form.add_error(None, exc.detail)
        else:
            activate_preferences(request, request.workspace)  # type: ignore[attr-defined]
            messages.success(request, _("Your preferences are saved."))
            response = redirect("web:preferences")
            if user.language:  # type: ignore[union-attr]
                # The login page has no user yet; the cookie lets it speak the same language.
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    user.language,  # type: ignore[union-attr]
                    samesite="Lax",
                    max_age=365 * 24 * 3600,
                )
            return response
    return render_page(request, "web/preferences.html", {"form": form, "nav": ""})


@workspace_view
def dashboard(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    since = clock.now() - timedelta(days=FAILURE_DAYS)
    failed_emails = Outbox.objects.filter(
        workspace=workspace, status=OutboxStatus.FAILED, created_at__gte=since
    )
    failed_pushes = WebPush.objects.filter(
        workspace=workspace, status="failed", received_at__gte=since
    )
    counts = {
        "contacts": Contact.objects.filter(workspace=workspace).count(),
        "campaigns_active": Campaign.objects.filter(workspace=workspace, status="active").count(),
        "campaigns": Campaign.objects.filter(workspace=workspace).count(),
        "inbox_pending": WebPush.objects.filter(workspace=workspace, status="pending").count(),
        "emails_failed": failed_emails.count(),
        "pushes_failed": failed_pushes.count(),
    }
    figures = overview.figures(workspace, clock.now())
    charts = overview.chart_data(figures)
    recent_pushes = list(
        WebPush.objects.filter(workspace=workspace)
        .select_related("account")
        .defer("body")
        .order_by("-id")[:8]
    )
    return render_page(
        request,
        "web/dashboard.html",
        {
            "nav": "dashboard",
            "counts": counts,
            "days": FAILURE_DAYS,
            "accounts_count": EterminAccount.objects.filter(workspace=workspace).count(),
            "recent_pushes": recent_pushes,
            "latest_failed_emails": list(
                failed_emails.only(
                    "id", "to_email", "subject", "reason", "created_at", "contact_id"
                ).order_by("-id")[:5]
            ),
            "latest_failed_pushes": list(failed_pushes.defer("body").order_by("-id")[:5]),
            "figures": figures,
            "charts": charts,
            "chart_sections": overview.sections(charts),
            "chart_days": overview.DAYS,
            "doi_percent": overview.percent(
                figures["doi"]["confirmed"], figures["doi"]["requested"]
            ),
        },
    )
