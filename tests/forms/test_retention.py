"""Retention of sign-ups: deleted the workspace's retention period after they ended, in batches;
the contact, the consent ledger and the form's counts stay."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.test import override_settings

from terminflow.contacts.models import ConsentEvent
from terminflow.forms import retention, services, submissions, tasks
from terminflow.forms.models import Form, Submission
from terminflow.kit import clock
from terminflow.workspaces.models import Workspace
from tests.conftest import make_workspace
from tests.mail.conftest import make_contact

from .factories import make_form
from .test_submissions import confirm, sign_up

pytestmark = pytest.mark.django_db


def signed_up(form: Form, email: str) -> Submission:
    """A sign-up as the worker leaves it: requested (DOI email queued), or refused."""
    sign_up(form, email=email)
    submissions.process_due()
    return Submission.objects.get(form=form, email=email)


def ended(submission: Submission, *, days_ago: float, now: datetime) -> None:
    """Move the sign-up's times back, as if it had happened ``days_ago`` days before ``now``."""
    then = now - timedelta(days=days_ago)
    Submission.objects.filter(pk=submission.pk).update(
        created_at=then,
        processed_at=then if submission.processed_at else None,
        confirmed_at=then if submission.confirmed_at else None,
    )


def every_table() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def one_of_each(workspace: Workspace, now: datetime, prefix: str = "") -> Form:
    """Sign-ups in every state on both sides of a 30-day retention (7-day DOI links)."""
    form = make_form(workspace)
    for email, days in (("confirmed-old", 31), ("confirmed-new", 29)):
        submission = signed_up(form, f"{prefix}{email}@example.com")
        confirm(submission)
        submission.refresh_from_db()
        ended(submission, days_ago=days, now=now)
    # Unconfirmed: the link expires 7 days after the email, so the sign-up ends then.
    for email, days in (("requested-old", 38), ("requested-new", 36)):
        ended(signed_up(form, f"{prefix}{email}@example.com"), days_ago=days, now=now)
    make_contact(workspace, f"{prefix}blocked@example.com", status="blocked")
    refused = signed_up(form, f"{prefix}blocked@example.com")
    assert refused.status == "refused"
    ended(refused, days_ago=31, now=now)
    failed = signed_up(form, f"{prefix}failed@example.com")
    Submission.objects.filter(pk=failed.pk).update(status="failed")
    ended(failed, days_ago=31, now=now)
    # Not taken by the worker yet: never ends here, however old.
    sign_up(form, email=f"{prefix}waiting@example.com")
    Submission.objects.filter(email=f"{prefix}waiting@example.com").update(
        created_at=now - timedelta(days=400)
    )
    assert Submission.objects.filter(form=form).count() == 7
    return form


def emails(form: Form) -> list[str]:
    return sorted(Submission.objects.filter(form=form).values_list("email", flat=True))


def ledger() -> list[tuple[Any, ...]]:
    return list(
        ConsentEvent.objects.order_by("pk").values_list(
            "pk", "contact__email", "kind", "ip", "user_agent", "details"
        )
    )


@override_settings(DOI_LINK_MAX_AGE_DAYS=7)
def test_sign_ups_past_the_retention_are_deleted_once_and_nothing_else(workspace: Workspace):
    # given the default retention (30 days) and sign-ups in every state
    now = clock.now()
    assert workspace.submission_retention_days == 30
    form = one_of_each(workspace, now)
    form.refresh_from_db()
    counts_before = services.counts(form)
    tables_before, ledger_before = every_table(), ledger()

    # when the sweep runs twice
    first = retention.prune_submissions(now=now)
    second = retention.prune_submissions(now=now)

    # then the sign-ups that ended more than 30 days ago are gone, once
    assert (first, second) == (4, 0)
    assert emails(form) == [
        "confirmed-new@example.com",
        "requested-new@example.com",
        "waiting@example.com",
    ]
    # and nothing else changed: contacts, ledger, emails, the form and its counts
    tables_after = every_table()
    assert {k: v for k, v in tables_after.items() if tables_before[k] != v} == {
        "forms.Submission": tables_before["forms.Submission"] - 4
    }
    assert ledger() == ledger_before
    form.refresh_from_db()
    assert services.counts(form) == counts_before == {"submissions": 7, "confirmed": 2}
    assert (form.pruned_submissions, form.pruned_confirmed) == (4, 1)
    assert services.list_forms(workspace)[0].submission_count == 7  # type: ignore[attr-defined]


# 21 sign-ups from the test's one client address.
@override_settings(DOI_LINK_MAX_AGE_DAYS=7, FORM_SUBMISSIONS_PER_ADDRESS=100)
def test_each_workspace_keeps_its_sign_ups_as_long_as_it_chose(workspace: Workspace):
    # given three workspaces: 30 days (default), 90 days, and 0 (keep)
    now = clock.now()
    longer, keeping = make_workspace("Zahnarzt Oerlikon"), make_workspace("Physio Wipkingen")
    Workspace.objects.filter(pk=longer.pk).update(submission_retention_days=90)
    Workspace.objects.filter(pk=keeping.pk).update(submission_retention_days=0)
    ours = one_of_each(workspace, now)
    theirs = {w.pk: one_of_each(w, now, prefix=f"w{w.pk}-") for w in (longer, keeping)}
    kept = {form.pk: emails(form) for form in theirs.values()}

    # when the sweep runs
    deleted = retention.prune_submissions(now=now)

    # then only the first workspace lost its old sign-ups
    assert deleted == 4
    assert len(emails(ours)) == 3
    assert {form.pk: emails(form) for form in theirs.values()} == kept


@override_settings(DOI_LINK_MAX_AGE_DAYS=7)
def test_the_sweep_deletes_in_batches_and_is_registered(workspace: Workspace):
    now = clock.now()
    form = make_form(workspace)
    for n in range(3):
        make_contact(workspace, f"a{n}@example.com", status="blocked")
        ended(signed_up(form, f"a{n}@example.com"), days_ago=31, now=now)

    rounds = [retention.prune_submissions(now=now, batch=2) for _ in range(3)]

    assert rounds == [2, 1, 0]
    form.refresh_from_db()
    assert (form.pruned_submissions, form.pruned_confirmed) == (3, 0)
    sweep = next(s for s in tasks.SWEEPS if s.name == "forms.retention")
    assert (sweep.idle_seconds, sweep.woken) == (3600, False)
    assert sweep.run() == 0


@override_settings(DOI_LINK_MAX_AGE_DAYS=7)
def test_a_sign_up_confirmed_between_reading_and_deleting_is_kept(workspace: Workspace):
    # given an unconfirmed sign-up whose link expired long ago, found by the sweep
    now = clock.now()
    form = make_form(workspace)
    submission = signed_up(form, "late@example.com")
    ended(submission, days_ago=60, now=now)
    real = retention.prunable
    calls = {"n": 0}

    def confirmed_meanwhile(days: int, at: datetime) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the check inside the deleting transaction
            Submission.objects.filter(pk=submission.pk).update(status="confirmed", confirmed_at=now)
        return real(days, at)

    # when it is confirmed before the sweep deletes it
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(retention, "prunable", confirmed_meanwhile)
        deleted = retention.prune_submissions(now=now)

    # then it stays, and nothing is counted as deleted
    assert deleted == 0
    assert Submission.objects.get().status == "confirmed"
    form.refresh_from_db()
    assert (form.pruned_submissions, form.pruned_confirmed) == (0, 0)
