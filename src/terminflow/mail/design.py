"""The visual editor's email design: a small JSON block document, checked and made into HTML.

The document (``EmailTemplate.design``; format in docs/decisions/0006) is validated and cleaned
on save, and rendered here to the email's ``body_html``: a Jinja template like the ones people
write by hand, so sending, previews, the text part, the render budget and tracking treat both
alike. Rendering is pure and bounded: no database, no network; the document is at most
``MAX_JSON_BYTES`` and ``MAX_BLOCKS`` blocks, and each step is linear in its size.

What a person types can never become markup or template code. Rich text is re-built from a real
HTML parse, keeping only ``ALLOWED_TAGS``; every literal character is HTML-escaped and ``{`` is
written as ``&#123;``, so no text can open a Jinja tag. Placeholders are parsed by Jinja's own
parser and only names, attributes, constant keys and a few filters with constant arguments are
accepted, then written back in one canonical form. A link's target is an ``http(s)``,
``mailto`` or ``tel`` URL, or exactly one ``links.*`` placeholder: contact data never becomes a
link target, so a field value cannot smuggle in a ``javascript:`` URL.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from jinja2 import Environment, TemplateSyntaxError, nodes

from terminflow.kit.errors import Unprocessable

VERSION = 1
MAX_JSON_BYTES = 100 * 1024
MAX_BLOCKS = 200
MAX_PLACEHOLDER = 200  # characters in one ``{{ … }}``
MAX_URL = 2000
ALLOWED_TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "u", "a", "ul", "ol", "li"})
# Tags whose content is dropped with them (the rest are dropped and their text kept).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "head", "title", "template", "iframe"})
ALIGNS = ("left", "center", "right")
FONTS = {
    "sans": "Arial, Helvetica, sans-serif",
    "serif": "Georgia, 'Times New Roman', Times, serif",
}
FILTERS = frozenset(
    {"datetime", "date", "time", "default", "upper", "lower", "title", "capitalize", "trim"}
)
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
PAD = 24  # horizontal padding of a block inside the content column, in pixels

DEFAULT_SETTINGS: dict[str, Any] = {
    "width": 600,
    "background": "#f4f4f5",
    "content_background": "#ffffff",
    "text_color": "#1f2937",
    "link_color": "#0f766e",
    "font": "sans",
}
BLOCK_TYPES = (
    "heading",
    "text",
    "image",
    "button",
    "divider",
    "spacer",
    "columns",
    "appointment",
)
BLOCK_LABELS: dict[str, Promise] = {
    "heading": _("Heading"),
    "text": _("Text"),
    "image": _("Image"),
    "button": _("Button"),
    "divider": _("Divider"),
    "spacer": _("Spacer"),
    "columns": _("Columns"),
    "appointment": _("Appointment"),
}

# The appointment block's words are the email's, in the workspace's language.
UNTIL = _("until")
CALENDAR = _("Calendar:")
CALENDAR_HINT = _("Open the attached calendar file (.ics) to add the appointment to your calendar.")


class DesignInvalid(Unprocessable):
    code = "design_invalid"


@dataclass
class _Problem:
    path: str
    message: str


class _Refused(Exception):
    def __init__(self, message: Promise | str, **params: Any) -> None:
        # Always formatted, so a literal "%%" in a message reads "%".
        super().__init__(str(message) % params)


# Placeholders ---------------------------------------------------------------------------------

# Only its lexer and parser are used: nothing is compiled or rendered with it.
_ENV = Environment(autoescape=True)
_FORBIDDEN_TOKENS = frozenset(
    {"block_begin", "raw_begin", "comment_begin", "linestatement_begin", "linecomment_begin"}
)


def _expression(node: nodes.Node) -> str:
    """A placeholder's expression in canonical form; refuses anything but plain look-ups."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        if node.attr.startswith("_"):
            raise _Refused(_("attributes starting with '_' are not allowed"))
        return f"{_expression(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        key = node.arg.value
        if not isinstance(key, str) or key.startswith("_"):
            raise _Refused(_("only names, fields and date formats are allowed in a placeholder"))
        if key.isidentifier():
            return f"{_expression(node.node)}.{key}"
        return f"{_expression(node.node)}[{json.dumps(key)}]"
    if isinstance(node, nodes.Filter) and node.node is not None:
        if node.name not in FILTERS or node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise _Refused(_("the filter “%(name)s” is not allowed here"), name=node.name)
        arguments = []
        for argument in node.args:
            if not isinstance(argument, nodes.Const) or not isinstance(
                argument.value, str | int | float
            ):
                raise _Refused(_("a filter's arguments must be plain text or numbers"))
            arguments.append(json.dumps(argument.value))
        call = f"({', '.join(arguments)})" if arguments else ""
        return f"{_expression(node.node)}|{node.name}{call}"
    raise _Refused(_("only names, fields and date formats are allowed in a placeholder"))


