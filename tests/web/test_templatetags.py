"""Template filters: phone numbers grouped as their country writes them."""

from __future__ import annotations

import pytest

from terminflow.web.templatetags.web import phone


@pytest.mark.parametrize(
    ("stored", "locale", "shown"),
    [
        ("+41446681800", "de-CH", "044 668 18 00"),
        ("0791234567", "de-CH", "079 123 45 67"),
        ("+4930123456", "de-CH", "+49 30 123456"),
        ("+41446681800", "de-DE", "+41 44 668 18 00"),
        ("030 123456", "de-DE", "030 123456"),
        ("bitte anrufen", "de-CH", "bitte anrufen"),
        ("12", "de-CH", "12"),
        ("", "de-CH", "–"),
        (None, "de-CH", "–"),
    ],
)
def test_phone_numbers_are_grouped_for_their_country(stored, locale, shown) -> None:
    assert phone(stored, locale) == shown
