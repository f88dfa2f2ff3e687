"""Signed links in emails: double opt-in confirmation, unsubscribe and the web view.

A link names an outbox row (its ``public_id``) and is signed with a purpose-specific salt and a
timestamp, so a confirmation link cannot be used to unsubscribe, nobody can forge one, and each
expires. Unsubscribe links live much longer than confirmation links: people unsubscribe from old
emails, and an unsubscribe that no longer works is worse than a stale one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.core import signing
from django.urls import NoReverseMatch, reverse

from terminflow.kit.errors import BadRequest, NotFound


class Purpose(Enum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    WEBVIEW = "webview"


_URL_NAMES = {
    Purpose.CONFIRM: "confirm",
    Purpose.UNSUBSCRIBE: "unsubscribe",
    Purpose.WEBVIEW: "webview",
}


def _path(purpose: Purpose, token: str) -> str:
    # The pages are included from the web app's URLs, inside its namespace or at the top.
    for namespace in ("web:mail", "mail"):
        try:
            return reverse(f"{namespace}:{_URL_NAMES[purpose]}", kwargs={"token": token})
        except NoReverseMatch:
            continue
    raise NoReverseMatch(f"the mail pages are not in the URLs (mail:{_URL_NAMES[purpose]})")


class LinkInvalid(NotFound):
    code = "link_invalid"


class LinkExpired(BadRequest):
    status = 410
    code = "link_expired"


def max_age(purpose: Purpose) -> timedelta:
    if purpose is Purpose.CONFIRM:
        return timedelta(days=float(getattr(settings, "DOI_LINK_MAX_AGE_DAYS", 7)))
    return timedelta(days=float(getattr(settings, "UNSUBSCRIBE_LINK_MAX_AGE_DAYS", 365)))


def _signer(purpose: Purpose) -> signing.TimestampSigner:
    # "." instead of ":" keeps the token one plain path segment for every mail client.
    return signing.TimestampSigner(salt=f"terminflow.mail.{purpose.value}", sep=".")


def make_token(purpose: Purpose, public_id: uuid.UUID) -> str:
    return _signer(purpose).sign(public_id.hex)


def read_token(purpose: Purpose, token: str) -> uuid.UUID:
    """The outbox row a token names; raises ``LinkExpired`` or ``LinkInvalid``."""
    signer = _signer(purpose)
    try:
        value = signer.unsign(token, max_age=max_age(purpose))
    except signing.SignatureExpired:
        raise LinkExpired("This link has expired.") from None
    except signing.BadSignature:
        raise LinkInvalid("This link is not valid.") from None
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        raise LinkInvalid("This link is not valid.") from None


def url(purpose: Purpose, public_id: uuid.UUID) -> str:
    return settings.BASE_URL + _path(purpose, make_token(purpose, public_id))


def signed_prefixes(base_url: str) -> tuple[str, ...]:
    """The start of every signed link's URL (``base_url`` + the page's path before the token).

    Open and click tracking leaves these links alone: they must keep working as they are.
    """
    return tuple(base_url + _path(purpose, "x")[:-2] for purpose in Purpose)


def preview_url(purpose: Purpose) -> str:
    """Where a link points in a preview: the real page, with a token that confirms nothing."""
    return settings.BASE_URL + _path(purpose, "preview")
