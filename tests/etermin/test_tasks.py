"""The inbox sweep's batches while pushes arrive: sized by how long a batch takes."""

from __future__ import annotations

import pytest

from terminflow.etermin.models import WebPush
from terminflow.etermin.tasks import TimedBatches

from .factories import make_account, push_body, store_push

pytestmark = pytest.mark.django_db


def _pending() -> int:
    return WebPush.objects.filter(status="pending").count()


def test_batches_grow_halfway_to_the_largest_while_they_take_less_than_the_target(workspace):
    # given 100 pending pushes, and batches that may take 10 s (far more than any does)
    account = make_account(workspace)
    for n in range(100):
        store_push(account, push_body("CREATED", f"uid-{n}"))
    batches = TimedBatches(target=10.0, smallest=5, largest=40)

    # when batches run until the inbox is empty
    sizes = []
    while moved := batches():
        sizes.append(moved)

    # then each full batch moved the next size halfway to the largest, and nothing was left
    assert sizes == [5, 23, 32, 36, 4]
    assert batches.full() == 38
    assert _pending() == 0


def test_batches_shrink_to_the_smallest_when_each_takes_longer_than_the_target(workspace):
    # given 100 pending pushes, and batches that should take a nanosecond (none can)
    account = make_account(workspace)
    for n in range(100):
        store_push(account, push_body("CREATED", f"uid-{n}"))
    batches = TimedBatches(target=1e-9, smallest=5, largest=40)
    batches.limit = 40

    # when batches run until the inbox is empty
    sizes = []
    while moved := batches():
        sizes.append(moved)

    # then each full batch moved the next size halfway to the smallest, and nothing was left
    assert sizes == [40, 22, 13, 9, 7, 6, 3]
    assert batches.full() == 5
    assert _pending() == 0
