"""Rendering email templates: Jinja2 in an immutable sandbox, with locale-aware date filters.

Marketers write these templates, so they run sandboxed and with ``StrictUndefined``: a
misspelt placeholder fails that one email with a sentence naming the placeholder, instead of
sending "Hallo ," to thousands of people. The sandbox (``sandbox.py``) also bounds what a
template may cost: sizes, loop iterations and a wall-clock budget per render. Nothing here
touches the database; the services build the context and store the result, and they render
outside any write transaction, so a slow template never holds the database's write lock.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time, get_datetime_format
from django.conf import settings
from django.utils.translation import gettext as _
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.utils import missing, object_type_repr

from . import sandbox

PARTS = ("subject", "body_html", "body_text")
WIDTHS = ("full", "long", "medium", "short")
# CLDR's "atTime" joins ("Montag, 14. Dezember 2026 um 09:00"); Babel ships only the plain
# "{1}, {0}" join, which reads like a list rather than a sentence in the long forms.
AT_TIME = {"de": "{date} um {time}", "en": "{date} at {time}"}


class RenderError(Exception):
    """A template could not be rendered; ``str(exc)`` is the reason shown on the run and outbox."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        self.part = part
        self.message = message
        self.line = line
        if line:
            text = _("Template error in %(part)s, line %(line)s: %(message)s")
        else:
            text = _("Template error in %(part)s: %(message)s")
        super().__init__(text % {"part": part, "line": line, "message": message})

    def as_problem(self) -> dict[str, Any]:
        return {"field": self.part, "line": self.line, "message": self.message}


class Scope:
    """A read-only namespace for templates that names itself in error messages.

    Only item access, so a field called ``items`` or ``values`` is the field, not a dict method.
    """

    __slots__ = ("_path", "_values")

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        self._path = path
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"<{self._path}>"

    __str__ = __repr__


