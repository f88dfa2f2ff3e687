"""The eTermin element as the builder and API clients see it in the registry."""

from __future__ import annotations


def test_save_notes_warns_that_booking_remarks_may_be_health_data(api) -> None:
    response = api.get("/api/v1/elements")

    [etermin] = [t for t in response.json() if t["key"] == "etermin.appointment"]
    save_notes = etermin["config_schema"]["properties"]["save_notes"]
    assert save_notes["default"] is False
    assert "may contain health data" in save_notes["description"]
