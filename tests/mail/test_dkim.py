"""DKIM signatures, checked by dkimpy (an independent implementation) against the public key."""

from __future__ import annotations

import base64
from functools import cache

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from terminflow.mail import dkim

HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe"]
HEAD = (
    b"From: Praxis  Seefeld <praxis@praxis.example>\r\n"
    b"To: anna@example.com\r\n"
    b"Subject: Ihr Termin\r\n \t am Montag\r\n"
    b"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\n"
    b"Message-ID: <abc@praxis.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
)


@cache
def key() -> tuple[bytes, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def signed(message: bytes) -> bytes:
    return dkim.sign(message, domain="praxis.example", selector="tf", pem=key()[0], headers=HEADERS)


def verifies(message: bytes) -> bool:
    return bool(dkimpy.verify(message, dnsfunc=lambda name, timeout=5: key()[1]))


@pytest.mark.parametrize(
    "body",
    [
        b"Hallo Anna,  hier \t sind\r\ndie Neuigkeiten.  \r\n\r\n\r\n",
        b"",
        b"ohne Zeilenende",
        b"\r\n\r\n",
        b"  \r\n\t\r\n",
        b"Zeile mit Leerzeichen am Ende \t \r\n \r\nletzte Zeile \t",
        b"\tEinzug\r\n\r\n  \r\nnach Leerzeilen\r\n\t\r\n",
        b".Punkt am Anfang\r\n..zwei\r\n",
        b"a  b\t\tc \t d\r\n\r\n\r\n ",
    ],
)
def test_signature_verifies(body: bytes) -> None:
    message = signed(HEAD + b"\r\n" + body)

    assert message.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert b"; h=from:to:subject:date:message-id; " in message
    assert verifies(message)


def test_a_changed_subject_or_body_breaks_the_signature() -> None:
    message = signed(HEAD + b"\r\nHallo Anna\r\n")

    assert not verifies(message.replace(b"Ihr Termin", b"Ihr Gewinn"))
    assert not verifies(message.replace(b"Hallo Anna", b"Hallo Bert"))


def test_a_header_added_later_with_the_same_name_breaks_the_signature() -> None:
    message = signed(HEAD + b"\r\nHallo\r\n")
    head, _, body = message.partition(b"\r\n\r\n")

    assert not verifies(head + b"\r\nSubject: Gewinn\r\n\r\n" + body)


def test_a_key_that_is_not_rsa_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    with pytest.raises(ValueError, match="RSA"):
        dkim.sign(HEAD + b"\r\nx", domain="d", selector="s", pem=pem, headers=HEADERS)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b" \t ",
        b"Hallo  Anna\t,\r\n \r\n\t\r\n",
        b"a \r\nb\t\r\n\r\nc  ",
        b"bare\rcarriage\nreturns \r\n",
        b"end\r\n\r\n \r\n\t",
    ],
)
def test_the_body_is_canonicalized_as_dkimpy_does(body: bytes) -> None:
    # given dkimpy's relaxed body canonicalization as the reference
    from dkim.canonicalization import Relaxed

    # then ours gives the same bytes
    assert dkim._canonical_body(body) == Relaxed.canonicalize_body(body)