class PlaceholderUndefined(StrictUndefined):
    """StrictUndefined whose message names the placeholder as the template wrote it."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        owner = self._undefined_obj
        if owner is missing:
            return f"unknown placeholder {name!r}"
        if isinstance(owner, Scope):
            return f"unknown placeholder '{owner._path}.{name}'"
        return f"{object_type_repr(owner)} has no attribute {name!r}"


def scoped(path: str, value: Any) -> Any:
    """Wrap nested mappings in ``Scope`` so every level reports unknown names by path."""
    if isinstance(value, Mapping):
        return Scope(path, {k: scoped(f"{path}.{k}", v) for k, v in value.items()})
    return value


# Formatting -----------------------------------------------------------------------------------


class Moment:
    """A date or datetime in a template: reads localized, works with the date filters.

    ``{{ contact.fields.termin_beginn }}`` then gives "Freitag, 4. Dezember 2026 um 16:30" in
    the workspace's locale and zone instead of the stored ISO text, and ``| time`` or
    ``| date("short")`` still see the instant. Public attributes (``year``, ``isoformat``) are
    the underlying value's.
    """

    __slots__ = ("fmt", "value")

    def __init__(self, value: datetime | date, fmt: Formatting) -> None:
        self.value = value
        self.fmt = fmt

    def __str__(self) -> str:
        filters = _filters(self.fmt)
        if isinstance(self.value, datetime):
            return str(filters["datetime"](self.value, "full"))
        return str(filters["date"](self.value, "full"))

    def __repr__(self) -> str:
        return f"<Moment {self.value.isoformat()}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.value, name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Moment):
            other = other.value
        return bool(self.value == other)

    def __hash__(self) -> int:
        return hash(self.value)


def moment(value: Any, fmt: Formatting, *, kind: str = "datetime") -> Any:
    """A stored date/datetime (object or ISO text) as a ``Moment``; other values unchanged."""
    if isinstance(value, datetime | date):
        return Moment(value, fmt)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if kind == "date":
                return Moment(date.fromisoformat(text), fmt)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return value
        return Moment(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), fmt)
    return value


@dataclass(frozen=True)
class Formatting:
    """How dates read for one workspace: a Babel locale and an IANA time zone."""

    locale: str = "de-CH"
    timezone: str = "Europe/Zurich"


@lru_cache(maxsize=64)
def _locale(name: str) -> Locale:
    code = name.replace("-", "_")
    # English for Swiss practices reads day-month-year and 24 h, never "12/4/26, 4:30 PM".
    if code.lower() in ("en", "en_us"):
        code = "en_GB"
    try:
        return Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("de_CH")


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _instant(value: Any, zone: tzinfo) -> datetime | date:
    """A datetime in ``zone`` (or a plain date) from what templates hold: objects or ISO text."""
    if isinstance(value, Undefined):
        # Raises the placeholder's own message.
        str(value)
    if isinstance(value, Moment):
        value = value.value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text) if "T" in text or " " in text else None
        except ValueError:
            value = None
        if value is None:
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a date or time") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # Stored values are UTC; a naive one can only have come from there.
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone)
    if isinstance(value, date):
        return value
    raise ValueError(f"{value!r} is not a date or time")


def _make_filters(fmt: Formatting) -> dict[str, Any]:
    locale = _locale(fmt.locale)
    zone = _zone(fmt.timezone)
    at_time = AT_TIME.get(locale.language)

    def datetime_filter(value: Any, format: str = "medium") -> str:
        if value is None or value == "":
            return ""
        moment = _instant(value, zone)
        if not isinstance(moment, datetime):
            moment = datetime.combine(moment, time(0), tzinfo=zone)
        if format in WIDTHS:
            day = format_date(moment, format, locale=locale)
            clock = format_time(moment, "short", tzinfo=zone, locale=locale)
            if at_time and format in ("full", "long"):
                return at_time.format(date=day, time=clock)
            pattern = str(get_datetime_format(format, locale=locale))  # type: ignore[arg-type]
            return pattern.replace("{1}", day).replace("{0}", clock)
        return format_datetime(moment, format, tzinfo=zone, locale=locale)

    def date_filter(value: Any, format: str = "medium") -> str:
        if value is None or value == "":
            return ""
        moment = _instant(value, zone)
        day = moment.date() if isinstance(moment, datetime) else moment
        return format_date(day, format, locale=locale)

    def time_filter(value: Any, format: str = "short") -> str:
        if value is None or value == "":
            return ""
        moment = _instant(value, zone)
        if not isinstance(moment, datetime):
            raise ValueError(f"{value!r} has no time of day")
        return format_time(moment, format, tzinfo=zone, locale=locale)

    return {"datetime": datetime_filter, "date": date_filter, "time": time_filter}


def _warm(fmt: Formatting) -> None:
    locale, zone = _locale(fmt.locale), _zone(fmt.timezone)
    moment = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    for width in WIDTHS:
        format_date(moment, width, locale=locale)
        format_time(moment, width, tzinfo=zone, locale=locale)
        get_datetime_format(width, locale=locale)  # type: ignore[arg-type]


@lru_cache(maxsize=64)
def _filters(fmt: Formatting) -> dict[str, Any]:
    return _make_filters(fmt)


@lru_cache(maxsize=64)
def environment(fmt: Formatting, *, autoescape: bool) -> sandbox.BoundedEnvironment:
    env = sandbox.BoundedEnvironment(
        undefined=PlaceholderUndefined, autoescape=autoescape, keep_trailing_newline=True
    )
    env.filters.update(_make_filters(fmt))
    env.guard_filters()
    # Babel loads a locale's data on first use (tens of milliseconds, more on a busy machine):
    # here, once per process, rather than inside the first render's budget.
    _warm(fmt)
    # Helpers whose internals are the usual way out of a sandbox; templates do not need them.
    for name in ("lipsum", "cycler", "joiner"):
        env.globals.pop(name, None)
    return env


@lru_cache(maxsize=512)
def _compile(fmt: Formatting, autoescape: bool, source: str) -> Template:
    # Compiling is Python that passes no hook of the sandbox: watched (on a cache miss only).
    with sandbox.watched():
        return environment(fmt, autoescape=autoescape).from_string(source)


def _line_of(exc: BaseException) -> int | None:
    """The template line an exception was raised on (Jinja rewrites tracebacks to show it)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, sandbox.RenderLimit):
        return str(exc)
    if isinstance(exc, RecursionError):
        return _("the template nests or calls itself too deeply")
    if isinstance(exc, SecurityError):
        return f"not allowed in a template: {exc}"
    if isinstance(exc, UndefinedError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def compile_part(part: str, source: str, fmt: Formatting) -> Template:
    """The compiled template (cached), under a budget of its own: a render's budget is for
    rendering, and the first compile of a template in a process is not the template's fault.
    """
    try:
        with sandbox.budget(budget_seconds(), fresh=True):
            return _compile(fmt, part == "body_html", source)
    except TemplateSyntaxError as exc:
        raise RenderError(part, exc.message or str(exc), exc.lineno) from exc
    except Exception as exc:
        # Nesting deeper than Python's parser goes, number literals too long to read, the
        # budget spent while compiling: all the template's fault, none worth a 500.
        raise RenderError(part, _describe(exc)) from exc


def budget_seconds() -> float:
    """The wall-clock budget of one email's render (``TERMINFLOW_RENDER_BUDGET_SECONDS``)."""
    return float(settings.RENDER_BUDGET_SECONDS)


def check_budget_seconds() -> float:
    """The budget when a template is saved or previewed: a quarter of a real render's.

    The editor then answers in well under a second, and a template that passes has room to
    spare for contacts with more data than the sample.
    """
    return budget_seconds() / 4


def budget(seconds: float | None = None) -> Any:
    """One budget for the renders inside (an email's subject, HTML and text parts together)."""
    return sandbox.budget(budget_seconds() if seconds is None else seconds)


def render_part(part: str, source: str, context: Mapping[str, Any], fmt: Formatting) -> str:
    """Render one part; any failure becomes a ``RenderError`` naming the part and line.

    Runs under the caller's ``budget()``, or under a budget of its own. Callers that share a
    budget between parts compile them first (``compile_part``), outside it.
    """
    template = compile_part(part, source, fmt)
    with budget():
        try:
            return template.render(context)
        except Exception as exc:
            raise RenderError(part, _describe(exc), _line_of(exc)) from exc


# Inspecting templates -------------------------------------------------------------------------


def _parse(part: str, source: str) -> nodes.Template:
    try:
        with budget(check_budget_seconds()), sandbox.watched():
            return environment(Formatting(), autoescape=False).parse(source)
    except TemplateSyntaxError as exc:
        raise RenderError(part, exc.message or str(exc), exc.lineno) from exc
    except Exception as exc:
        raise RenderError(part, _describe(exc)) from exc


@lru_cache(maxsize=512)
def uses_link(source: str, name: str) -> bool:
    """Whether a template refers to ``links.<name>`` (by attribute or by item)."""
    try:
        tree = _parse("template", source)
    except RenderError:
        return False
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if not (isinstance(target, nodes.Name) and target.name == "links"):
            continue
        if isinstance(node, nodes.Getattr) and node.attr == name:
            return True
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and node.arg.value == name
        ):
            return True
    return False


