"""Open and click tracking: signed tokens, rewriting an email's links, and the bot rule.

A marketing email is rewritten once, when it is rendered into the outbox (``services``): every
``http(s)`` link becomes ``{BASE_URL}/t/c/{token}`` and its target goes into ``Outbox.links``;
an open pixel ``{BASE_URL}/t/o/{token}`` goes before ``</body>``. The endpoints that answer these
URLs live in ``tracking_routes`` (on the Starlette hot path, not in Django).

A token is ``base64url(public id of the outbox row [+ link index] + 12-byte MAC)``: opaque
(nothing about the contact), compact (38 characters for opens, 40 for clicks) and unforgeable.
The MAC is keyed BLAKE2b (RFC 7693, a MAC by design) under a key per purpose derived from
``SECRET_KEY`` with HMAC-SHA256; it is as strong as a truncated HMAC-SHA256 and costs the hot
path a fraction of it (CPython's one-shot HMAC also hands the GIL to other threads on every call,
which the event loop then waits to get back). A click token names
an index into its own row's ``links``, so a tracking URL can only ever redirect to an address
that was in that email. Everything here is pure: no database, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import re
import uuid
from datetime import datetime
from functools import lru_cache

from django.conf import settings

from . import links

CLICK_PATH = "/t/c/"
OPEN_PATH = "/t/o/"
# Enough for any real newsletter; links after these stay as they are (untracked), which keeps
# ``Outbox.links`` bounded whatever a template produces.
MAX_TRACKED_LINKS = 1000
_MAC_BYTES = 12  # 96 bits: forging one token takes ~2^96 guesses
_ID_BYTES = 16
_INDEX_BYTES = 2
CLICK_TOKEN_LENGTH = 40  # base64url of 16 + 2 + 12 bytes, unpadded
OPEN_TOKEN_LENGTH = 38  # base64url of 16 + 12 bytes, unpadded


# -- tokens ------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _key(secret_key: str, purpose: str) -> bytes:
    # A key of its own per purpose: a leaked or misused click token says nothing about the
    # other signatures made with SECRET_KEY, and an open token never passes as a click.
    return hmac.new(
        secret_key.encode("utf-8"), f"terminflow.mail.tracking.{purpose}".encode(), hashlib.sha256
    ).digest()


def _mac(purpose: str, payload: bytes) -> bytes:
    key = _key(settings.SECRET_KEY, purpose)
    return hashlib.blake2b(payload, key=key, digest_size=_MAC_BYTES).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(token: str, length: int) -> bytes | None:
    if len(token) != length or not token.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None


def click_token(public_id: uuid.UUID, index: int) -> str:
    payload = public_id.bytes + index.to_bytes(_INDEX_BYTES, "big")
    return _encode(payload + _mac("click", payload))


def open_token(public_id: uuid.UUID) -> str:
    payload = public_id.bytes
    return _encode(payload + _mac("open", payload))


def read_click_token(token: str) -> tuple[uuid.UUID, int] | None:
    """The outbox row and link index a click token names, or None when it is not ours."""
    raw = _decode(token, CLICK_TOKEN_LENGTH)
    if raw is None or len(raw) != _ID_BYTES + _INDEX_BYTES + _MAC_BYTES:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac("click", payload)):
        return None
    return uuid.UUID(bytes=payload[:_ID_BYTES]), int.from_bytes(payload[_ID_BYTES:], "big")


def read_open_token(token: str) -> uuid.UUID | None:
    """The outbox row an open token names, or None when it is not ours."""
    raw = _decode(token, OPEN_TOKEN_LENGTH)
    if raw is None or len(raw) != _ID_BYTES + _MAC_BYTES:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac("open", payload)):
        return None
    return uuid.UUID(bytes=payload)


def click_url(public_id: uuid.UUID, index: int) -> str:
    return settings.BASE_URL + CLICK_PATH + click_token(public_id, index)


def open_url(public_id: uuid.UUID) -> str:
    return settings.BASE_URL + OPEN_PATH + open_token(public_id)


# -- rewriting ---------------------------------------------------------------------------------

# An <a> start tag. Bounded, so a body full of unclosed tags costs linear time; a tag longer
# than that, or one with a ">" inside a quoted value before its href, keeps its link untracked.
_A_TAG = re.compile(r"<a\s[^>]{0,4096}>", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'<>`=]+))""", re.IGNORECASE)
# Browsers drop ASCII tabs and newlines anywhere in a URL (WHATWG URL standard); other control
# characters make the address unusable, and such a link is left as it is.
_URL_NOISE = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@lru_cache(maxsize=4)
def _never_rewritten(base_url: str) -> tuple[str, ...]:
    """Prefixes of links that stay as they are: the signed mail pages, our tracking URLs."""
    return (*links.signed_prefixes(base_url), base_url + "/t/")


