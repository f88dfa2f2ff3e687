"""Email status and the consent ledger: checking a status and refusing a double opt-in set by
hand (``DoiByHand``), moving a contact to a status with its ledger entry
(``set_email_status``), the bounce-block counters (``set_block``) and appending any event to
the ledger (``record_consent``); rows of the ledger are never changed afterwards.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from terminflow.kit import clock
from terminflow.kit.errors import Unprocessable

from . import signals
from .cleaning import shorten
from .models import ConsentEvent, ConsentKind, Contact, EmailStatus

# The ledger kind that records a move to each status; the details always say from what to what.
_CONSENT_KIND_FOR_STATUS = {
    EmailStatus.CONFIRMED_SOI: ConsentKind.SOI,
    EmailStatus.CONFIRMED_DOI: ConsentKind.DOI_CONFIRMED,
    EmailStatus.UNSUBSCRIBED: ConsentKind.UNSUBSCRIBED,
    EmailStatus.BLOCKED: ConsentKind.BLOCKED,
    EmailStatus.BLOCKED_TEMPORARILY: ConsentKind.BLOCKED,
}


def clean_status(status: Any) -> str:
    if status not in EmailStatus.values:
        raise Unprocessable(
            gettext_lazy("'%(status)s' is not an email status; use one of: %(value)s."),
            status=status,
            value=", ".join(EmailStatus.values),
        )
    return str(status)


class DoiByHand(Unprocessable):
    code = "doi_by_hand"


def refuse_doi_by_hand(current: str, new: str | None, proof: Mapping[str, Any] | None) -> None:
    """Only the double opt-in itself (or an import that carries its proof) confirms by DOI.

    Marketing email goes only to ``confirmed_doi`` contacts, so setting it by hand would
    skip the consent that status stands for. Keeping a status that is already there is fine.
    """
    if new != EmailStatus.CONFIRMED_DOI or current == EmailStatus.CONFIRMED_DOI:
        return
    if proof is not None and isinstance(proof, Mapping) and proof.get("confirmed_at"):
        return
    raise DoiByHand(
        _(
            "Only the contact can confirm a double opt-in, by the link in the double opt-in "
            "email; the status “confirmed (double opt-in)” cannot be set by hand."
        ),
        extra={"field": "email_status"},
    )


def _clean_ip(ip: str | None) -> str | None:
    if ip is None or ip == "":
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise Unprocessable(
            gettext_lazy("'%(shorten)s' is not an IP address."), shorten=shorten(str(ip))
        ) from None


def lock_status(contact: Contact) -> str:
    """Lock the contact's row until the transaction ends; its email status, also set on
    ``contact``. Whoever decides from the status (confirm, unsubscribe, a change) reads it so,
    and two such decisions cannot both act on the same old status."""
    current: str = (
        Contact.objects.select_for_update()
        .filter(pk=contact.pk)
        .values_list("email_status", flat=True)
        .get()
    )
    contact.email_status = current
    return current


def set_email_status(
    contact: Contact,
    status: str,
    *,
    source: str,
    details: dict | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> None:
    """Move the contact to ``status`` and record it in the consent ledger.

    Nothing is written when the status does not change. Reaching ``confirmed_doi`` sends
    ``doi_confirmed``.
    """
    status = clean_status(status)
    ip = _clean_ip(ip)
    with transaction.atomic(savepoint=False):
        current = lock_status(contact)
        if current == status:
            return
        now = clock.now()
        Contact.objects.filter(pk=contact.pk).update(email_status=status, updated_at=now)
        contact.email_status = status
        contact.updated_at = now
        record_status(
            contact, current, status, source=source, details=details, ip=ip, user_agent=user_agent
        )
        if status == EmailStatus.CONFIRMED_DOI:
            signals.doi_confirmed.send(sender=Contact, contact=contact)


def set_block(contact: Contact, *, count: int, until: datetime | None) -> None:
    """Keep the bounce-block bookkeeping: how many temporary blocks, and until when.

    The email status and its ledger entry are written by ``set_email_status``; this only
    stores the counters that decide how long the next block lasts.
    """
    Contact.objects.filter(pk=contact.pk).update(block_count=count, blocked_until=until)
    contact.block_count = count
    contact.blocked_until = until


def record_status(
    contact: Contact,
    old: str,
    new: str,
    *,
    source: str,
    details: dict | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    kind = _CONSENT_KIND_FOR_STATUS.get(EmailStatus(new), ConsentKind.STATUS_CHANGED)
    return record_consent(
        contact,
        kind,
        source=source,
        details={"from": old, "to": new, **(details or {})},
        ip=ip,
        user_agent=user_agent,
        occurred_at=contact.updated_at,
    )


def record_consent_many(
    kind: str, events: list[tuple[int, dict]], *, source: str, occurred_at: datetime
) -> int:
    """Append the events (contact id, details), all of ``kind``, in one insert; events of
    contacts that no longer exist are left out. Returns how many were written.

    For the sweeps that record the same event for a whole batch (the emails just sent).
    """
    if kind not in ConsentKind.values:
        raise ValueError(f"{kind!r} is not a consent event kind")
    ids = {contact_id for contact_id, _details in events}
    owners = dict(Contact.objects.filter(pk__in=ids).values_list("pk", "workspace_id"))
    rows = [
        ConsentEvent(
            workspace_id=owners[contact_id],
            contact_id=contact_id,
            kind=kind,
            occurred_at=occurred_at,
            source=source[:255],
            details=details,
        )
        for contact_id, details in events
        if contact_id in owners
    ]
    ConsentEvent.objects.bulk_create(rows)
    return len(rows)


def record_consent(
    contact: Contact,
    kind: str,
    *,
    source: str = "",
    details: dict | None = None,
    ip: str | None = None,
    user_agent: str = "",
    occurred_at: datetime | None = None,
) -> ConsentEvent:
    """Append one event to the contact's consent ledger (rows are never changed afterwards)."""
    if kind not in ConsentKind.values:
        raise Unprocessable(
            gettext_lazy("'%(kind)s' is not a consent event kind; use one of: %(value)s."),
            kind=kind,
            value=", ".join(ConsentKind.values),
        )
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise Unprocessable(gettext_lazy("occurred_at: needs a time zone."))
    if details is not None and not isinstance(details, dict):
        raise Unprocessable(gettext_lazy("details: must be an object."))
    return ConsentEvent.objects.create(
        workspace_id=contact.workspace_id,
        contact=contact,
        kind=kind,
        occurred_at=occurred_at or clock.now(),
        source=(source or "")[:255],
        details=details or {},
        ip=_clean_ip(ip),
        user_agent=user_agent or "",
    )