@lru_cache(maxsize=512)
def names_used(source: str) -> frozenset[str]:
    """The names a template reads: top-level names, and ``contact.fields.<key>`` per field.

    Found on the syntax tree, without rendering, so a campaign can be checked against what the
    paths to an email provide. A template that does not parse uses nothing (saving it failed).
    """
    try:
        tree = _parse("template", source)
    except RenderError:
        return frozenset()
    declared = _declared_names(tree)
    found: set[str] = set()
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx == "load" and name_node.name not in declared:
            found.add(name_node.name)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        inner = node.node
        if not (
            isinstance(inner, nodes.Getattr)
            and inner.attr == "fields"
            and isinstance(inner.node, nodes.Name)
            and inner.node.name == "contact"
        ):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(f"contact.fields.{node.attr}")
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add(f"contact.fields.{node.arg.value}")
    return frozenset(found)


def static_problems(part: str, source: str, allowed_names: Iterable[str]) -> list[RenderError]:
    """Syntax errors, unknown top-level names and private attributes, found without rendering."""
    try:
        tree = _parse(part, source)
    except RenderError as exc:
        return [exc]
    problems: list[RenderError] = []
    allowed = set(allowed_names) | set(environment(Formatting(), autoescape=False).globals)
    declared = _declared_names(tree)
    seen: set[str] = set()
    for name_node in tree.find_all(nodes.Name):
        name = name_node.name
        if name_node.ctx != "load" or name in allowed or name in declared or name in seen:
            continue
        seen.add(name)
        problems.append(RenderError(part, f"unknown placeholder {name!r}", name_node.lineno))
    for attr_node in tree.find_all(nodes.Getattr):
        if attr_node.attr.startswith("_"):
            problems.append(
                RenderError(
                    part,
                    f"attributes starting with '_' are not allowed ({attr_node.attr!r})",
                    attr_node.lineno,
                )
            )
    return problems


def _declared_names(tree: nodes.Template) -> set[str]:
    declared: set[str] = {"loop", "caller", "varargs", "kwargs"}
    for node in tree.find_all(nodes.Name):
        if node.ctx in ("store", "param"):
            declared.add(node.name)
    for macro in tree.find_all(nodes.Macro):
        declared.add(macro.name)
    return declared


# HTML to text ---------------------------------------------------------------------------------

_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "blockquote",
    "hr",
}
_SKIPPED = {"style", "script", "head", "title"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "a":
            self._links.append(dict(attrs).get("href"))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """A readable plain-text part from an HTML body: paragraphs, lists and link targets kept."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.out))
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def one_line(text: str) -> str:
    """Subjects are headers: one line, whitespace collapsed."""
    return re.sub(r"\s+", " ", text).strip()
