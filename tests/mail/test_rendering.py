"""Rendering: locale-aware date filters, strict placeholders, the sandbox, HTML to text."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from terminflow.mail.rendering import (
    Formatting,
    RenderError,
    html_to_text,
    render_part,
    scoped,
    static_problems,
    uses_link,
)

ZURICH = Formatting(locale="de-CH", timezone="Europe/Zurich")
BERLIN = Formatting(locale="de-DE", timezone="Europe/Berlin")
LONDON_EN = Formatting(locale="en", timezone="Europe/London")


def render(
    source: str, fmt: Formatting = ZURICH, part: str = "body_text", **context: object
) -> str:
    return render_part(part, source, {k: scoped(k, v) for k, v in context.items()}, fmt)


def appointment(start: datetime) -> dict[str, object]:
    return {"start": start, "end": None, "calendar_name": "Praxis 1", "uid": "a-1"}


@pytest.mark.parametrize(
    ("fmt", "pattern", "expected"),
    [
        (ZURICH, "full", "Montag, 14. Dezember 2026 um 09:00"),
        (ZURICH, "long", "14. Dezember 2026 um 09:00"),
        (ZURICH, "medium", "14.12.2026, 09:00"),
        (ZURICH, "short", "14.12.26, 09:00"),
        (BERLIN, "full", "Montag, 14. Dezember 2026 um 09:00"),
        (LONDON_EN, "full", "Monday, 14 December 2026 at 08:00"),
        (ZURICH, "EEEE, d. MMMM y, HH:mm", "Montag, 14. Dezember 2026, 09:00"),
    ],
)
def test_datetime_filter_formats_in_the_workspace_locale_and_zone(
    fmt: Formatting, pattern: str, expected: str
) -> None:
    start = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)

    text = render(
        f'{{{{ appointment.start|datetime("{pattern}") }}}}', fmt, appointment=appointment(start)
    )

    assert text == expected


def test_times_follow_daylight_saving_on_both_sides_of_the_change() -> None:
    # Europe switched to summer time on 2026-03-29 at 01:00 UTC.
    before = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    after = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)

    assert render("{{ t|time }}", t=before) == "09:00"
    assert render("{{ t|time }}", t=after) == "09:00"
    assert render('{{ t|datetime("full") }}', t=after) == "Sonntag, 29. März 2026 um 09:00"


def test_field_values_stored_as_iso_text_are_formatted_like_datetimes() -> None:
    contact = {"fields": {"termin": "2026-12-03T08:30:00+00:00", "geburtstag": "1990-05-17"}}

    assert (
        render('{{ contact.fields.termin|datetime("full") }}', contact=contact)
        == "Donnerstag, 3. Dezember 2026 um 09:30"
    )
    assert render('{{ contact.fields.geburtstag|date("long") }}', contact=contact) == "17. Mai 1990"
    assert render("{{ d|date }}", d=date(2026, 1, 2)) == "02.01.2026"


def test_empty_values_format_as_nothing() -> None:
    assert (
        render("[{{ contact.fields.termin|datetime }}]", contact={"fields": {"termin": None}})
        == "[]"
    )


def test_unknown_placeholder_names_itself_and_its_line() -> None:
    with pytest.raises(RenderError) as caught:
        render("Hallo\n{{ contact.fields.lieblingsfarbe }}", contact={"fields": {}})

    assert str(caught.value) == (
        "Template error in body_text, line 2: unknown placeholder 'contact.fields.lieblingsfarbe'"
    )


def test_missing_top_level_name_is_an_unknown_placeholder() -> None:
    with pytest.raises(RenderError) as caught:
        render("{{ appointment.start }}", contact={})

    assert caught.value.message == "unknown placeholder 'appointment'"
    assert caught.value.line == 1


def test_a_field_called_like_a_dict_method_is_the_field() -> None:
    assert render("{{ contact.fields.items }}", contact={"fields": {"items": "drei"}}) == "drei"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ contact.__class__ }}",
        "{{ contact._values }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{% set x = [] %}{{ x.append(1) }}",
        "{{ range.__self__ }}",
    ],
)
def test_sandbox_escapes_fail_with_a_reason(source: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(source, contact={"first_name": "Anna"})

    assert caught.value.part == "body_text"
    assert caught.value.message


def test_html_is_escaped_and_text_is_not() -> None:
    contact = {"first_name": "<b>Anna & Co</b>"}

    assert render("{{ contact.first_name }}", part="body_html", contact=contact) == (
        "&lt;b&gt;Anna &amp; Co&lt;/b&gt;"
    )
    assert render("{{ contact.first_name }}", part="body_text", contact=contact) == (
        "<b>Anna & Co</b>"
    )


def test_static_problems_find_syntax_errors_unknown_names_and_private_attributes() -> None:
    problems = static_problems(
        "body_html", "<p>{{ kontakt.email }}</p>\n{{ links._x }}", {"contact", "links"}
    )

    assert [(p.line, p.message) for p in problems] == [
        (1, "unknown placeholder 'kontakt'"),
        (2, "attributes starting with '_' are not allowed ('_x')"),
    ]
    syntax = static_problems("subject", "Hallo {{ contact.first_name ", {"contact"})
    assert [(p.part, p.line) for p in syntax] == [("subject", 1)]
    assert "expected token" in syntax[0].message or "unexpected" in syntax[0].message


def test_static_problems_accept_names_the_template_declares() -> None:
    source = (
        "{% set n = 2 %}{% for tag in contact.tags %}{{ loop.index }}{{ tag }}{{ n }}{% endfor %}"
    )

    assert static_problems("body_text", source, {"contact"}) == []


def test_uses_link_sees_attribute_and_item_access() -> None:
    assert uses_link('<a href="{{ links.confirm }}">ja</a>', "confirm")
    assert uses_link("{{ links['unsubscribe'] }}", "unsubscribe")
    assert not uses_link("{{ links.webview }}", "confirm")


def test_html_to_text_keeps_paragraphs_lists_and_link_targets() -> None:
    markup = (
        "<html><head><style>p{color:red}</style></head><body>"
        "<h1>Hallo Anna</h1><p>Ihr Termin:<br>Montag</p>"
        "<ul><li>Eins</li><li>Zwei</li></ul>"
        '<p><a href="https://example.com/x">Bestätigen</a> &amp; fertig</p></body></html>'
    )

    assert html_to_text(markup) == (
        "Hallo Anna\n\nIhr Termin:\nMontag\n\n- Eins\n- Zwei\n\n"
        "Bestätigen (https://example.com/x) & fertig\n"
    )
