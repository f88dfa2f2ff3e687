"""Reads remembered within one unit of work (``kit.memo``)."""

from __future__ import annotations

from terminflow.kit import memo


def counter() -> tuple[list[int], object]:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    return calls, compute


def test_outside_a_scope_every_call_computes():
    calls, compute = counter()
    assert memo.remember(("k",), compute) == 1
    assert memo.remember(("k",), compute) == 2
    assert len(calls) == 2


def test_within_a_scope_each_key_is_computed_once():
    calls, compute = counter()
    with memo.scope():
        assert memo.remember(("k", 1), compute) == 1
        assert memo.remember(("k", 1), compute) == 1
        assert memo.remember(("k", 2), compute) == 2
    assert len(calls) == 2


def test_a_scope_forgets_when_it_ends_and_a_nested_one_shares_the_outer():
    calls, compute = counter()
    with memo.scope():
        memo.remember(("k",), compute)
        with memo.scope():
            assert memo.remember(("k",), compute) == 1
    with memo.scope():
        assert memo.remember(("k",), compute) == 2
    assert len(calls) == 2


def test_a_computation_that_raises_is_not_remembered():
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database away")
        return "read"

    with memo.scope():
        try:
            memo.remember(("k",), flaky)
        except RuntimeError:
            pass
        assert memo.remember(("k",), flaky) == "read"
    assert len(attempts) == 2
