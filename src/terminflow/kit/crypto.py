"""Secrets at rest: random tokens, their lookup hashes, and Fernet encryption of stored keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token; 32 bytes gives the 256 bits the Web Push URL promises."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """The hash a token is stored and looked up by; the token itself is never stored in clear.

    Looking a token up by its SHA-256 keeps the comparison independent of how many characters of
    a guess match, so response times tell an attacker nothing.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"terminflow-at-rest:" + secret_key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plain: str) -> str:
    return _fernet(settings.SECRET_KEY).encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(cipher: str) -> str:
    try:
        return _fernet(settings.SECRET_KEY).decrypt(cipher.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with this SECRET_KEY") from exc


class Secret(str):
    """A string that never shows itself in ``repr`` (and so not in logs or tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('***')"


def workspace_pseudonym(purpose: str, workspace_id: int, value: str) -> str:
    """A keyed hash of ``value`` that only this installation can recompute, per workspace.

    The key is derived from the secret key and the workspace, so the same address gives
    unrelated pseudonyms in two workspaces and nobody without the secret key can test a guess
    against a stored pseudonym (a plain SHA-256 of an email address is reversed by trying
    addresses). Changing the secret key makes old pseudonyms unmatchable.
    """
    root = hashlib.sha256(f"terminflow-{purpose}:".encode() + settings.SECRET_KEY.encode()).digest()
    key = hmac.new(root, str(workspace_id).encode("ascii"), hashlib.sha256).digest()
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