def _target(raw: str) -> str | None:
    """The link target a tracked URL may redirect to, or None when the link stays untouched."""
    url = _URL_NOISE.sub("", html.unescape(raw)).strip()
    if not url[:8].lower().startswith(("http://", "https://")) or _CONTROL.search(url):
        return None
    if url.startswith(_never_rewritten(settings.BASE_URL)):
        return None
    return url


def track(
    body_html: str, public_id: uuid.UUID, *, clicks: bool, opens: bool
) -> tuple[str, list[str]]:
    """``body_html`` with tracked links and/or the open pixel, and the link targets in order.

    Only ``http(s)`` links are rewritten: confirmation, unsubscribe and web-view links (signed
    in ``links``), ``mailto:``, ``tel:`` and ``#anchors`` stay as they are. The same target
    twice shares one entry (and so one token). The pixel goes before the last ``</body>``, or
    at the end of a body without one.
    """
    targets: list[str] = []
    if clicks:
        body_html = _rewrite_links(body_html, public_id, targets)
    if opens:
        pixel = f'<img src="{open_url(public_id)}" width="1" height="1" alt="">'
        at = body_html.lower().rfind("</body>")
        body_html = body_html[:at] + pixel + body_html[at:] if at >= 0 else body_html + pixel
    return body_html, targets


def _rewrite_links(body_html: str, public_id: uuid.UUID, targets: list[str]) -> str:
    index_of: dict[str, int] = {}
    base = settings.BASE_URL + CLICK_PATH

    def rewrite_href(match: re.Match[str]) -> str:
        raw = match.group(2)
        if raw is None:
            raw = match.group(3) if match.group(3) is not None else match.group(4)
        target = _target(raw)
        if target is None:
            return match.group(0)
        index = index_of.get(target)
        if index is None:
            if len(targets) >= MAX_TRACKED_LINKS:
                return match.group(0)
            index = index_of[target] = len(targets)
            targets.append(target)
        return f'{match.group(1)}"{base}{click_token(public_id, index)}"'

    def rewrite_tag(match: re.Match[str]) -> str:
        return _HREF.sub(rewrite_href, match.group(0), count=1)

    return _A_TAG.sub(rewrite_tag, body_html)


# -- the bot rule ------------------------------------------------------------------------------

# User agents of mail security gateways, link scanners, preview fetchers and HTTP libraries:
# none of them is a person reading the email. Matched anywhere in the header, ignoring case.
SCANNER_AGENTS = (
    "bot",
    "crawler",
    "spider",
    "scanner",
    "barracuda",
    "mimecast",
    "proofpoint",
    "messagelabs",
    "symantec",
    "trendmicro",
    "trend micro",
    "sophos",
    "forcepoint",
    "fireeye",
    "ironport",
    "zscaler",
    "fortiguard",
    "bitdefender",
    "kaspersky",
    "safelinks",
    "headlesschrome",
    "phantomjs",
    "facebookexternalhit",
    "skypeuripreview",
    "whatsapp",
    "python-",
    "aiohttp",
    "go-http-client",
    "curl/",
    "wget/",
    "libwww-perl",
    "okhttp",
    "java/",
    "apache-httpclient",
    "node-fetch",
    "axios/",
)
_SCANNER = re.compile("|".join(re.escape(agent) for agent in SCANNER_AGENTS), re.IGNORECASE)


@lru_cache(maxsize=4096)
def _machine_agent(user_agent: str) -> bool:
    # Cached: the same few hundred user agents come again and again.
    return not user_agent.strip() or _SCANNER.search(user_agent) is not None


def bot_seconds() -> float:
    """Hits this soon after sending are a scanner's (``TERMINFLOW_TRACKING_BOT_SECONDS``)."""
    return float(settings.TRACKING_BOT_SECONDS)


def is_bot(
    *,
    method: str,
    user_agent: str,
    sent_at: datetime | None,
    now: datetime,
    window_seconds: float,
) -> bool:
    """Whether a hit is a machine's (counted in ``bot_count``) rather than a person's.

    Three rules, any one suffices (docs/tracking.md):

    1. ``HEAD``: a person's mail client or browser fetches with GET; link checkers use HEAD.
    2. The user agent is empty or names a scanner, gateway, previewer or HTTP library.
    3. The hit came within ``window_seconds`` of ``sent_at``: mail security gateways fetch
       every link and image of a message within seconds of its delivery, before anyone can
       have read it. An email not yet marked sent (``sent_at`` empty) cannot have been read
       either: a gateway can be faster than the sender's bookkeeping.
    """
    if method == "HEAD":
        return True
    if _machine_agent(user_agent):
        return True
    if sent_at is None:
        return True
    return window_seconds > 0 and (now - sent_at).total_seconds() < window_seconds
