"""Login rate limit: a few failed attempts per address and per email, then a pause.

Counted in Django's cache (per process in the embedded mode, shared when a shared cache is
configured), so guessing passwords costs an attacker time without locking anyone out for long.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

MAX_FAILURES = 10
WINDOW_SECONDS = 15 * 60


def _keys(email: str, ip: str) -> list[str]:
    digest = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:32]
    return [f"tf:login:email:{digest}", f"tf:login:ip:{ip}"]


def is_locked(email: str, ip: str) -> bool:
    return any((cache.get(key) or 0) >= MAX_FAILURES for key in _keys(email, ip))


def record_failure(email: str, ip: str) -> None:
    for key in _keys(email, ip):
        if cache.add(key, 1, WINDOW_SECONDS):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, WINDOW_SECONDS)


def reset(email: str, ip: str) -> None:
    cache.delete_many(_keys(email, ip))
