"""SMTP configuration from the URL, and the MIME the sender builds."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default
from typing import Any

import pytest

from terminflow.kit.crypto import encrypt
from terminflow.mail.transports import (
    Envelope,
    SmtpConfigError,
    build_message,
    parse_smtp_url,
    pool_for,
)


def test_url_gives_server_login_and_options_without_showing_the_password() -> None:
    config = parse_smtp_url(
        "smtp://mailer%40praxis.ch:p%40ss@mail.example.com:587?pool=8&rate_per_minute=600"
        "&starttls=require&timeout=5"
    )

    assert config is not None
    assert (config.host, config.port, config.username, str(config.password)) == (
        "mail.example.com",
        587,
        "mailer@praxis.ch",
        "p@ss",
    )
    assert (config.pool, config.rate_per_minute, config.starttls, config.timeout) == (
        8,
        600,
        "require",
        5.0,
    )
    assert "p@ss" not in repr(config)
    assert config.describe() == "smtp://mailer@praxis.ch@mail.example.com:587"


def test_defaults_and_implicit_tls_port() -> None:
    plain = parse_smtp_url("smtp://relay.local")
    tls = parse_smtp_url("smtps://relay.local")

    assert plain is not None and tls is not None
    assert (plain.port, plain.starttls, plain.pool, plain.rate_per_minute) == (
        25,
        "opportunistic",
        4,
        0,
    )
    assert (tls.scheme, tls.port) == ("smtps", 465)
    assert parse_smtp_url("") is None


def test_encrypted_password_is_decrypted() -> None:
    config = parse_smtp_url(f"smtp://mailer:enc:{encrypt('geheim')}@relay.local")

    assert config is not None
    assert str(config.password) == "geheim"


@pytest.mark.parametrize(
    "url",
    ["http://relay.local", "smtp://", "smtp://relay.local?pool=0", "smtp://relay.local?starttls=x"],
)
def test_bad_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(SmtpConfigError):
        parse_smtp_url(url)


def test_message_parses_back_to_what_was_given() -> None:
    data = build_message(
        from_email="Praxis Zürich <praxis@example.com>",
        to_email="anna@example.com",
        subject="Grüezi – " + "sehr langer Betreff " * 8,
        body_text="Hallo\n.Punkt am Anfang\n" + "x" * 200,
        body_html="<p>Hallo</p>",
        message_id="<abc@example.com>",
        date=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        headers={"List-Unsubscribe": "<https://example.com/u/>"},
    )

    message = email.message_from_bytes(data, policy=default)
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert message["From"] == "Praxis Zürich <praxis@example.com>"
    assert message["Subject"] == "Grüezi – " + "sehr langer Betreff " * 8
    assert message["Date"].datetime == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert message["List-Unsubscribe"] == "<https://example.com/u/>"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == "Hallo\n.Punkt am Anfang\n" + "x" * 200
    assert message.get_body(("html",)).get_content().strip() == "<p>Hallo</p>"


def test_lines_that_start_with_a_dot_arrive_unchanged(smtp: Any) -> None:
    # given a message whose lines start with dots (SMTP ends the data at a lone dot)
    message = (
        b"From: praxis@example.com\r\nTo: anna@example.com\r\nSubject: Punkte\r\n\r\n"
        b".erste\r\n..zweite\r\n.\r\nmitten . drin\r\n.\r\n...\r\nohne Ende."
    )
    pool = pool_for(parse_smtp_url(smtp.url))

    # when it is sent over a real SMTP session
    deliveries = pool.deliver([Envelope("praxis@example.com", "anna@example.com", message)])

    # then the server got every line as written (the missing final line end added)
    assert [d.outcome for d in deliveries] == ["sent"]
    assert [m.data for m in smtp.messages] == [message + b"\r\n"]
