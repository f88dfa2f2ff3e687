"""A small renderer of email design documents, for the starter templates.

The visual editor brings the full renderer of the design format (``docs`` of the editor:
EMAIL-DESIGN-FORMAT); until the starters use it, this one turns a design into the same kind of
``body_html``: a Jinja template with a table layout, inline CSS and one media query, so it reads
in Outlook as on a phone. Text outside placeholders is HTML-escaped and its braces written as
character references, so design text can never open a Jinja tag; placeholders (``{{ … }}``) go
through unchanged and are rendered by the sandbox like any template's.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

MAX_BLOCKS = 200
MAX_BYTES = 100_000
FONTS = {
    "sans": "Helvetica, Arial, sans-serif",
    "serif": "Georgia, 'Times New Roman', serif",
}
DEFAULTS: dict[str, Any] = {
    "width": 600,
    "background": "#f4f4f5",
    "content_background": "#ffffff",
    "text_color": "#1f2937",
    "link_color": "#0f766e",
    "font": "sans",
}
HEADING_SIZES = {1: 26, 2: 21, 3: 17}
ALLOWED_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "a", "ul", "ol", "li"}
# "Add to calendar" hint under the appointment block; the .ics file is the email's attachment.
CALENDAR_HINT = {
    "de": "Den Termin finden Sie als Kalenderdatei (.ics) im Anhang: ein Klick, und er steht "
    "in Ihrem Kalender.",
    "en": "The appointment is attached as a calendar file (.ics): open it to add it to your "
    "calendar.",
}

_PLACEHOLDER = re.compile(r"\{\{\s*[^{}]+?\s*\}\}")
_ONLY_PLACEHOLDER = re.compile(r"^\s*\{\{\s*[^{}]+?\s*\}\}\s*$")
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_URL = re.compile(r"^(?:https?://|mailto:)[^\s<>\"'{}]+$")


class DesignError(ValueError):
    """The design breaks the format's limits or shape."""


# Text and attributes -----------------------------------------------------------------------


def _literal(text: str) -> str:
    """Escaped text that Jinja reads as plain text: braces become character references."""
    return html.escape(text, quote=True).replace("{", "&#123;").replace("}", "&#125;")


def _text(text: Any) -> str:
    """Plain text with placeholders: the text escaped, the placeholders kept as they are."""
    text = str(text or "")
    out: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        out.append(_literal(text[last : match.start()]))
        out.append(match.group(0).strip())
        last = match.end()
    out.append(_literal(text[last:]))
    return "".join(out)


def _href(value: Any) -> str:
    """A URL or a single placeholder, ready for an attribute; "" for anything else."""
    value = str(value or "").strip()
    if _ONLY_PLACEHOLDER.match(value):
        return value
    if _URL.match(value):
        return html.escape(value, quote=True)
    return ""


def _color(value: Any, default: str) -> str:
    return value if isinstance(value, str) and _COLOR.match(value) else default


def _align(value: Any) -> str:
    return value if value in ("left", "center", "right") else "left"


