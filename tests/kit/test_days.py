"""Local days in an IANA zone: their UTC bounds across DST changes, and counting rows per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from terminflow.contacts.models import ConsentEvent
from terminflow.kit.days import counts_per_day, last_days
from tests.conftest import make_workspace
from tests.contacts.factories import make_contact


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_day_clocks_go_back_is_25_hours_and_the_day_they_go_forward_23() -> None:
    autumn = last_days("Europe/Zurich", utc("2026-10-26T12:00:00"), 3)
    spring = last_days("Europe/Zurich", utc("2026-03-30T12:00:00"), 3)

    assert autumn.days == [date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]
    assert autumn.bounds[2] - autumn.bounds[1] == timedelta(hours=25)
    assert autumn.bounds[1] == utc("2026-10-24T22:00:00")
    assert spring.bounds[2] - spring.bounds[1] == timedelta(hours=23)
    assert (spring.start, spring.end) == (utc("2026-03-27T23:00:00"), utc("2026-03-30T22:00:00"))


def test_today_is_the_local_date_not_the_utc_one() -> None:
    # 23:30 UTC on 31 December is already 1 January in Zurich
    days = last_days("Europe/Zurich", utc("2026-12-31T23:30:00"), 1)

    assert days.days == [date(2027, 1, 1)]


def test_a_midnight_that_does_not_exist_starts_the_day_at_its_first_instant() -> None:
    # Santiago de Chile moves from 00:00 to 01:00 on 6 September 2026.
    days = last_days("America/Santiago", utc("2026-09-06T15:00:00"), 2)

    assert days.bounds[1] == utc("2026-09-06T04:00:00")
    assert days.bounds[2] - days.bounds[1] == timedelta(hours=23)


@pytest.mark.django_db
def test_rows_are_counted_on_their_local_day_by_group() -> None:
    # given
    workspace = make_workspace()
    contact = make_contact(workspace, email="anna@example.com")
    days = last_days("Europe/Zurich", utc("2026-10-26T12:00:00"), 3)
    for at, kind in [
        ("2026-10-23T22:30:00", "soi"),  # 24 Oct, 00:30 local
        ("2026-10-25T22:59:00", "soi"),  # 25 Oct, 23:59 local (winter time again)
        ("2026-10-25T23:00:00", "soi"),  # 26 Oct, 00:00 local
        ("2026-10-25T23:00:00", "bounced"),
        ("2026-10-23T21:59:00", "soi"),  # 23 Oct: before the days
    ]:
        ConsentEvent.objects.create(
            workspace=workspace, contact=contact, kind=kind, occurred_at=utc(at)
        )
    # when
    counted = counts_per_day(
        ConsentEvent.objects.filter(workspace=workspace), "occurred_at", days, by="kind"
    )
    # then
    assert counted == {
        (date(2026, 10, 24), "soi"): 1,
        (date(2026, 10, 25), "soi"): 1,
        (date(2026, 10, 26), "soi"): 1,
        (date(2026, 10, 26), "bounced"): 1,
    }
