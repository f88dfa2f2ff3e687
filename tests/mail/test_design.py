"""The visual editor's design document: validation, sanitising and rendering to the HTML body."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import translation

from terminflow.kit import clock
from terminflow.mail import design, rendering, services
from terminflow.workspaces.models import Workspace

from .conftest import make_contact

TOP = '<tr><td style="height:16px;font-size:0;line-height:0;">&nbsp;</td></tr>\n'
CELL = "font-family:Arial, Helvetica, sans-serif;font-size:16px;line-height:1.5;color:#1f2937;"


def doc(*blocks: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"version": 1, "settings": settings, "blocks": list(blocks)}


def rows(html: str) -> str:
    """The block rows of a rendered design, between the top and bottom spacing rows."""
    start = html.index(TOP) + len(TOP)
    end = html.rindex(TOP)
    return html[start:end]


def problems(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(design.DesignInvalid) as caught:
        design.clean(document)
    return [(p["path"], p["message"]) for p in caught.value.extra["errors"]]


# Sanitising rich text --------------------------------------------------------------------------


def test_rich_text_keeps_the_allowed_tags_and_drops_everything_else() -> None:
    markup = (
        '<p class="x" onclick="steal()">Hallo <b>fett</b> <em>kursiv</em> '
        '<span style="color:red">rot</span><script>alert(1)</script></p>'
        "<ul><li>eins</li><li>zwei</li></ul><div>Zeile<br>zwei</div><img src=x onerror=y>"
    )

    stored, template = design.rich_text(markup)

    assert stored == (
        "<p>Hallo <b>fett</b> <em>kursiv</em> rot</p>"
        "<ul><li>eins</li><li>zwei</li></ul><p>Zeile<br>zwei</p>"
    )
    assert template == (
        '<p style="margin:0 0 12px 0;">Hallo <b>fett</b> <em>kursiv</em> rot</p>'
        '<ul style="margin:0 0 12px 0;padding-left:24px;">'
        '<li style="margin:0 0 4px 0;">eins</li><li style="margin:0 0 4px 0;">zwei</li></ul>'
        '<p style="margin:0 0 12px 0;">Zeile<br>zwei</p>'
    )


def test_escaped_script_text_stays_text_and_cannot_open_a_template_tag() -> None:
    stored, template = design.rich_text("<p>&lt;script&gt;alert(1)&lt;/script&gt; {Preis}</p>")

    assert stored == "<p>&lt;script&gt;alert(1)&lt;/script&gt; {Preis}</p>"
    # A brace of the text is written so that Jinja never reads it as part of a tag.
    assert template == (
        '<p style="margin:0 0 12px 0;">&lt;script&gt;alert(1)&lt;/script&gt; &#123;Preis}</p>'
    )
    assert problems(doc({"type": "text", "html": "<p>{{ 7*7 }</p>"})) == [
        ("blocks.0.html", "a placeholder cannot be read: unexpected '}'")
    ]


def test_javascript_links_are_refused_in_text_and_buttons() -> None:
    document = doc(
        {"type": "text", "html": '<p><a href="javascript:alert(1)">klick</a></p>'},
        {"type": "button", "text": "Los", "href": " JavaScript:alert(1)"},
    )

    assert problems(document) == [
        (
            "blocks.0.html",
            "the link must start with https://, http://, mailto: or tel: "
            "(not “javascript:alert(1)”)",
        ),
        (
            "blocks.1.href",
            "the link must start with https://, http://, mailto: or tel: "
            "(not “JavaScript:alert(1)”)",
        ),
    ]


def test_a_link_placeholder_must_be_one_of_the_links() -> None:
    document = doc(
        {"type": "button", "text": "Bestätigen", "href": "{{links.confirm}}"},
        {"type": "button", "text": "Web", "href": "{{ contact.fields.website }}"},
        {"type": "button", "text": "Zwei", "href": "https://x.ch/{{ links.webview }}"},
    )

    assert problems(document) == [
        ("blocks.1.href", "only the placeholders of links (links.…) can be a link target"),
        ("blocks.2.href", "a link is a web address or exactly one link placeholder"),
    ]


# Placeholders ----------------------------------------------------------------------------------


def test_placeholders_are_stored_in_one_canonical_form() -> None:
    document = doc(
        {"type": "heading", "text": "Hallo {{contact.first_name}}"},
        {
            "type": "text",
            "html": "<p>{{ appointment.start | datetime('full') }}, "
            "{{ contact.fields['mein feld'] }}</p>",
        },
    )

    cleaned = design.clean(document)

    assert cleaned["blocks"][0]["text"] == "Hallo {{ contact.first_name }}"
    assert cleaned["blocks"][1]["html"] == (
        '<p>{{ appointment.start|datetime("full") }}, {{ contact.fields["mein feld"] }}</p>'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{% if contact %}x{% endif %}",
            "only placeholders {{ … }} are allowed, no {% … %} or {# … #}",
        ),
        ("{# note #}", "only placeholders {{ … }} are allowed, no {% … %} or {# … #}"),
        ("{{ contact.__class__ }}", "attributes starting with '_' are not allowed"),
        ("{{ contact.email|e }}", "the filter “e” is not allowed here"),
        ("{{ range(10) }}", "only names, fields and date formats are allowed in a placeholder"),
        ("{{ 7 * 7 }}", "only names, fields and date formats are allowed in a placeholder"),
        (
            "{{ contact.first_name ",
            "a placeholder cannot be read: unexpected end of template, "
            "expected 'end of print statement'.",
        ),
    ],
)
def test_placeholders_may_only_look_values_up(text: str, message: str) -> None:
    assert problems(doc({"type": "heading", "text": text})) == [("blocks.0.text", message)]


# Structure and limits --------------------------------------------------------------------------


def test_defaults_are_filled_in() -> None:
    cleaned = design.clean({"version": 1, "blocks": [{"type": "spacer"}, {"type": "divider"}]})

    assert cleaned == {
        "version": 1,
        "settings": design.DEFAULT_SETTINGS,
        "blocks": [{"type": "spacer", "height": 24}, {"type": "divider", "color": "#e5e7eb"}],
    }


def test_unknown_types_fields_and_bad_values_are_named_by_their_place() -> None:
    document = {
        "version": 2,
        "settings": {"width": 2000, "font": "comic"},
        "blocks": [
            {"type": "video"},
            {"type": "heading", "text": "Hallo", "level": 7, "colour": "#fff"},
            {"type": "image", "src": "/media/x.png"},
            {"type": "columns", "columns": [[{"type": "columns", "columns": []}], []]},
            {"type": "columns", "columns": [[], [], [], []]},
            {"type": "button", "text": "Los"},
        ],
    }

    found = problems(document)

    assert found == [
        ("version", "must be 1"),
        ("settings.width", "must be a whole number from 480 to 800"),
        ("settings.font", "must be one of: sans, serif"),
        (
            "blocks.0",
            "unknown block type “video”; known: heading, text, image, button, divider, "
            "spacer, columns, appointment",
        ),
        ("blocks.1.level", "must be a whole number from 1 to 3"),
        ("blocks.1.colour", "unknown field of a “heading” block"),
        ("blocks.2.src", "an image is an absolute web address (https://…)"),
        ("blocks.3.columns.0.0", "columns cannot hold columns"),
        ("blocks.4.columns", "columns hold 2 or 3 columns"),
        ("blocks.5.href", "is missing"),
    ]


def test_the_first_problem_is_the_message_with_its_place_in_words() -> None:
    document = doc(
        {"type": "text", "html": "<p>x</p>"},
        {
            "type": "columns",
            "columns": [[{"type": "text", "html": "x"}], [{"type": "spacer", "height": 1}]],
        },
    )

    with pytest.raises(design.DesignInvalid) as caught:
        design.clean(document)
    with translation.override("de"), pytest.raises(design.DesignInvalid) as german:
        design.clean(document)

    assert caught.value.detail == (
        "Block 2, column 2, block 1, height: must be a whole number from 4 to 200"
    )
    assert german.value.detail == (
        "Block 2, Spalte 2, Block 1, Höhe: muss eine ganze Zahl von 4 bis 200 sein"
    )


def test_at_most_200_blocks_and_100_kb() -> None:
    many = doc(*[{"type": "spacer"}] * 201)
    large = doc(
        {"type": "text", "html": "<p>" + "x" * 49_000 + "</p>"},
        *[{"type": "text", "html": "<p>" + "y" * 49_000 + "</p>"}] * 2,
    )

    assert problems(many) == [("blocks", "at most 200 blocks")]
    assert len(json.dumps(large)) > design.MAX_JSON_BYTES
    assert problems(large) == [("design", "is larger than 100 KB")]
    assert design.clean(doc(*[{"type": "spacer"}] * 200))["blocks"][199] == {
        "type": "spacer",
        "height": 24,
    }


# Rendering -------------------------------------------------------------------------------------


def test_heading_text_button_and_image_render_as_tables_with_inline_styles() -> None:
    document = design.clean(
        doc(
            {"type": "heading", "text": "Hallo <Anna> {{ contact.first_name }}", "level": 2},
            {"type": "text", "html": '<p>Mehr <a href="https://praxis.ch/?a=1&b=2">hier</a></p>'},
            {"type": "button", "text": "Abmelden", "href": "{{ links.unsubscribe }}"},
            {"type": "image", "src": "https://tf.ch/media/1/a.png", "alt": "Logo", "width": 200},
        )
    )

    html = design.render(document)

    assert rows(html) == (
        f'<tr><td align="left" style="padding:8px 24px;{CELL}text-align:left;">'
        '<h2 style="margin:0;font-family:Arial, Helvetica, sans-serif;font-size:22px;'
        'line-height:1.25;font-weight:bold;color:#1f2937;">'
        "Hallo &lt;Anna&gt; {{ contact.first_name }}</h2></td></tr>\n"
        f'<tr><td align="left" style="padding:8px 24px;{CELL}text-align:left;">'
        '<p style="margin:0 0 12px 0;">Mehr <a href="https://praxis.ch/?a=1&amp;b=2" '
        'style="color:#0f766e;text-decoration:underline;">hier</a></p></td></tr>\n'
        f'<tr><td align="center" style="padding:12px 24px;{CELL}text-align:center;">'
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" align="center" '
        'style="margin:0;"><tr><td bgcolor="#0f766e" style="border-radius:6px;'
        'background:#0f766e;"><a href="{{ links.unsubscribe }}" style="display:inline-block;'
        "padding:12px 24px;font-family:Arial, Helvetica, sans-serif;font-size:16px;"
        "font-weight:bold;line-height:1.25;color:#ffffff;text-decoration:none;"
        'border-radius:6px;">Abmelden</a></td></tr></table></td></tr>\n'
        f'<tr><td align="center" style="padding:8px 24px;{CELL}text-align:center;">'
        '<img src="https://tf.ch/media/1/a.png" alt="Logo" width="200" class="tf-img" '
        'style="display:block;margin:0 auto;width:100%;max-width:200px;height:auto;border:0;'
        'outline:none;text-decoration:none;"></td></tr>\n'
    )
    assert "flex" not in html and "grid" not in html
    assert "@media only screen and (max-width:620px)" in html


def test_columns_stack_on_small_screens_and_images_fit_their_column() -> None:
    document = design.clean(
        doc(
            {
                "type": "columns",
                "columns": [
                    [{"type": "image", "src": "https://tf.ch/media/1/a.png", "alt": ""}],
                    [{"type": "text", "html": "<p>rechts</p>"}],
                    [{"type": "spacer", "height": 8}],
                ],
            }
        )
    )

    html = design.render(document)

    assert html.count('<td class="tf-col" width="200" valign="top"') == 3
    # 200 px column minus 2 x 24 px padding
    assert 'width="152" class="tf-img"' in html
    assert ".tf-col{display:block !important;width:100% !important;}" in html


def _workspace_de(workspace: Workspace) -> Workspace:
    workspace.locale = "de-CH"
    workspace.timezone = "Europe/Zurich"
    workspace.save()
    return workspace


APPOINTMENT = {
    "uid": "e-1",
    "start": datetime(2026, 12, 14, 8, 0, tzinfo=UTC),
    "end": datetime(2026, 12, 14, 8, 30, tzinfo=UTC),
    "calendar_id": 1,
    "calendar_name": "Praxis Seefeld",
    "services": "Massage",
    "notes": "",
    "status": "booked",
}


def _save(workspace: Workspace, *blocks: dict[str, Any], attach_ics: bool = True) -> Any:
    return services.create_template(
        workspace,
        services.TemplateData(
            name="Bestätigung",
            subject="Ihr Termin",
            body_html="",
            kind="marketing",
            attach_ics=attach_ics,
            design=doc(*blocks),
        ),
    )


@pytest.mark.django_db
def test_appointment_block_in_de_ch_with_an_appointment(workspace: Workspace) -> None:
    template = _save(
        _workspace_de(workspace),
        {"type": "appointment", "show_calendar": True, "show_end": True, "calendar_hint": True},
    )
    contact = make_contact(workspace, first_name="Anna")

    email = services.render_email(
        template, contact, public_id=None, extra={"appointment": APPOINTMENT}, now=clock.now()
    )

    assert (
        '<p style="margin:0;font-weight:bold;">Montag, 14. Dezember 2026 um 09:00 bis 09:30</p>'
        '<p style="margin:4px 0 0 0;">Kalender: Praxis Seefeld</p>'
        '<p style="margin:8px 0 0 0;font-size:14px;opacity:0.8;">Die angehängte '
        "Kalenderdatei (.ics) trägt den Termin in Ihren Kalender ein.</p>"
    ) in email.body_html
    assert email.body_text.startswith(
        "Montag, 14. Dezember 2026 um 09:00 bis 09:30\n\nKalender: Praxis Seefeld\n\n"
        "Die angehängte Kalenderdatei (.ics) trägt den Termin in Ihren Kalender ein.\n"
    )
    assert email.ics.startswith("BEGIN:VCALENDAR")


@pytest.mark.django_db
def test_appointment_block_renders_nothing_without_an_appointment(workspace: Workspace) -> None:
    template = _save(
        _workspace_de(workspace),
        {"type": "heading", "text": "Hallo {{ contact.first_name }}"},
        {"type": "appointment"},
    )
    contact = make_contact(workspace, first_name="Anna")

    email = services.render_email(template, contact, public_id=None, extra={}, now=clock.now())

    assert "Kalender" not in email.body_html
    assert "border-left:4px" not in email.body_html
    assert email.body_text.startswith("Hallo Anna\n")


@pytest.mark.django_db
def test_contact_data_in_placeholders_is_escaped_when_sent(workspace: Workspace) -> None:
    template = _save(workspace, {"type": "text", "html": "<p>Hallo {{ contact.first_name }}</p>"})
    contact = make_contact(workspace, first_name="<script>x</script>")

    email = services.render_email(template, contact, public_id=None, extra={}, now=clock.now())

    assert "Hallo &lt;script&gt;x&lt;/script&gt;</p>" in email.body_html
    assert "<script>" not in email.body_html


@pytest.mark.django_db
def test_an_unknown_placeholder_is_named_against_the_design(workspace: Workspace) -> None:
    with pytest.raises(design.Unprocessable) as caught:
        _save(workspace, {"type": "text", "html": "<p>{{ contact.fields.nope }}</p>"})

    assert caught.value.extra["errors"] == [
        {"field": "design", "line": None, "message": "unknown placeholder 'contact.fields.nope'"}
    ]


def test_the_rendered_design_compiles_in_the_email_sandbox() -> None:
    html = design.render(design.clean(doc({"type": "appointment"}, {"type": "divider"})))

    template = rendering.compile_part("body_html", html, rendering.Formatting())

    assert template is not None