def _number(value: Any, default: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(low, min(high, int(value)))


# Rich text ---------------------------------------------------------------------------------


class _RichText(HTMLParser):
    """Keeps the format's rich-text subset, with inline styles; other tags lose their markup."""

    def __init__(self, style: dict[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.style = style
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            return
        if tag == "br":
            self.out.append("<br>")
            return
        css = self.style.get(tag, "")
        attributes = f' style="{css}"' if css else ""
        if tag == "a":
            href = _href(dict(attrs).get("href"))
            attributes = (f' href="{href}"' if href else "") + attributes
        self.out.append(f"<{tag}{attributes}>")
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("<br>")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open:
                closing = self.open.pop()
                self.out.append(f"</{closing}>")
                if closing == tag:
                    break

    def handle_data(self, data: str) -> None:
        self.out.append(_text(data))

    def result(self) -> str:
        self.close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out)


def _rich_text(markup: Any, settings: dict[str, Any]) -> str:
    base = f"margin:0 0 14px 0;line-height:1.55;color:{settings['text_color']}"
    parser = _RichText(
        {
            "p": base,
            "ul": f"{base};padding-left:22px",
            "ol": f"{base};padding-left:22px",
            "li": "margin:0 0 4px 0",
            "a": f"color:{settings['link_color']};text-decoration:underline",
        }
    )
    parser.feed(str(markup or ""))
    return parser.result()


# Blocks ------------------------------------------------------------------------------------


def _heading(block: dict[str, Any], settings: dict[str, Any]) -> str:
    level = _number(block.get("level"), 1, 1, 3)
    size = HEADING_SIZES[level]
    return (
        f'<h{level} style="margin:0 0 16px 0;font-size:{size}px;line-height:1.25;'
        f'font-weight:bold;color:{settings["text_color"]};text-align:{_align(block.get("align"))}">'
        f"{_text(block.get('text'))}</h{level}>"
    )


def _button(block: dict[str, Any], settings: dict[str, Any]) -> str:
    align = _align(block.get("align"))
    color = _color(block.get("color"), settings["link_color"])
    text_color = _color(block.get("text_color"), "#ffffff")
    href = _href(block.get("href"))
    # The outer cell aligns the button; an aligned table would float and let text wrap round it.
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="margin:8px 0 20px 0"><tr><td align="{align}">'
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr>'
        f'<td bgcolor="{color}" style="border-radius:6px;background:{color}">'
        f'<a href="{href}" style="display:inline-block;padding:12px 26px;font-size:16px;'
        f"font-weight:bold;line-height:1.2;color:{text_color};text-decoration:none;"
        f'border-radius:6px">{_text(block.get("text"))}</a></td></tr></table></td></tr></table>'
    )


def _image(block: dict[str, Any], settings: dict[str, Any]) -> str:
    src = _href(block.get("src"))
    if not src or src.startswith("{{"):
        return ""
    width = _number(block.get("width"), settings["width"], 1, settings["width"])
    image = (
        f'<img src="{src}" alt="{_text(block.get("alt"))}" width="{width}" '
        f'style="display:inline-block;width:{width}px;max-width:100%;height:auto;border:0">'
    )
    href = _href(block.get("href"))
    if href:
        image = f'<a href="{href}">{image}</a>'
    return f'<div style="text-align:{_align(block.get("align"))};margin:0 0 16px 0">{image}</div>'


def _appointment(block: dict[str, Any], settings: dict[str, Any], language: str) -> str:
    """The triggering appointment; nothing when the email was sent without one."""
    color = settings["text_color"]
    if block.get("show_end"):
        when = (
            '{{ appointment.start|date("full") }}</p>'
            f'<p style="margin:4px 0 0 0;font-size:16px;color:{color}">'
            "{{ appointment.start|time }}{% if appointment.end %} – "
            "{{ appointment.end|time }}{% endif %}"
        )
    else:
        when = '{{ appointment.start|datetime("full") }}'
    parts = [
        "{% if appointment is defined %}",
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"'
        ' style="margin:4px 0 20px 0"><tr>'
        f'<td style="padding:16px 18px;background:#f1f5f9;border-left:4px solid '
        f'{settings["link_color"]};border-radius:4px">',
        f'<p style="margin:0;font-size:17px;font-weight:bold;color:{color}">{when}</p>',
    ]
    if block.get("show_calendar"):
        parts.append(
            "{% if appointment.calendar_name %}"
            f'<p style="margin:6px 0 0 0;font-size:15px;color:{color}">'
            "{{ appointment.calendar_name }}</p>{% endif %}"
        )
    if block.get("calendar_hint"):
        hint = CALENDAR_HINT.get(language, CALENDAR_HINT["en"])
        parts.append(
            f'<p style="margin:10px 0 0 0;font-size:13px;color:#64748b">{_literal(hint)}</p>'
        )
    parts.append("</td></tr></table>{% endif %}")
    return "".join(parts)


def _columns(block: dict[str, Any], settings: dict[str, Any], language: str) -> str:
    columns = [c for c in block.get("columns") or [] if isinstance(c, list)][:3]
    if len(columns) < 2:
        raise DesignError("columns holds 2 or 3 columns")
    share = 100 // len(columns)
    cells = []
    for column in columns:
        inner = "".join(_block(b, settings, language, nested=True) for b in column)
        cells.append(
            f'<td class="tf-col" width="{share}%" valign="top" '
            f'style="width:{share}%;padding:0 8px;vertical-align:top">{inner}</td>'
        )
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f"<tr>{''.join(cells)}</tr></table>"
    )


