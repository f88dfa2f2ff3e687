"""The sending domain check: SPF, DKIM and DMARC, with a stub DNS (no network in tests)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import translation

from terminflow.mail import sender_domain
from terminflow.mail.sender_domain import LookupFailed

DOMAIN = "praxis-seefeld.ch"


def make_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(public).decode()


@pytest.fixture
def signing(settings: Any) -> str:
    pem, public = make_key()
    settings.DEFAULT_FROM_EMAIL = f"Praxis Seefeld <praxis@{DOMAIN}>"
    settings.DKIM_DOMAIN = DOMAIN
    settings.DKIM_SELECTOR = "tf2026"
    settings.DKIM_PRIVATE_KEY = pem
    return public


def stub(records: dict[str, list[str]]) -> sender_domain.TxtLookup:
    asked: list[str] = []

    def lookup(name: str) -> list[str]:
        asked.append(name)
        if name == "timeout." + DOMAIN:
            raise LookupFailed("timed out")
        return records.get(name, [])

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


def by_check(findings: list[sender_domain.Finding]) -> dict[str, tuple[bool, str]]:
    return {f.check: (f.ok, f.advice) for f in findings}


def test_a_domain_set_up_well_passes(signing: str) -> None:
    lookup = stub(
        {
            DOMAIN: [
                "google-site-verification=abc",
                "v=spf1 include:spf.protection.outlook.com -all",
            ],
            f"tf2026._domainkey.{DOMAIN}": [f"v=DKIM1; k=rsa; p={signing}"],
            f"_dmarc.{DOMAIN}": ["v=DMARC1; p=quarantine; rua=mailto:dmarc@praxis-seefeld.ch"],
        }
    )

    findings = sender_domain.check(DOMAIN, lookup)

    assert by_check(findings) == {"spf": (True, ""), "dkim": (True, ""), "dmarc": (True, "")}
    assert lookup.asked == [  # type: ignore[attr-defined]
        DOMAIN,
        f"tf2026._domainkey.{DOMAIN}",
        f"_dmarc.{DOMAIN}",
    ]


def test_missing_records_say_what_to_publish(signing: str) -> None:
    with translation.override("en"):
        findings = sender_domain.check(DOMAIN, stub({}))

    result = by_check(findings)
    assert result["spf"][0] is False
    assert result["spf"][1].startswith(f"No SPF record. Add a TXT record at {DOMAIN}")
    assert result["dkim"][0] is False
    assert result["dkim"][1] == (
        f"No DKIM key is published. Add a TXT record at tf2026._domainkey.{DOMAIN} with: "
        f"v=DKIM1; k=rsa; p={signing}"
    )
    assert result["dmarc"][1] == (
        f"No DMARC record. Add a TXT record at _dmarc.{DOMAIN}, to start with: "
        f"“v=DMARC1; p=none; rua=mailto:dmarc@{DOMAIN}”."
    )


def test_wrong_records_are_explained_in_german(signing: str) -> None:
    _, other_key = make_key()
    lookup = stub(
        {
            DOMAIN: ["v=spf1 a mx -all", "v=spf1 include:mailgun.org ~all"],
            f"tf2026._domainkey.{DOMAIN}": [f"v=DKIM1; k=rsa; p={other_key}"],
            f"_dmarc.{DOMAIN}": ["v=DMARC1; p=none"],
        }
    )

    with translation.override("de"):
        result = by_check(sender_domain.check(DOMAIN, lookup))

    assert result["spf"] == (
        False,
        "Es gibt 2 SPF-Einträge; Empfänger ignorieren dann alle. Fassen Sie sie zu einem zusammen.",
    )
    assert result["dkim"][0] is False
    assert result["dkim"][1].startswith(
        f"Der DKIM-Schlüssel bei tf2026._domainkey.{DOMAIN} ist nicht der von terminflow"
    )
    assert result["dmarc"][0] is True
    assert result["dmarc"][1].startswith("DMARC beobachtet nur (p=none).")


def test_spf_that_allows_everyone_is_refused(signing: str) -> None:
    result = by_check(sender_domain.check(DOMAIN, stub({DOMAIN: ["v=spf1 +all"]})))

    assert result["spf"][0] is False


def test_without_dkim_settings_it_says_how_to_turn_signing_on(settings: Any) -> None:
    settings.DKIM_DOMAIN = ""
    settings.DKIM_SELECTOR = ""
    settings.DKIM_PRIVATE_KEY = ""
    lookup = stub({})

    with translation.override("en"):
        result = by_check(sender_domain.check(DOMAIN, lookup))

    assert result["dkim"] == (
        False,
        "terminflow does not sign with DKIM yet. Set TERMINFLOW_DKIM_DOMAIN, "
        "TERMINFLOW_DKIM_SELECTOR and TERMINFLOW_DKIM_PRIVATE_KEY.",
    )
    assert f"tf2026._domainkey.{DOMAIN}" not in lookup.asked  # type: ignore[attr-defined]


def test_a_dns_timeout_is_reported_not_raised(signing: str) -> None:
    with translation.override("en"):
        result = by_check(sender_domain.check("timeout." + DOMAIN, stub({})))

    assert result["spf"] == (False, "DNS did not answer in time; try the check again later.")
    assert result["dmarc"][0] is False