def _root(expression: nodes.Node) -> nodes.Node:
    while isinstance(expression, nodes.Getattr | nodes.Getitem | nodes.Filter):
        expression = expression.node  # type: ignore[assignment]
    return expression


def segments(text: str) -> list[str | tuple[str, nodes.Node]]:
    """Literal text and placeholders (canonical source, node) in order; raises ``_Refused``."""
    if "{" not in text:
        return [text] if text else []
    try:
        for _line, token, _value in _ENV.lex(text):
            if token in _FORBIDDEN_TOKENS:
                raise _Refused(_("only placeholders {{ … }} are allowed, no {%% … %%} or {# … #}"))
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise _Refused(_("a placeholder cannot be read: %(error)s"), error=exc.message) from None
    except RecursionError:
        raise _Refused(_("a placeholder nests too deeply")) from None
    out: list[str | tuple[str, nodes.Node]] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            raise _Refused(_("only placeholders {{ … }} are allowed, no {%% … %%} or {# … #}"))
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                out.append(node.data)
                continue
            source = _expression(node)
            if len(source) > MAX_PLACEHOLDER:
                raise _Refused(_("a placeholder is too long"))
            out.append((source, node))
    return out


def _canonical(parts: list[str | tuple[str, nodes.Node]]) -> str:
    """The text as stored: literal text as typed, placeholders in canonical form."""
    return "".join(p if isinstance(p, str) else "{{ " + p[0] + " }}" for p in parts)


def literal(text: str) -> str:
    """Text for the HTML template: escaped, and ``{`` written so Jinja never sees a tag."""
    return html.escape(text, quote=True).replace("{", "&#123;")


def _template_text(parts: list[str | tuple[str, nodes.Node]]) -> str:
    return "".join(literal(p) if isinstance(p, str) else "{{ " + p[0] + " }}" for p in parts)


# Links ----------------------------------------------------------------------------------------


def _href(value: str) -> tuple[str, str]:
    """A link target as stored and as written into the template; raises ``_Refused``."""
    text = value.strip()
    if len(text) > MAX_URL:
        raise _Refused(_("the link is too long"))
    if "{" in text:
        parts = [p for p in segments(text) if not (isinstance(p, str) and not p.strip())]
        if len(parts) != 1 or isinstance(parts[0], str):
            raise _Refused(_("a link is a web address or exactly one link placeholder"))
        source, node = parts[0]
        root = _root(node)
        if not (isinstance(root, nodes.Name) and root.name == "links") or source == "links":
            raise _Refused(_("only the placeholders of links (links.…) can be a link target"))
        return "{{ " + source + " }}", "{{ " + source + " }}"
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise _Refused(_("a web address cannot contain spaces"))
    parsed = urlsplit(text)
    scheme = parsed.scheme.lower()
    if scheme not in URL_SCHEMES:
        raise _Refused(
            _("the link must start with https://, http://, mailto: or tel: (not “%(value)s”)"),
            value=text[:40],
        )
    if scheme in ("http", "https") and not parsed.netloc:
        raise _Refused(_("the web address has no host"))
    return text, literal(text)


