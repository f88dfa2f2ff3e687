"""Test emails from the editor: one email rendered with a contact's data, sent to the author.

A test is sent at once over the configured SMTP server, not through the outbox: the outbox is
the record of what contacts were sent, and a test is not one. So it is in no contact's history,
no statistics and no consent ledger, gets no tracking, and its links (confirm, unsubscribe, web
view) are the preview pages that change nothing. Its subject starts with "[Test]" and it carries
``X-Terminflow-Test: 1``. Each person (or API token) may send ``PER_HOUR`` tests an hour,
counted in ``TrialEmail`` rows, so the button cannot be turned into a mailing tool.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from terminflow.campaigns import registry
from terminflow.contacts.models import Contact
from terminflow.kit import clock
from terminflow.kit.errors import NotFound, TerminflowError, Unprocessable

from . import rendering, services, transports
from .models import EmailTemplate, TrialEmail

log = logging.getLogger("terminflow.mail")

PER_HOUR = 20
SUBJECT_PREFIX = "[Test] "


class TooManyTests(TerminflowError):
    status = 429
    code = "too_many_tests"


class TestNotSent(TerminflowError):
    status = 502
    code = "test_not_sent"


def latest_appointment(contact: Contact) -> dict[str, Any]:
    """What the contact's newest enrollment with an appointment gives templates, else ``{}``."""
    for enrollment in contact.enrollments.order_by("-id")[:20]:
        extra = registry.enrollment_context(enrollment)
        if extra.get("appointment"):
            return extra
    return {}


def send_test(template: EmailTemplate, contact: Contact, *, to: str, sender: str) -> dict[str, Any]:
    """Render ``template`` for ``contact`` and send it to ``to`` now; returns what was sent.

    Raises ``TooManyTests`` (429) over the hourly limit, ``Unprocessable`` when the email
    cannot be rendered or no SMTP server is configured, ``TestNotSent`` (502) when the server
    refused it. Nothing is recorded for a test that was not sent.
    """
    if contact.workspace_id != template.workspace_id:
        raise NotFound(_("Contact %(pk)s does not exist."), pk=contact.pk)
    now = clock.now()
    recent = TrialEmail.objects.filter(sender=sender, created_at__gt=now - timedelta(hours=1))
    if recent.count() >= PER_HOUR:
        raise TooManyTests(
            _("At most %(count)s test emails an hour; please wait a little."), count=PER_HOUR
        )
    try:
        config = transports.current_config()
    except transports.SmtpConfigError:
        config = None
    if config is None:
        raise Unprocessable(
            _("No mail server is configured, so no test email can be sent."), code="no_smtp"
        )
    extra = latest_appointment(contact)
    try:
        rendered = services.render_email(template, contact, public_id=None, extra=extra, now=now)
    except rendering.RenderError as exc:
        raise Unprocessable(str(exc), extra={"errors": [exc.as_problem()]}) from None
    subject = SUBJECT_PREFIX + rendered.subject
    message = transports.build_message(
        from_email=formataddr((template.workspace.name, settings.DEFAULT_FROM_EMAIL)),
        to_email=to,
        subject=subject,
        body_text=rendered.body_text,
        body_html=rendered.body_html,
        message_id=f"<test.{uuid.uuid4().hex}@{transports.message_id_domain()}>",
        date=now,
        headers={**rendered.headers, "X-Terminflow-Test": "1"},
        ics=rendered.ics,
    )
    dkim = transports.current_dkim()
    if dkim is not None:
        message = transports.dkim_sign(message, dkim)
    connection = transports.SmtpConnection(config)
    try:
        delivery = connection.send(transports.Envelope(transports.envelope_sender(), to, message))
    except transports.ServerTrouble as exc:
        log.warning("test email of template %s not sent: %s", template.pk, exc)
        raise TestNotSent(_("The mail server could not be reached.")) from None
    finally:
        connection.close()
    if delivery.outcome != "sent":
        raise TestNotSent(
            _("The mail server did not accept the test email: %(reply)s"),
            reply=delivery.reply or delivery.outcome,
        )
    TrialEmail.objects.create(
        workspace_id=template.workspace_id,
        template=template,
        sender=sender,
        to_email=to,
        created_at=now,
    )
    return {"to": to, "subject": subject, "with_appointment": bool(extra)}