def _block(block: Any, settings: dict[str, Any], language: str, *, nested: bool = False) -> str:
    if not isinstance(block, dict):
        raise DesignError("a block must be an object")
    kind = block.get("type")
    if kind == "heading":
        return _heading(block, settings)
    if kind == "text":
        return _rich_text(block.get("html"), settings)
    if kind == "appointment":
        return _appointment(block, settings, language)
    if kind == "button":
        return _button(block, settings)
    if kind == "image":
        return _image(block, settings)
    if kind == "divider":
        return (
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'border="0"><tr><td style="padding:8px 0 18px 0"><div style="border-top:1px solid '
            '#e5e7eb;font-size:1px;line-height:1px">&nbsp;</div></td></tr></table>'
        )
    if kind == "spacer":
        height = _number(block.get("height"), 24, 0, 200)
        return f'<div style="height:{height}px;line-height:{height}px;font-size:1px">&nbsp;</div>'
    if kind == "columns" and not nested:
        return _columns(block, settings, language)
    raise DesignError(f"unknown block type {kind!r}")


def _count(blocks: list[Any]) -> int:
    total = 0
    for block in blocks:
        total += 1
        if isinstance(block, dict) and block.get("type") == "columns":
            for column in block.get("columns") or []:
                total += len(column) if isinstance(column, list) else 0
    return total


def render_design(design: dict[str, Any], *, language: str = "de") -> str:
    """The ``body_html`` template of a design document: responsive, tables, inline CSS.

    ``language`` names the language of the few words the renderer adds itself (the
    appointment block's calendar hint). Raises ``DesignError`` for a design beyond the
    format's limits (200 blocks, 100 KB) or of the wrong shape.
    """
    if len(json.dumps(design, ensure_ascii=False).encode("utf-8")) > MAX_BYTES:
        raise DesignError("the design is larger than 100 KB")
    blocks = design.get("blocks")
    if not isinstance(blocks, list):
        raise DesignError("the design has no list of blocks")
    if _count(blocks) > MAX_BLOCKS:
        raise DesignError(f"the design has more than {MAX_BLOCKS} blocks")
    found = design.get("settings")
    given: dict[str, Any] = found if isinstance(found, dict) else {}
    settings: dict[str, Any] = {
        "width": _number(given.get("width"), DEFAULTS["width"], 320, 800),
        "background": _color(given.get("background"), DEFAULTS["background"]),
        "content_background": _color(
            given.get("content_background"), DEFAULTS["content_background"]
        ),
        "text_color": _color(given.get("text_color"), DEFAULTS["text_color"]),
        "link_color": _color(given.get("link_color"), DEFAULTS["link_color"]),
        "font": FONTS.get(str(given.get("font")), FONTS["sans"]),
    }
    width: int = settings["width"]
    body = "\n".join(
        f'<tr><td class="tf-pad" style="padding:0 32px">{_block(block, settings, language)}'
        "</td></tr>"
        for block in blocks
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{_literal(language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="x-apple-disable-message-reformatting">\n'
        f"<style>@media only screen and (max-width:{width + 20}px){{"
        ".tf-container{width:100%!important}"
        ".tf-pad{padding-left:18px!important;padding-right:18px!important}"
        ".tf-col{display:block!important;width:100%!important;padding:0!important} }"
        "</style>\n</head>\n"
        f'<body style="margin:0;padding:0;background:{settings["background"]}">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="background:{settings["background"]}"><tr>'
        '<td align="center" style="padding:24px 8px">\n'
        f'<table role="presentation" class="tf-container" width="{width}" cellpadding="0" '
        f'cellspacing="0" border="0" style="width:{width}px;max-width:{width}px;'
        f"background:{settings['content_background']};border-radius:8px;"
        f'font-family:{settings["font"]};font-size:16px;color:{settings["text_color"]}">\n'
        '<tr><td style="height:28px;line-height:28px;font-size:1px">&nbsp;</td></tr>\n'
        f"{body}\n"
        '<tr><td style="height:20px;line-height:20px;font-size:1px">&nbsp;</td></tr>\n'
        "</table>\n</td></tr></table>\n</body>\n</html>\n"
    )
