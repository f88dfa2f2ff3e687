"""How long sign-ups are kept: the workspace's ``submission_retention_days`` after they ended.

A sign-up (a ``Submission``: the address, what was typed, IP address and user agent) is needed
until it is settled. It ends when it is confirmed, refused or failed, or, still unconfirmed,
when the confirmation link of its DOI email expires (``mail.links``): nobody can confirm it
after that. Once the workspace's retention period has passed since its end, the worker's sweep
``forms.retention`` deletes it. A sign-up the worker has not taken yet never ends here.

What stays: the contact, and the consent ledger, which holds the proof of the opt-in (form,
consent text version and hash, time, IP address and user agent of the request and of the
confirmation); the form's counts, which go on including the deleted sign-ups.

The sweep deletes in batches, each in one short transaction, and checks every row again
inside it: run twice or by two workers, it deletes and counts each sign-up once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet

from terminflow.kit import clock
from terminflow.mail.links import Purpose, max_age
from terminflow.workspaces.models import Workspace

from .models import Form, Submission, SubmissionStatus

PRUNE_BATCH = 500
_SETTLED = (SubmissionStatus.REFUSED, SubmissionStatus.FAILED)


def ended_before(cutoff: datetime) -> Q:
    """Sign-ups that ended before ``cutoff`` (see the module for when each kind ends)."""
    return (
        Q(status=SubmissionStatus.CONFIRMED, confirmed_at__lt=cutoff)
        | Q(status__in=_SETTLED, processed_at__lt=cutoff)
        # The link was signed when the email was rendered, just before ``processed_at``.
        | Q(status=SubmissionStatus.REQUESTED, processed_at__lt=cutoff - max_age(Purpose.CONFIRM))
    )


def prunable(days: int, now: datetime) -> QuerySet[Submission]:
    """The sign-ups of workspaces that keep them ``days`` days, past that period at ``now``."""
    return Submission.objects.filter(workspace__submission_retention_days=days).filter(
        ended_before(now - timedelta(days=days))
    )


def prune_submissions(*, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Delete up to ``batch`` sign-ups past their workspace's retention; returns how many."""
    now = now or clock.now()
    # Few distinct periods (most workspaces keep the default), so few queries per turn.
    periods = (
        Workspace.objects.filter(submission_retention_days__gt=0)
        .values_list("submission_retention_days", flat=True)
        .distinct()
        .order_by("submission_retention_days")
    )
    # Read outside the transaction; rows are checked again where they are deleted.
    found: dict[tuple[int, int, bool], list[int]] = defaultdict(list)
    room = batch
    for days in periods:
        rows = prunable(days, now).order_by("id").values_list("id", "form_id", "status")[:room]
        for pk, form_id, status in rows:
            found[(days, form_id, status == SubmissionStatus.CONFIRMED)].append(pk)
            room -= 1
        if room <= 0:
            break
    if not found:
        return 0
    deleted = 0
    with transaction.atomic():
        for (days, form_id, confirmed), ids in found.items():
            still = prunable(days, now).filter(pk__in=ids)
            still = (
                still.filter(status=SubmissionStatus.CONFIRMED)
                if confirmed
                else still.exclude(status=SubmissionStatus.CONFIRMED)
            )
            _, by_model = still.delete()
            count = by_model.get(Submission._meta.label, 0)
            if count:
                Form.objects.filter(pk=form_id).update(
                    pruned_submissions=F("pruned_submissions") + count,
                    pruned_confirmed=F("pruned_confirmed") + (count if confirmed else 0),
                )
                deleted += count
    return deleted
