"""The starters' renderer of design documents: the format's rules, escaping and limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from terminflow.mail import rendering
from terminflow.mail.starter_render import DesignError, render_design

FMT = rendering.Formatting(locale="de-CH", timezone="Europe/Zurich")
APPOINTMENT = {
    "start": datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
    "end": datetime(2026, 12, 3, 10, 15, tzinfo=UTC),
    "calendar_name": "Praxis Seefeld",
}


def design(*blocks: dict, **settings) -> dict:
    return {"version": 1, "settings": settings, "blocks": list(blocks)}


def render(markup: str, **context) -> str:
    scoped = {name: rendering.scoped(name, value) for name, value in context.items()}
    return rendering.render_part("body_html", markup, scoped, FMT)


def test_a_document_is_a_responsive_table_layout_with_inline_css() -> None:
    # when
    markup = render_design(design({"type": "heading", "text": "Hallo", "level": 2}, width=560))
    # then
    assert markup.startswith('<!DOCTYPE html>\n<html lang="de">')
    assert "@media only screen and (max-width:580px)" in markup
    assert 'class="tf-container" width="560"' in markup
    assert "width:560px;max-width:560px" in markup
    assert (
        '<h2 style="margin:0 0 16px 0;font-size:21px;line-height:1.25;font-weight:bold;'
        'color:#1f2937;text-align:left">Hallo</h2>'
    ) in markup


def test_text_keeps_the_allowed_subset_and_strips_the_rest() -> None:
    # given rich text with a script, an image, an event handler and a javascript: link
    block = {
        "type": "text",
        "html": '<p onclick="x()">Guten <strong>Tag</strong> <script>alert(1)</script>'
        '<img src="x"><a href="javascript:alert(1)">hier</a> <a href="https://a.ch/?q=1&amp;r=2">'
        "da</a></p><ul><li>eins</li></ul><div>frei</div>",
    }
    # when
    markup = render_design(design(block, link_color="#123456"))
    # then
    style = "margin:0 0 14px 0;line-height:1.55;color:#1f2937"
    assert (
        f'<p style="{style}">Guten <strong>Tag</strong> alert(1)'
        '<a style="color:#123456;text-decoration:underline">hier</a> '
        '<a href="https://a.ch/?q=1&amp;r=2" style="color:#123456;text-decoration:underline">'
        f'da</a></p><ul style="{style};padding-left:22px"><li style="margin:0 0 4px 0">eins</li>'
        "</ul>frei"
    ) in markup
    assert "<script" not in markup and "onclick" not in markup and "<img" not in markup


def test_placeholders_stay_and_text_around_them_cannot_open_a_tag() -> None:
    # given text that tries a block tag, a comment and stray braces beside real placeholders
    block = {
        "type": "text",
        "html": "<p>Hallo {{ contact.first_name }} {% for x in range(9) %}x{% endfor %} "
        "{# c #} {{ oops & <b>bold</b></p>",
    }
    heading = {"type": "heading", "text": 'Termin am {{ appointment.start|date("long") }} <i>'}
    # when
    markup = render_design(design(heading, block))
    html = render(markup, contact={"first_name": "Lea"}, appointment=APPOINTMENT)
    # then the placeholders are filled and everything else reads as the text it was
    assert "Termin am 3. Dezember 2026 &lt;i&gt;</h1>" in html
    assert (
        "Hallo Lea &#123;% for x in range(9) %&#125;x&#123;% endfor %&#125; &#123;# c #&#125; "
        "&#123;&#123; oops &amp; <b>bold</b></p>"
    ) in html


def test_a_button_links_to_a_url_or_to_one_placeholder_only() -> None:
    # given
    confirm = {"type": "button", "text": "Bestätigen", "href": "{{ links.confirm }}"}
    mixed = {"type": "button", "text": "Kaputt", "href": "https://a.ch/{{ contact.email }}"}
    styled = {
        "type": "button",
        "text": "Los",
        "href": "https://a.ch",
        "align": "center",
        "color": "red;background:url(x)",
        "text_color": "#000",
    }
    # when
    html = render(
        render_design(design(confirm, mixed, styled)),
        links={"confirm": "https://t.example/mail/confirm/abc/"},
    )
    # then
    assert 'href="https://t.example/mail/confirm/abc/"' in html
    assert 'href="" style' in html  # the mixed one links nowhere rather than anywhere
    assert '<td align="center">' in html
    assert 'bgcolor="#0f766e"' in html and "url(x)" not in html  # a bad colour takes the default
    assert "color:#000;text-decoration:none" in html


def test_the_appointment_block_shows_date_time_calendar_and_hint_in_the_workspace_locale() -> None:
    # given
    block = {"type": "appointment", "show_calendar": True, "show_end": True, "calendar_hint": True}
    # when
    html = render(render_design(design(block), language="de"), appointment=APPOINTMENT)
    # then
    assert "Donnerstag, 3. Dezember 2026</p>" in html
    assert "10:30 – 11:15</p>" in html
    assert "Praxis Seefeld</p>" in html
    assert "Den Termin finden Sie als Kalenderdatei (.ics) im Anhang" in html


def test_the_appointment_block_renders_nothing_without_an_appointment() -> None:
    # given
    block = {"type": "appointment", "show_calendar": True, "show_end": False}
    markup = render_design(design({"type": "text", "html": "<p>vorher</p>"}, block))
    # when
    html = render(markup)
    # then
    assert "vorher" in html
    assert "background:#f1f5f9" not in html


def test_columns_image_divider_and_spacer() -> None:
    # given
    columns = {
        "type": "columns",
        "columns": [
            [{"type": "text", "html": "<p>links</p>"}],
            [{"type": "image", "src": "https://a.ch/logo.png", "alt": "Logo", "width": 900}],
        ],
    }
    # when
    markup = render_design(design(columns, {"type": "divider"}, {"type": "spacer", "height": 12}))
    # then
    assert markup.count('class="tf-col" width="50%"') == 2
    assert '<img src="https://a.ch/logo.png" alt="Logo" width="600"' in markup
    assert "border-top:1px solid #e5e7eb" in markup
    assert '<div style="height:12px;line-height:12px;font-size:1px">&nbsp;</div>' in markup


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (design(*[{"type": "divider"}] * 201), "more than 200 blocks"),
        (design({"type": "text", "html": "x" * 100_001}), "larger than 100 KB"),
        (design({"type": "video"}), "unknown block type 'video'"),
        (design({"type": "columns", "columns": [[]]}), "2 or 3 columns"),
        (
            design(
                {
                    "type": "columns",
                    "columns": [[{"type": "columns", "columns": [[], []]}], []],
                }
            ),
            "unknown block type 'columns'",
        ),
        ({"version": 1}, "no list of blocks"),
    ],
)
def test_designs_beyond_the_limits_or_shape_are_refused(document: dict, message: str) -> None:
    with pytest.raises(DesignError, match=message):
        render_design(document)
