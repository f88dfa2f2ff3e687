"""The inbox (stored web pushes, with retry of failed ones) and the outbox (emails)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from terminflow.etermin import services as etermin
from terminflow.etermin.models import WebPush, WebPushStatus
from terminflow.etermin.pushes import AppointmentEvent, UnreadablePush, parse_push
from terminflow.kit import clock
from terminflow.kit.errors import NotFound, TerminflowError
from terminflow.mail import services as mail
from terminflow.mail.models import Outbox
from terminflow.web.http import is_htmx, render_page
from terminflow.web.labels import INBOX_STATUSES, OUTBOX_STATUSES
from terminflow.web.permissions import workspace_view

PAGE_SIZE = 50
MAX_DAYS = 3660
RETRY_ALL_LIMIT = 1000


def _since(request: HttpRequest) -> datetime | None:
    """``?days=7``: only the last days, as the overview's failure counts link them."""
    value = request.GET.get("days") or ""
    if value.isdigit() and 0 < int(value) <= MAX_DAYS:
        return clock.now() - timedelta(days=int(value))
    return None


def _before(request: HttpRequest) -> int | None:
    value = request.GET.get("before") or ""
    return int(value) if value.isdigit() and len(value) < 19 else None


def _booking(push: WebPush) -> AppointmentEvent | None:
    """Who booked and where, read from the stored body; None when the body cannot be read."""
    try:
        return parse_push(bytes(push.body), push.content_type, timezone=push.account.timezone)
    except UnreadablePush:
        return None


@workspace_view
def inbox_list(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    query = WebPush.objects.filter(workspace=workspace).select_related("account")
    status = request.GET.get("status") or ""
    if status in INBOX_STATUSES:
        query = query.filter(status=status)
    account = request.GET.get("account") or ""
    if account.isdigit():
        query = query.filter(account_id=int(account))
    before = _before(request)
    if before is not None:
        query = query.filter(pk__lt=before)
    since = _since(request)
    if since is not None:
        query = query.filter(received_at__gte=since)
    rows = list(query.order_by("-id")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    params = request.GET.copy()
    params.pop("before", None)
    accounts = list(etermin.accounts_of(workspace))
    chosen = next((a for a in accounts if str(a.pk) == account), None)
    return render_page(
        request,
        "web/inbox.html",
        {
            "nav": "inbox",
            "pushes": rows,
            "rows": [(push, _booking(push)) for push in rows],
            "statuses": list(INBOX_STATUSES.items()),
            "accounts": accounts,
            "account_name": chosen.name
            if chosen
            else (accounts[0].name if len(accounts) == 1 else ""),
            "filters": request.GET,
            "query_string": params.urlencode(),
            "older": rows[-1].pk if more else None,
            "failed_count": WebPush.objects.filter(
                workspace=workspace, status=WebPushStatus.FAILED
            ).count(),
        },
    )


@workspace_view
@require_POST
def inbox_retry(request: HttpRequest, push_id: int) -> HttpResponse:
    try:
        push = etermin.inbox_entry(request.workspace, push_id)  # type: ignore[attr-defined]
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    try:
        etermin.retry_push(push)
    except TerminflowError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("The web push is processed again shortly."))
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    return redirect(next_url or "web:inbox")


@workspace_view
@require_POST
def inbox_retry_all(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    count = 0
    failed = WebPush.objects.filter(workspace=workspace, status=WebPushStatus.FAILED).defer("body")
    for push in failed.order_by("id")[:RETRY_ALL_LIMIT]:
        try:
            etermin.retry_push(push)
        except TerminflowError:
            continue  # another worker or tab got to it first
        count += 1
    messages.success(
        request, _("%(count)s failed web pushes are processed again shortly.") % {"count": count}
    )
    return redirect("web:inbox")


@workspace_view
def outbox_list(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    status = request.GET.get("status") or ""
    contact = request.GET.get("contact") or ""
    rows = mail.list_outbox(
        workspace,
        contact_id=int(contact) if contact.isdigit() else None,
        status=status if status in OUTBOX_STATUSES else None,
        limit=PAGE_SIZE + 1,
        before_id=_before(request),
        since=_since(request),
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    params = request.GET.copy()
    params.pop("before", None)
    return render_page(
        request,
        "web/outbox.html",
        {
            "nav": "outbox",
            "emails": rows,
            "statuses": [
                (k, v)
                for k, v in OUTBOX_STATUSES.items()
                if k in {"queued", "sent", "failed", "cancelled"}
            ],
            "filters": request.GET,
            "query_string": params.urlencode(),
            "older": rows[-1].pk if more else None,
            "smtp": mail.smtp_configured(),
        },
    )


@workspace_view
def outbox_email(request: HttpRequest, email_id: int) -> HttpResponse:
    """One email as it was rendered: subject, HTML (sandboxed frame) and text."""
    workspace = request.workspace  # type: ignore[attr-defined]
    email = get_object_or_404(Outbox, workspace=workspace, pk=email_id)
    template = "web/outbox_email_fragment.html" if is_htmx(request) else "web/outbox_email.html"
    return render_page(request, template, {"nav": "outbox", "email": email})