# Rich text ------------------------------------------------------------------------------------


class _RichText(HTMLParser):
    """Re-builds rich text from a parse: allowed tags only, text escaped, placeholders checked.

    Produces two strings at once: the clean HTML stored in the design, and the same with
    inline styles and escaped literals for the email template.
    """

    def __init__(self, link_color: str) -> None:
        super().__init__(convert_charrefs=True)
        self.link_color = link_color
        self.stored: list[str] = []
        self.template: list[str] = []
        self.stack: list[tuple[str, str | None]] = []  # (tag as written, tag emitted or None)
        self.skip = 0
        self.text: list[str] = []

    def _flush(self) -> None:
        if not self.text:
            return
        data = "".join(self.text)
        self.text = []
        parts = segments(data)
        self.stored.append(
            "".join(
                html.escape(p, quote=False) if isinstance(p, str) else "{{ " + p[0] + " }}"
                for p in parts
            )
        )
        self.template.append(_template_text(parts))

    def _open(self) -> set[str]:
        return {out for _tag, out in self.stack if out}

    def _emit_start(self, tag: str, attrs: dict[str, str | None]) -> str | None:
        open_tags = self._open()
        if tag == "div":
            tag = "p"
        if tag not in ALLOWED_TAGS:
            return None
        if tag == "li" and not open_tags & {"ul", "ol"}:
            tag = "p"
        if tag == "p" and "p" in open_tags:
            return None
        if tag == "a":
            if "a" in open_tags or not (attrs.get("href") or "").strip():
                return None
            stored, written = _href(attrs.get("href") or "")
            self.stored.append(f'<a href="{html.escape(stored, quote=True)}">')
            self.template.append(
                f'<a href="{written}" style="color:{self.link_color};text-decoration:underline;">'
            )
            return "a"
        self.stored.append(f"<{tag}>")
        self.template.append(f"<{tag}{_RICH_STYLES.get(tag, '')}>")
        return tag

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skip += 1
            self.stack.append((tag, None))
            return
        if self.skip:
            return
        self._flush()
        if tag == "br":
            self.stored.append("<br>")
            self.template.append("<br>")
            return
        self.stack.append((tag, self._emit_start(tag, dict(attrs))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self.skip:
            self._flush()
            self.stored.append("<br>")
            self.template.append("<br>")

    def handle_endtag(self, tag: str) -> None:
        if not any(written == tag for written, _out in self.stack):
            return  # a stray end tag closes nothing
        if not self.skip:
            self._flush()
        while self.stack:
            written, out = self.stack.pop()
            if written in DROPPED_WITH_CONTENT:
                self.skip -= 1
            elif out and not self.skip:
                self.stored.append(f"</{out}>")
                self.template.append(f"</{out}>")
            if written == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.text.append(data)

    def finish(self) -> tuple[str, str]:
        self.close()
        self._flush()
        while self.stack:
            _written, out = self.stack.pop()
            if out:
                self.stored.append(f"</{out}>")
                self.template.append(f"</{out}>")
        return "".join(self.stored), "".join(self.template)


_RICH_STYLES = {
    "p": ' style="margin:0 0 12px 0;"',
    "ul": ' style="margin:0 0 12px 0;padding-left:24px;"',
    "ol": ' style="margin:0 0 12px 0;padding-left:24px;"',
    "li": ' style="margin:0 0 4px 0;"',
}


def rich_text(markup: str, link_color: str = DEFAULT_SETTINGS["link_color"]) -> tuple[str, str]:
    """Clean rich text: (the HTML to store, the HTML for the email template)."""
    parser = _RichText(link_color)
    parser.feed(markup)
    return parser.finish()


# Validation -----------------------------------------------------------------------------------

_BLOCK_FIELDS: dict[str, dict[str, Any]] = {
    "heading": {"text": "", "level": 1, "align": "left"},
    "text": {"html": ""},
    "image": {"src": "", "alt": "", "width": None, "href": "", "align": "center"},
    "button": {
        "text": "",
        "href": "",
        "align": "center",
        "color": "#0f766e",
        "text_color": "#ffffff",
    },
    "divider": {"color": "#e5e7eb"},
    "spacer": {"height": 24},
    "columns": {"columns": []},
    "appointment": {"show_calendar": True, "show_end": False, "calendar_hint": True},
}


def _color(value: Any) -> str:
    digits = value[1:] if isinstance(value, str) and value.startswith("#") else ""
    if len(digits) not in (3, 6) or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise _Refused(_("a colour is written #rrggbb"))
    return "#" + digits.lower()


def _integer(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Refused(_("must be a whole number from %(low)s to %(high)s"), low=low, high=high)
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Refused(_("must be true or false"))
    return value


def _string(value: Any, longest: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise _Refused(_("must be text"))
    if len(value) > longest:
        raise _Refused(_("is longer than %(longest)s characters"), longest=longest)
    if required and not value.strip():
        raise _Refused(_("must not be empty"))
    return value


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _Refused(_("must be one of: %(choices)s"), choices=", ".join(choices))
    return str(value)


def _image_src(value: Any) -> str:
    text = _string(value, MAX_URL).strip()
    if not text:
        raise _Refused(_("choose or upload an image"))
    parsed = urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or "{" in text:
        raise _Refused(_("an image is an absolute web address (https://…)"))
    if any(ch.isspace() for ch in text):
        raise _Refused(_("a web address cannot contain spaces"))
    return text


def _placeholder_text(value: Any, longest: int, *, required: bool = False) -> str:
    return _canonical(segments(_string(value, longest, required=required)))


_FIELD_CHECKS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "heading": {
        "text": lambda v: _placeholder_text(v, 500, required=True),
        "level": lambda v: _integer(v, 1, 3),
        "align": lambda v: _choice(v, ALIGNS),
    },
    "text": {"html": lambda v: rich_text(_string(v, 50_000))[0]},
    "image": {
        "src": _image_src,
        "alt": lambda v: _string(v, 300),
        "width": lambda v: None if v is None else _integer(v, 16, 1200),
        "href": lambda v: _href(_string(v, MAX_URL))[0] if str(v or "").strip() else "",
        "align": lambda v: _choice(v, ALIGNS),
    },
    "button": {
        "text": lambda v: _placeholder_text(v, 200, required=True),
        "href": lambda v: _href(_string(v, MAX_URL, required=True))[0],
        "align": lambda v: _choice(v, ALIGNS),
        "color": _color,
        "text_color": _color,
    },
    "divider": {"color": _color},
    "spacer": {"height": lambda v: _integer(v, 4, 200)},
    "appointment": {
        "show_calendar": _boolean,
        "show_end": _boolean,
        "calendar_hint": _boolean,
    },
}

_REQUIRED = {"heading": ("text",), "button": ("text", "href"), "image": ("src",)}

_SETTING_CHECKS: dict[str, Callable[[Any], Any]] = {
    "width": lambda v: _integer(v, 480, 800),
    "background": _color,
    "content_background": _color,
    "text_color": _color,
    "link_color": _color,
    "font": lambda v: _choice(v, tuple(FONTS)),
}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[_Problem] = []
        self.count = 0

    def refuse(self, path: str, message: Promise | str, **params: Any) -> None:
        self.problems.append(_Problem(path, str(message) % params if params else str(message)))

    def settings(self, value: Any) -> dict[str, Any]:
        clean = dict(DEFAULT_SETTINGS)
        if value is None:
            return clean
        if not isinstance(value, dict):
            self.refuse("settings", _("must be an object"))
            return clean
        for key, item in value.items():
            check = _SETTING_CHECKS.get(key)
            if check is None:
                self.refuse(f"settings.{key}", _("unknown setting"))
                continue
            try:
                clean[key] = check(item)
            except _Refused as exc:
                self.refuse(f"settings.{key}", str(exc))
        return clean

    def blocks(self, value: Any, path: str, *, nested: bool = False) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            self.refuse(path, _("must be a list of blocks"))
            return []
        return [
            self.block(item, f"{path}.{index}", nested=nested) for index, item in enumerate(value)
        ]

    def block(self, value: Any, path: str, *, nested: bool) -> dict[str, Any]:
        self.count += 1
        if not isinstance(value, dict):
            self.refuse(path, _("a block must be an object"))
            return {}
        kind = value.get("type")
        if kind not in BLOCK_TYPES:
            self.refuse(
                path,
                _("unknown block type “%(type)s”; known: %(known)s"),
                type=str(kind)[:40],
                known=", ".join(BLOCK_TYPES),
            )
            return {}
        clean: dict[str, Any] = {"type": kind, **_BLOCK_FIELDS[kind]}
        if kind == "columns":
            if nested:
                self.refuse(path, _("columns cannot hold columns"))
                return clean
            columns = value.get("columns")
            if not isinstance(columns, list) or not 2 <= len(columns) <= 3:
                self.refuse(f"{path}.columns", _("columns hold 2 or 3 columns"))
                return clean
            clean["columns"] = [
                self.blocks(column, f"{path}.columns.{index}", nested=True)
                for index, column in enumerate(columns)
            ]
            extra = set(value) - {"type", "columns"}
        else:
            checks = _FIELD_CHECKS[kind]
            for key, item in value.items():
                if key == "type" or key not in checks:
                    continue
                try:
                    clean[key] = checks[key](item)
                except _Refused as exc:
                    self.refuse(f"{path}.{key}", str(exc))
            for key in _REQUIRED.get(kind, ()):
                if key not in value:
                    self.refuse(f"{path}.{key}", _("is missing"))
            extra = set(value) - {"type"} - set(checks)
        for key in sorted(extra):
            self.refuse(f"{path}.{key}", _("unknown field of a “%(type)s” block"), type=kind)
        return clean


def _where(path: str) -> str:
    """``blocks.2.columns.0.1.href`` → “Block 3, column 1, block 2: link”."""
    parts = path.split(".")
    words: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        if part == "blocks" and index + 1 < len(parts) and parts[index + 1].isdigit():
            words.append(gettext("Block %(n)s") % {"n": int(parts[index + 1]) + 1})
            index += 2
        elif part == "columns" and index + 2 < len(parts) and parts[index + 2].isdigit():
            words.append(gettext("column %(n)s") % {"n": int(parts[index + 1]) + 1})
            words.append(gettext("block %(n)s") % {"n": int(parts[index + 2]) + 1})
            index += 3
        else:
            words.append(str(_FIELD_NAMES.get(part, part)))
            index += 1
    return ", ".join(words)


_FIELD_NAMES: dict[str, Promise] = {
    "settings": _("Settings"),
    "text": _("text"),
    "html": _("text"),
    "href": _("link"),
    "src": _("image"),
    "alt": _("alternative text"),
    "width": _("width"),
    "height": _("height"),
    "level": _("level"),
    "align": _("alignment"),
    "color": _("colour"),
    "text_color": _("text colour"),
    "columns": _("columns"),
    "design": _("Design"),
    "version": _("version"),
}


def clean(design: Any) -> dict[str, Any]:
    """The design checked and normalised (defaults filled in, rich text sanitised).

    Raises ``DesignInvalid`` (422) listing every problem as ``{field, path, line, message}``.
    """
    checker = _Checker()
    if not isinstance(design, dict):
        checker.refuse("design", _("must be an object with version, settings and blocks"))
    elif len(json.dumps(design, ensure_ascii=False).encode("utf-8")) > MAX_JSON_BYTES:
        checker.refuse("design", _("is larger than %(kb)s KB"), kb=MAX_JSON_BYTES // 1024)
    else:
        if design.get("version") != VERSION:
            checker.refuse("version", _("must be %(version)s"), version=VERSION)
        for key in sorted(set(design) - {"version", "settings", "blocks"}):
            checker.refuse(key, _("unknown field of the design"))
        settings = checker.settings(design.get("settings"))
        blocks = checker.blocks(design.get("blocks"), "blocks")
        if checker.count > MAX_BLOCKS:
            checker.refuse("blocks", _("at most %(count)s blocks"), count=MAX_BLOCKS)
        if not checker.problems:
            return {"version": VERSION, "settings": settings, "blocks": blocks}
    problems = [
        {"field": "design", "path": p.path, "line": None, "message": p.message}
        for p in checker.problems
    ]
    first = checker.problems[0]
    raise DesignInvalid(
        _("%(where)s: %(value)s"),
        where=_where(first.path),
        value=first.message,
        extra={"errors": problems},
    )


# Rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Look:
    settings: dict[str, Any]
    attach_ics: bool

    @property
    def font(self) -> str:
        return FONTS[self.settings["font"]]

    def text_style(self) -> str:
        return (
            f"font-family:{self.font};font-size:16px;line-height:1.5;"
            f"color:{self.settings['text_color']};"
        )


_HEADING_SIZES = {1: 28, 2: 22, 3: 18}


def _cell(content: str, look: _Look, *, align: str = "left", padding: str = f"8px {PAD}px") -> str:
    return (
        f'<tr><td align="{align}" style="padding:{padding};{look.text_style()}'
        f'text-align:{align};">{content}</td></tr>\n'
    )


def _heading(block: dict[str, Any], look: _Look, width: int) -> str:
    level = block["level"]
    text = _template_text(segments(block["text"]))
    style = (
        f"margin:0;font-family:{look.font};font-size:{_HEADING_SIZES[level]}px;"
        f"line-height:1.25;font-weight:bold;color:{look.settings['text_color']};"
    )
    return _cell(f'<h{level} style="{style}">{text}</h{level}>', look, align=block["align"])


def _text(block: dict[str, Any], look: _Look, width: int) -> str:
    return _cell(rich_text(block["html"], look.settings["link_color"])[1], look)


_IMAGE_MARGINS = {"left": "", "center": "margin:0 auto;", "right": "margin:0 0 0 auto;"}


def _image(block: dict[str, Any], look: _Look, width: int) -> str:
    room = width - 2 * PAD
    shown = min(block["width"] or room, room)
    margin = _IMAGE_MARGINS[block["align"]]
    image = (
        f'<img src="{literal(block["src"])}" alt="{literal(block["alt"])}" width="{shown}" '
        f'class="tf-img" style="display:block;{margin}width:100%;max-width:{shown}px;'
        'height:auto;border:0;outline:none;text-decoration:none;">'
    )
    if block["href"]:
        image = f'<a href="{_href(block["href"])[1]}" style="text-decoration:none;">{image}</a>'
    return _cell(image, look, align=block["align"])


def _button(block: dict[str, Any], look: _Look, width: int) -> str:
    color, text_color = block["color"], block["text_color"]
    link = (
        f'<a href="{_href(block["href"])[1]}" style="display:inline-block;padding:12px 24px;'
        f"font-family:{look.font};font-size:16px;font-weight:bold;line-height:1.25;"
        f'color:{text_color};text-decoration:none;border-radius:6px;">'
        f"{_template_text(segments(block['text']))}</a>"
    )
    table = (
        f'<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
        f'align="{block["align"]}" style="margin:0;"><tr>'
        f'<td bgcolor="{color}" style="border-radius:6px;background:{color};">{link}</td>'
        "</tr></table>"
    )
    return _cell(table, look, align=block["align"], padding=f"12px {PAD}px")


def _divider(block: dict[str, Any], look: _Look, width: int) -> str:
    line = (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f'<tr><td style="border-top:1px solid {block["color"]};font-size:0;line-height:0;'
        'height:1px;">&nbsp;</td></tr></table>'
    )
    return _cell(line, look, padding=f"12px {PAD}px")


def _spacer(block: dict[str, Any], look: _Look, width: int) -> str:
    height = block["height"]
    return (
        f'<tr><td style="height:{height}px;font-size:0;line-height:0;" height="{height}">'
        "&nbsp;</td></tr>\n"
    )


def _appointment(block: dict[str, Any], look: _Look, width: int) -> str:
    when = '{{ appointment.start|datetime("full") }}'
    if block["show_end"]:
        when += (
            "{% if appointment.end %} " + literal(str(UNTIL)) + " {{ appointment.end|time }}"
            "{% endif %}"
        )
    lines = [f'<p style="margin:0;font-weight:bold;">{when}</p>']
    if block["show_calendar"]:
        lines.append(
            "{% if appointment.calendar_name %}"
            f'<p style="margin:4px 0 0 0;">{literal(str(CALENDAR))} '
            "{{ appointment.calendar_name }}</p>{% endif %}"
        )
    if block["calendar_hint"] and look.attach_ics:
        lines.append(
            '<p style="margin:8px 0 0 0;font-size:14px;opacity:0.8;">'
            f"{literal(str(CALENDAR_HINT))}</p>"
        )
    box = (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f'<tr><td style="padding:12px 16px;border-left:4px solid {look.settings["link_color"]};'
        f'background:{look.settings["background"]};{look.text_style()}">'
        + "".join(lines)
        + "</td></tr></table>"
    )
    return "{% if appointment is defined %}" + _cell(box, look) + "{% endif %}\n"


def _columns(block: dict[str, Any], look: _Look, width: int) -> str:
    count = len(block["columns"])
    each = width // count
    cells = []
    for column in block["columns"]:
        rows = "".join(_BLOCKS[b["type"]](b, look, each) for b in column)
        cells.append(
            f'<td class="tf-col" width="{each}" valign="top" style="width:{each}px;'
            'vertical-align:top;padding:0;">'
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            f'border="0">\n{rows}</table></td>'
        )
    return (
        '<tr><td style="padding:0 0;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f"<tr>{''.join(cells)}</tr></table></td></tr>\n"
    )


_BLOCKS: dict[str, Callable[[dict[str, Any], _Look, int], str]] = {
    "heading": _heading,
    "text": _text,
    "image": _image,
    "button": _button,
    "divider": _divider,
    "spacer": _spacer,
    "columns": _columns,
    "appointment": _appointment,
}

_MOBILE_CSS = (
    "@media only screen and (max-width:{breakpoint}px){{"
    ".tf-container{{width:100% !important;}}"
    ".tf-col{{display:block !important;width:100% !important;}}"
    "}}"
)


def render(design: dict[str, Any], *, language: str = "de", attach_ics: bool = False) -> str:
    """The email template (Jinja, for ``body_html``) of a design that ``clean`` accepted.

    Table layout with inline styles, one column of ``settings.width`` pixels that narrows on
    small screens (the only CSS in ``<style>`` is that media query), no flex or grid.
    """
    settings = design["settings"]
    look = _Look(settings, attach_ics)
    width = settings["width"]
    with translation.override(language):
        rows = "".join(_BLOCKS[block["type"]](block, look, width) for block in design["blocks"])
    css = _MOBILE_CSS.format(breakpoint=width + 20)
    background, content = settings["background"], settings["content_background"]
    return (
        f'<!DOCTYPE html>\n<html lang="{literal(language)}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="x-apple-disable-message-reformatting">\n'
        f"<style>{css}</style>\n</head>\n"
        f'<body style="margin:0;padding:0;background:{background};">\n'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'bgcolor="{background}" style="background:{background};">\n'
        '<tr><td align="center" style="padding:24px 8px;">\n'
        f'<table role="presentation" class="tf-container" width="{width}" cellpadding="0" '
        f'cellspacing="0" border="0" bgcolor="{content}" '
        f'style="width:{width}px;max-width:{width}px;background:{content};">\n'
        '<tr><td style="height:16px;font-size:0;line-height:0;">&nbsp;</td></tr>\n'
        f"{rows}"
        '<tr><td style="height:16px;font-size:0;line-height:0;">&nbsp;</td></tr>\n'
        "</table>\n</td></tr>\n</table>\n</body>\n</html>\n"
    )
