"""Is the sending domain set up for delivery? SPF, DKIM and DMARC records, in plain words.

Mailbox providers (Gmail and Yahoo since 2024) refuse or file as spam bulk email from domains
without SPF, DKIM and DMARC. The settings page asks DNS (``lookup_txt``, with a timeout) and
says for each record what to fix. Tests hand in their own lookup: there is no network there.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils.translation import gettext as _

from . import dkim, transports

TIMEOUT_SECONDS = 3.0


class LookupFailed(Exception):
    """DNS did not answer (timeout, no server): the record could not be checked."""


# Returns the TXT strings at a name ([] when there are none) or raises LookupFailed.
TxtLookup = Callable[[str], list[str]]


def lookup_txt(name: str) -> list[str]:
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=TIMEOUT_SECONDS)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise LookupFailed(str(exc)) from exc
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


@dataclass(frozen=True)
class Finding:
    check: str  # "spf", "dkim" or "dmarc"
    ok: bool
    found: str  # the record as published, "" when there is none
    advice: str  # what to do, in the user's language; "" when nothing is to do


def sending_domain() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()


def _public_key_record() -> str:
    key = transports.current_dkim()
    if key is None:
        return ""
    public = (
        dkim.load_key(key.private_key)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def _tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, _sep, value = part.partition("=")
        if name.strip():
            tags[name.strip().lower()] = "".join(value.split())
    return tags


def _spf(domain: str, lookup: TxtLookup) -> Finding:
    records = [r for r in lookup(domain) if r.lower().startswith("v=spf1")]
    if not records:
        return Finding(
            "spf",
            False,
            "",
            _(
                "No SPF record. Add a TXT record at %(domain)s that names the servers sending "
                "your email, e.g. “v=spf1 include:<your email provider> ~all”."
            )
            % {"domain": domain},
        )
    if len(records) > 1:
        return Finding(
            "spf",
            False,
            " | ".join(records),
            _("There are %(count)d SPF records; receivers ignore all of them. Merge them into one.")
            % {"count": len(records)},
        )
    record = records[0]
    if record.split()[-1].lower() in ("+all", "all"):
        return Finding(
            "spf",
            False,
            record,
            _("The SPF record ends in “+all”: it lets anyone send as you. End it in “~all”."),
        )
    return Finding("spf", True, record, "")


def _dkim(domain: str, lookup: TxtLookup) -> Finding:
    selector = settings.DKIM_SELECTOR
    ours = _public_key_record()
    if not (settings.DKIM_DOMAIN and selector and ours):
        return Finding(
            "dkim",
            False,
            "",
            _(
                "terminflow does not sign with DKIM yet. Set TERMINFLOW_DKIM_DOMAIN, "
                "TERMINFLOW_DKIM_SELECTOR and TERMINFLOW_DKIM_PRIVATE_KEY."
            ),
        )
    name = f"{selector}._domainkey.{settings.DKIM_DOMAIN}"
    records = [r for r in lookup(name) if "p=" in r]
    if not records:
        return Finding(
            "dkim",
            False,
            "",
            _("No DKIM key is published. Add a TXT record at %(name)s with: %(record)s")
            % {"name": name, "record": ours},
        )
    if _tags(records[0]).get("p") != _tags(ours)["p"]:
        return Finding(
            "dkim",
            False,
            records[0],
            _(
                "The DKIM key at %(name)s is not terminflow's key, so signatures fail. "
                "Replace the record with: %(record)s"
            )
            % {"name": name, "record": ours},
        )
    if settings.DKIM_DOMAIN.lower() != domain and not domain.endswith(
        "." + settings.DKIM_DOMAIN.lower()
    ):
        return Finding(
            "dkim",
            False,
            records[0],
            _(
                "Emails are signed for %(dkim)s but sent from %(domain)s; DMARC needs the two "
                "to match. Sign for %(domain)s."
            )
            % {"dkim": settings.DKIM_DOMAIN, "domain": domain},
        )
    return Finding("dkim", True, records[0], "")


def _dmarc(domain: str, lookup: TxtLookup) -> Finding:
    name = f"_dmarc.{domain}"
    records = [r for r in lookup(name) if r.lower().startswith("v=dmarc1")]
    if not records:
        return Finding(
            "dmarc",
            False,
            "",
            _(
                "No DMARC record. Add a TXT record at %(name)s, to start with: "
                "“v=DMARC1; p=none; rua=mailto:dmarc@%(domain)s”."
            )
            % {"name": name, "domain": domain},
        )
    policy = _tags(records[0]).get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return Finding(
            "dmarc",
            False,
            records[0],
            _("The DMARC record has no valid policy: add “p=none”, “p=quarantine” or “p=reject”."),
        )
    if policy == "none":
        return Finding(
            "dmarc",
            True,
            records[0],
            _(
                "DMARC only monitors (p=none). Once its reports show all your email passes, "
                "change it to p=quarantine."
            ),
        )
    return Finding("dmarc", True, records[0], "")


def check(domain: str | None = None, lookup: TxtLookup = lookup_txt) -> list[Finding]:
    """SPF, DKIM and DMARC of the sending domain; a check DNS did not answer says so."""
    domain = (domain or sending_domain()).lower()
    findings = []
    for name, run in (("spf", _spf), ("dkim", _dkim), ("dmarc", _dmarc)):
        try:
            findings.append(run(domain, lookup))
        except LookupFailed:
            findings.append(
                Finding(
                    name, False, "", _("DNS did not answer in time; try the check again later.")
                )
            )
    return findings
