"""eTermin API: accounts, calendars and the inbox (filled in by issue 2)."""

from ninja import Router

router = Router(tags=["eTermin"])
