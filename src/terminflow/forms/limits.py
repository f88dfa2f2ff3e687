"""How many sign-ups one client address and one email address may send per hour.

Counted in the database (``SubmissionCounter``), so every web process and machine counts the
same submissions, as the login rate limit does. Keys are keyed hashes: the table never holds
an address, and nobody without the secret key can test a guess against it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from terminflow.kit import crypto

from .models import SubmissionCounter

WINDOW = timedelta(hours=1)


def address_key(address: str) -> str:
    return "a:" + crypto.workspace_pseudonym("form-submissions", 0, address)[:64]


def email_key(workspace_id: int, email: str) -> str:
    return "e:" + crypto.workspace_pseudonym("form-submissions", workspace_id, email)[:64]


def per_address() -> int:
    return int(settings.FORM_SUBMISSIONS_PER_ADDRESS)


def per_email() -> int:
    return int(settings.FORM_SUBMISSIONS_PER_EMAIL)


def take(keys: list[tuple[str, int]], now: datetime) -> bool:
    """Count one submission for each (key, limit) in order; False at the first key at its limit.

    Keys before the one at its limit stay counted (a refused attempt still counts against its
    client address). Call it inside the request's transaction: the counts and the submission
    commit together, with one commit per request.
    """
    with transaction.atomic():
        # Expired windows go first, so a key found below is always in its current window.
        SubmissionCounter.objects.filter(window_started_at__lte=now - WINDOW).delete()
        return all(_take(key, limit, now) for key, limit in keys)


def _take(key: str, limit: int, now: datetime) -> bool:
    if SubmissionCounter.objects.filter(key=key, count__lt=limit).update(count=F("count") + 1):
        return True
    if SubmissionCounter.objects.filter(key=key).exists():
        return False
    try:
        with transaction.atomic():
            SubmissionCounter.objects.create(key=key, count=1, window_started_at=now)
    except IntegrityError:  # another process counted the first one at the same moment
        return bool(
            SubmissionCounter.objects.filter(key=key, count__lt=limit).update(count=F("count") + 1)
        )
    return True
