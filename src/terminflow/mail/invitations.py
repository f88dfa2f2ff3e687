"""The invitation email: a team member invited to a workspace, in that workspace's language.

It is not an outbox row. The outbox holds emails to contacts under their consent rules, and its
rows are readable by every member of the workspace; an invitation goes to a person who is not a
contact and carries a link that lets its holder join, so it must not sit in a readable column.
It goes out at once over the configured SMTP server (with DKIM when set up), and the team page
shows whether it did; an admin can send it again.
"""

from __future__ import annotations

import logging
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import UnknownLocaleError
from babel.dates import format_date, format_time
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from terminflow.kit import clock
from terminflow.workspaces.models import Invitation
from terminflow.workspaces.team import SendResult

from . import transports
from .rendering import AT_TIME

log = logging.getLogger("terminflow.mail")

ROLE_NAMES = {
    "admin": gettext_lazy("Admin"),
    "editor": gettext_lazy("Editor"),
    "viewer": gettext_lazy("Viewer"),
}


def _expiry(invitation: Invitation) -> str:
    workspace = invitation.workspace
    try:
        zone = ZoneInfo(workspace.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    locale = (workspace.locale or workspace.language).replace("-", "_")
    moment = invitation.expires_at.astimezone(zone)
    try:
        day = format_date(moment, "long", locale=locale)
        hour = format_time(moment, "short", locale=locale)
    except (ValueError, LookupError, UnknownLocaleError):
        locale = "de_CH"
        day = format_date(moment, "long", locale=locale)
        hour = format_time(moment, "short", locale=locale)
    joined = AT_TIME.get(locale.split("_")[0], AT_TIME["en"])
    return joined.format(date=day, time=hour)


def compose(invitation: Invitation, url: str) -> tuple[str, str, str]:
    """Subject, text and HTML of the invitation, in the workspace's language."""
    workspace = invitation.workspace
    inviter = invitation.invited_by
    with translation.override(workspace.language):
        context = {
            "workspace_name": workspace.name,
            "inviter": (inviter.get_full_name() or inviter.email) if inviter else "",
            "role": str(ROLE_NAMES.get(invitation.role, invitation.role)),
            "url": url,
            "expires": _expiry(invitation),
            "language": workspace.language,
        }
        subject = _("Invitation to %(workspace)s on terminflow") % {"workspace": workspace.name}
        text = render_to_string("mail/invitation.txt", context)
        markup = render_to_string("mail/invitation.html", context)
    return subject, text, markup


def send_invitation(invitation: Invitation, url: str) -> SendResult:
    """Send the invitation now; never raises for SMTP trouble (the result says what happened)."""
    try:
        config = transports.current_config()
    except transports.SmtpConfigError as exc:
        return SendResult(False, f"SMTP is misconfigured: {exc}")
    if config is None:
        return SendResult(False, "SMTP is not configured (TERMINFLOW_SMTP_URL)")
    subject, text, markup = compose(invitation, url)
    message = transports.build_message(
        from_email=settings.DEFAULT_FROM_EMAIL,
        to_email=invitation.email,
        subject=subject,
        body_text=text,
        body_html=markup,
        message_id=f"<invitation.{uuid.uuid4().hex}@{transports.message_id_domain()}>",
        date=clock.now(),
    )
    dkim = transports.current_dkim()
    if dkim is not None:
        message = transports.dkim_sign(message, dkim)
    envelope = transports.Envelope(transports.envelope_sender(), invitation.email, message)
    connection = transports.SmtpConnection(config)
    try:
        delivery = connection.send(envelope)
    except transports.ServerTrouble as exc:
        log.warning("invitation %s not sent: %s", invitation.pk, exc)
        return SendResult(False, str(exc))
    finally:
        connection.close()
    if delivery.outcome != "sent":
        log.warning("invitation %s not sent: %s", invitation.pk, delivery.reply)
        return SendResult(False, delivery.reply or delivery.outcome)
    return SendResult(True)
