"""The consent ledger as sentences a person reads, not the stored dictionaries and hashes.

The ledger keeps machine details (message ids, text hashes) for proof; the page says what happened,
through which channel, and names the calendar, email and campaign instead of their ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils import formats
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from terminflow.campaigns.models import Campaign
from terminflow.contacts.models import ConsentEvent
from terminflow.etermin.models import EterminAccount
from terminflow.forms.models import Form
from terminflow.mail.models import EmailTemplate
from terminflow.web import labels


@dataclass
class Names:
    """Names of the things consent details point at, looked up once per page."""

    accounts: dict[int, str] = field(default_factory=dict)
    emails: dict[int, str] = field(default_factory=dict)
    campaigns: dict[int, str] = field(default_factory=dict)
    forms: dict[int, str] = field(default_factory=dict)


_UNSUBSCRIBE = re.compile(r"^unsubscribe \((?P<channel>[^)]*)\)$")


def channel(source: str) -> str:
    """Where a consent event came from, in words."""
    if source == "etermin":
        return _("eTermin booking")
    if source == "import":
        return _("contact import")
    if source == "api":
        return _("the API")
    if source == "smtp":
        return _("the mail server")
    if source == "double opt-in link":
        return _("the confirmation link")
    if source == "email":
        return _("email")
    if source.startswith("ui:"):
        return _("the web interface (%(user)s)") % {"user": source[3:]}
    if source.startswith("campaign "):
        return _("a campaign")
    if source.startswith("form "):
        return _("a sign-up form")
    match = _UNSUBSCRIBE.match(source)
    if match:
        return {
            "link": _("the unsubscribe link"),
            "one-click": _("one-click unsubscribe in the email program"),
            "list-unsubscribe": _("one-click unsubscribe in the email program"),
        }.get(match["channel"], match["channel"])
    return source or "–"


def _quoted(text: Any) -> str:
    return f"«{text}»"


def _calendar(details: dict[str, Any]) -> str:
    name = details.get("calendar_name") or details.get("calendar")
    if name:
        return _("calendar %(name)s") % {"name": _quoted(name)}
    if details.get("calendar_id"):
        return _("calendar %(name)s") % {"name": details["calendar_id"]}
    return ""


def _moment(value: Any) -> str:
    moment = parse_datetime(str(value)) if value else None
    return formats.date_format(moment, "SHORT_DATETIME_FORMAT") if moment else ""


def sentence(event: ConsentEvent, names: Names) -> str:
    d = event.details if isinstance(event.details, dict) else {}
    kind = event.kind
    via = channel(event.source)
    parts: list[str]
    if kind == "soi":
        parts = [_("Single opt-in through %(channel)s") % {"channel": via}]
        if event.source == "etermin":
            calendar = _calendar(d)
            if calendar:
                parts.append(calendar)
            account = names.accounts.get(d.get("account_id") or 0)
            if account:
                parts.append(_("account %(name)s") % {"name": _quoted(account)})
    elif kind == "doi_requested":
        email = names.emails.get(d.get("email_id") or 0)
        parts = [
            _("Double opt-in requested with the email %(email)s") % {"email": _quoted(email)}
            if email
            else _("Double opt-in requested")
        ]
        campaign = names.campaigns.get(d.get("campaign_id") or 0)
        if campaign:
            parts.append(_("campaign %(name)s") % {"name": _quoted(campaign)})
        form = names.forms.get(d.get("form_id") or 0)
        if form:
            parts.append(
                _("sign-up form %(name)s (consent text version %(version)s)")
                % {"name": _quoted(form), "version": d.get("form_consent_version", "–")}
            )
        calendar = _calendar(d)
        if calendar:
            parts.append(_("appointment in %(calendar)s") % {"calendar": calendar})
    elif kind == "doi_sent":
        parts = [_("Double opt-in email handed to the mail server")]
    elif kind == "doi_confirmed":
        parts = [_("Double opt-in confirmed through %(channel)s") % {"channel": via}]
    elif kind == "unsubscribed":
        parts = [_("Unsubscribed through %(channel)s") % {"channel": via}]
    elif kind == "bounced":
        parts = [
            _("The email bounced for good")
            if d.get("permanent")
            else _("The email bounced for now (temporary error)")
        ]
        if d.get("reply"):
            parts.append(_("the mail server answered %(reply)s") % {"reply": _quoted(d["reply"])})
    elif kind == "blocked":
        until = _moment(d.get("blocked_until"))
        parts = [
            _("Blocked for emails until %(until)s") % {"until": until}
            if until
            else _("Blocked for emails")
        ]
    else:
        before, after = d.get("from"), d.get("to")
        if before or after:
            parts = [
                _("Email status changed from %(old)s to %(new)s through %(channel)s")
                % {
                    "old": _quoted(labels.label("email_status", before) or "–"),
                    "new": _quoted(labels.label("email_status", after) or "–"),
                    "channel": via,
                }
            ]
        else:
            parts = [
                _("%(event)s through %(channel)s")
                % {"event": labels.label("consent", kind), "channel": via}
            ]
    return ", ".join(parts) + "."


def names_for(events: list[ConsentEvent], workspace: Any) -> Names:
    """Look up the accounts, emails, campaigns and forms the events mention, one query each."""

    def ids(key: str) -> set[int]:
        found = set()
        for event in events:
            value = (event.details or {}).get(key) if isinstance(event.details, dict) else None
            if isinstance(value, int):
                found.add(value)
        return found

    names = Names()
    if account_ids := ids("account_id"):
        names.accounts = dict(
            EterminAccount.objects.filter(workspace=workspace, pk__in=account_ids).values_list(
                "id", "name"
            )
        )
    if email_ids := ids("email_id"):
        names.emails = dict(
            EmailTemplate.objects.filter(workspace=workspace, pk__in=email_ids).values_list(
                "id", "name"
            )
        )
    if campaign_ids := ids("campaign_id"):
        names.campaigns = dict(
            Campaign.objects.filter(workspace=workspace, pk__in=campaign_ids).values_list(
                "id", "name"
            )
        )
    if form_ids := ids("form_id"):
        names.forms = dict(
            Form.objects.filter(workspace=workspace, pk__in=form_ids).values_list("id", "name")
        )
    return names
