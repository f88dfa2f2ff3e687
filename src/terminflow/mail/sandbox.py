"""A Jinja2 sandbox that no template can use to freeze or stall the process.

Jinja's own sandbox keeps templates away from Python's internals but not from the CPU: it
folds ``{{ 9**(9**7) }}`` while compiling (one C call holding the GIL for 20 s), and nested
loops, macro recursion or ``"x".center(10**9)`` run as long as they like. Here:

- **Sizes are bounded before they are made.** The operators that can grow a value (``+``,
  ``*``, ``**``, ``%``) are intercepted, which also stops Jinja from folding them at compile
  time; filters are wrapped and take the context, which stops their folding too. Numbers may
  not grow past ``MAX_INT_BITS``, strings and lists past ``MAX_TEXT`` / ``MAX_ITEMS``; the
  calls that amplify in one C step (``center``, ``replace``, ``join``, format widths,
  ``to_bytes``...) are checked on their arguments first; ``range`` yields at most
  ``MAX_RANGE`` numbers, loops at most ``MAX_ITERATIONS`` iterations per render, and a
  rendered part at most ``MAX_OUTPUT`` characters.
- **Every render has a wall-clock budget** (enforced once the render also used half of it in
  CPU time, or at four times it regardless; see ``_CPU_SHARE``). Each hook above checks it
  (every loop iteration, call, attribute, operator, filter and output piece). Where Python
  code runs long without passing a hook (compiling, filters that loop in Python such as
  ``wordwrap``, the text version of the HTML), a profile hook (``sys.setprofile``, this
  thread only, ``watched()``) checks it before every C call. It is not on for the whole
  render: it costs several times the render itself. What is left between two checks is one
  C call on bounded data: milliseconds.

A template that breaks a limit raises ``RenderLimit``; the rendering module turns it into the
one email's failure reason.
"""

from __future__ import annotations

import _markupbase
import html
import html.parser
import json
import os
import pprint
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from functools import wraps
from itertools import islice
from pathlib import Path
from string import Formatter
from types import BuiltinMethodType, MethodType
from typing import Any

import babel
import jinja2
import markupsafe
from django.utils.translation import gettext as _
from jinja2 import nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Email bodies are a few KiB; Gmail clips messages over 102 KB. These leave room for any real
# newsletter and stop every amplification long before memory or time is at risk.
MAX_TEXT = 1_000_000  # characters in any string a template makes
MAX_OUTPUT = 1_000_000  # characters in one rendered part
MAX_ITEMS = 100_000  # items in any list or tuple a template makes
MAX_RANGE = 10_000  # numbers from one range()
MAX_ITERATIONS = 100_000  # loop iterations in one render, all loops together
MAX_INT_BITS = 4_096  # about 1,233 decimal digits
MAX_WIDTH = 10_000  # field width or precision in a format specification
# Output pieces measured (and the clock read) at a time.
_OUTPUT_SLICE = 16


class RenderLimit(SecurityError):
    """A template went over a limit or over its time budget; ``str(exc)`` says which."""


@dataclass
class Budget:
    """The limits of one render in progress: its deadline and the iterations it used."""

    seconds: float
    deadline: float = 0.0
    hard_deadline: float = 0.0
    cpu_started: float = 0.0
    iterations: int = 0
    # Whether the profile hook may still raise (off once it did, and after the render).
    active: bool = True
    # Once over, every later check raises too, even if template code swallowed the first.
    expired: bool = field(default=False)

    def __post_init__(self) -> None:
        self.deadline = time.perf_counter() + self.seconds
        self.hard_deadline = time.perf_counter() + self.seconds * _HARD_FACTOR
        self.cpu_started = time.thread_time()

    def _spent(self) -> bool:
        return (
            time.thread_time() - self.cpu_started >= self.seconds * _CPU_SHARE
            or time.perf_counter() > self.hard_deadline
        )

    def check(self) -> None:
        if self.expired or (time.perf_counter() > self.deadline and self._spent()):
            self.expired = True
            self.active = False
            raise RenderLimit(
                _("the template took longer than its %(seconds)s s budget to render")
                % {"seconds": _seconds(self.seconds)}
            )


# Over its wall-clock budget, a render stops once it also used half of it in CPU time of its
# own, or at four times the budget in any case: a template burning CPU stops at its budget on a
# quiet machine, while an ordinary render that an overloaded machine (or a garbage collection)
# held up for a moment is not failed for time it never used.
_CPU_SHARE = 0.5
_HARD_FACTOR = 4


def _seconds(value: float) -> str:
    return f"{value:g}"


def _count(value: int) -> str:
    # Thin spaces between thousands read the same in German and English.
    return f"{value:,}".replace(",", "\u2009")


_current: ContextVar[Budget | None] = ContextVar("render_budget", default=None)


def _check() -> None:
    budget = _current.get()
    if budget is not None:
        budget.check()


@contextmanager
def budget(seconds: float, *, fresh: bool = False) -> Iterator[Budget]:
    """Run the renders inside under one wall-clock budget.

    Nested calls share the outer budget, unless ``fresh`` (compiling, which has its own).
    """
    outer = _current.get()
    if outer is not None and not fresh:
        yield outer
        return
    current = Budget(seconds)
    token = _current.set(current)
    try:
        yield current
    finally:
        current.active = False
        _current.reset(token)


@contextmanager
def watched() -> Iterator[None]:
    """Check the budget before every C call inside (code that passes no hook of the sandbox)."""
    current = _current.get()
    # A profiler or debugger already watching this thread keeps it (and an outer watched()).
    if current is None or sys.getprofile() is not None:
        yield
        return
    sys.setprofile(_profile_hook(current))
    try:
        yield
    finally:
        sys.setprofile(None)


def _module_dir(module: Any) -> str:
    return str(Path(module.__file__).parent) + os.sep


# Code a render runs in: Jinja's compiler and runtime, the filters' helpers, this app's
# rendering and text conversion. The profile hook raises only from frames of these files, so a
# finalizer or ``__del__`` that garbage collection happens to run mid-render is never cut short.
_WATCHED = (
    "<template>",
    _module_dir(jinja2),
    _module_dir(markupsafe),
    _module_dir(babel),
    str(Path(__file__).parent) + os.sep,
    textwrap.__file__,
    pprint.__file__,
    _module_dir(json),
    _module_dir(html),
    _markupbase.__file__,
)


def _profile_hook(current: Budget) -> Callable[[Any, str, Any], None]:
    now = time.perf_counter

    def hook(frame: Any, event: str, arg: Any) -> None:
        # Only before C calls: every Python loop makes them, and a "call" event may be a
        # generator being closed, whose exception Python would print and swallow.
        if (
            event == "c_call"
            and current.active
            and now() > current.deadline
            and frame.f_code.co_filename.startswith(_WATCHED)
            and current._spent()
        ):
            # Python removes a profile hook that raises; the exception surfaces in the render.
            current.check()

    return hook


# Limits on values ----------------------------------------------------------------------------


def _too_long(what: str, size: int, limit: int) -> RenderLimit:
    return RenderLimit(
        _("%(what)s would have %(size)s characters or items; at most %(limit)s are allowed")
        % {"what": what, "size": _count(size), "limit": _count(limit)}
    )


def _check_size(what: str, value: Any) -> Any:
    if isinstance(value, str | bytes) and len(value) > MAX_TEXT:
        raise _too_long(what, len(value), MAX_TEXT)
    if isinstance(value, list | tuple | dict | set) and len(value) > MAX_ITEMS:
        raise _too_long(what, len(value), MAX_ITEMS)
    return value


def _number_too_big(what: str) -> RenderLimit:
    return RenderLimit(
        _("%(what)s would make a number larger than %(bits)s bits")
        % {"what": what, "bits": MAX_INT_BITS}
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


def _check_width(number: str | None, what: str) -> None:
    if number == "*":
        raise RenderLimit(_("%(what)s: '*' widths are not allowed in templates") % {"what": what})
    if number and int(number) > MAX_WIDTH:
        raise RenderLimit(
            _("%(what)s: a width or precision of %(width)s is over the limit of %(limit)s")
            % {"what": what, "width": number, "limit": MAX_WIDTH}
        )


def check_percent_format(text: str) -> None:
    """Refuse ``%``-formatting whose widths would make huge strings (``"%999999999s"``)."""
    for match in _PERCENT_SPEC.finditer(text):
        _check_width(match.group(1), "%-format")
        _check_width(match.group(2), "%-format")


def check_brace_format(text: str) -> None:
    """Refuse ``str.format`` specifications with huge or nested widths (``"{:>999999999}"``)."""
    try:
        parsed = list(Formatter().parse(text))
    except ValueError:
        return  # str.format raises the same error itself
    for _literal, name, spec, _conversion in parsed:
        if name is None or not spec:
            continue
        if "{" in spec:
            raise RenderLimit(_("format: nested fields in a format specification are not allowed"))
        for number in _NUMBER.findall(spec):
            _check_width(number, "format")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too large, before Python computes it."""
    if operator == "**":
        positive = _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1
        if positive and left.bit_length() * right > MAX_INT_BITS:
            raise _number_too_big("**")
        return
    if operator == "*":
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _number_too_big("*")
        elif (_sized(left) and _is_int(right)) or (_sized(right) and _is_int(left)):
            sequence, times = (left, right) if _sized(left) else (right, left)
            size = len(sequence) * max(times, 0)
            limit = MAX_TEXT if isinstance(sequence, str | bytes) else MAX_ITEMS
            if size > limit:
                raise _too_long("*", size, limit)
        return
    if operator == "+":
        if _sized(left) and _sized(right):
            size = len(left) + len(right)
            limit = MAX_TEXT if isinstance(left, str | bytes) else MAX_ITEMS
            if size > limit:
                raise _too_long("+", size, limit)
        return
    if operator == "%" and isinstance(left, str):
        check_percent_format(left)


# Calls ---------------------------------------------------------------------------------------

_PADDING = {"center", "ljust", "rjust", "zfill"}
# Methods whose cost or result size is unbounded by their receiver and that no email needs.
_REFUSED_METHODS = {"translate", "to_bytes", "expandtabs"}


def _replaced_size(text: str | bytes, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    found = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
    if _is_int(count) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _joined(separator: str | bytes, items: Any) -> list[Any]:
    """The items to join, after checking what joining them would make."""
    materialised = _bounded_list(items, "join")
    size = sum(len(item) if isinstance(item, str | bytes) else 0 for item in materialised)
    size += len(separator) * max(len(materialised) - 1, 0)
    if size > MAX_TEXT:
        raise _too_long("join", size, MAX_TEXT)
    return materialised


def _bounded_list(items: Any, what: str) -> list[Any]:
    if isinstance(items, list | tuple | str | dict | set) and len(items) > MAX_ITEMS:
        raise _too_long(what, len(items), MAX_ITEMS)
    out: list[Any] = []
    for item in items:
        out.append(item)
        if len(out) > MAX_ITEMS:
            raise _too_long(what, len(out), MAX_ITEMS)
        if not len(out) % 1024:
            _check()
    return out


def checked_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a call made from a template; returns the (possibly materialised) arguments."""
    target = getattr(obj, "__wrapped__", obj)
    if not isinstance(target, BuiltinMethodType | MethodType):
        return args
    receiver = getattr(target, "__self__", None)
    name = getattr(target, "__name__", "")
    if isinstance(receiver, int | float | Decimal) and name in _REFUSED_METHODS:
        raise RenderLimit(_("%(name)s() is not allowed in templates") % {"name": name})
    if not isinstance(receiver, str | bytes):
        return args
    if name in _REFUSED_METHODS:
        raise RenderLimit(_("%(name)s() is not allowed in templates") % {"name": name})
    if name in _PADDING:
        width = args[0] if args else kwargs.get("width")
        if isinstance(width, int) and width > MAX_TEXT:
            raise _too_long(name, width, MAX_TEXT)
    elif name == "replace" and len(args) >= 2:
        size = _replaced_size(receiver, *args[:3])
        if size > MAX_TEXT:
            raise _too_long("replace", size, MAX_TEXT)
    elif name == "join" and args:
        return (_joined(receiver, args[0]), *args[1:])
    elif name in ("format", "format_map") and isinstance(receiver, str):
        check_brace_format(receiver)
    return args


# Filters -------------------------------------------------------------------------------------


def _precheck_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Arguments that would make a filter's one C call or loop huge; returns the value to use."""

    def arg(index: int, key: str, default: Any = None) -> Any:
        return args[index] if len(args) > index else kwargs.get(key, default)

    text = value if isinstance(value, str) else None
    if name == "center":
        width = arg(0, "width", 80)
        if _is_int(width) and width > MAX_TEXT:
            raise _too_long("center", width, MAX_TEXT)
    elif name == "indent" and text is not None:
        width = arg(0, "width", 4)
        pad = width if isinstance(width, str) else " " * min(max(width, 0), MAX_TEXT + 1)
        size = len(text) + (text.count("\n") + 1) * len(pad)
        if size > MAX_TEXT:
            raise _too_long("indent", size, MAX_TEXT)
    elif name == "format" and isinstance(value, str):
        check_percent_format(value)
    elif name == "replace" and isinstance(value, str):
        size = _replaced_size(value, arg(0, "old"), arg(1, "new"), arg(2, "count", -1))
        if size > MAX_TEXT:
            raise _too_long("replace", size, MAX_TEXT)
    elif name == "join":
        separator = arg(0, "d", "")
        if not isinstance(value, str):
            return _joined(separator if isinstance(separator, str) else "", value)
    elif name == "wordwrap" and text is not None:
        width = arg(0, "width", 79)
        wrapstring = arg(2, "wrapstring", None) or "\n"
        lines = len(text) // max(width, 1) + 1 if _is_int(width) else 1
        size = len(text) + lines * len(wrapstring)
        if size > MAX_TEXT:
            raise _too_long("wordwrap", size, MAX_TEXT)
    elif name in ("slice", "batch"):
        count = arg(0, "slices" if name == "slice" else "linecount")
        if _is_int(count) and count > MAX_ITEMS:
            raise _too_long(name, count, MAX_ITEMS)
    elif name == "tojson":
        indent = arg(0, "indent")
        if _is_int(indent) and indent > 100:
            raise _too_long("tojson", indent, 100)
    elif name == "sum":
        items = _bounded_list(value, "sum")
        if (
            not all(isinstance(i, int | float | Decimal) for i in items)
            and arg(0, "attribute") is None
        ):
            raise RenderLimit(_("sum only adds numbers in templates"))
        return items
    elif name in ("datetime", "date", "time"):
        pattern = arg(0, "format")
        if isinstance(pattern, str) and len(pattern) > 100:
            raise _too_long(name, len(pattern), 100)
    return value


# Filters that run in C or in a few Python steps on bounded input (the date filters get a
# pattern of at most 100 characters); every other filter runs ``watched()``.
_QUICK_FILTERS = frozenset(
    {
        "abs",
        "attr",
        "capitalize",
        "count",
        "d",
        "date",
        "datetime",
        "default",
        "e",
        "escape",
        "first",
        "float",
        "forceescape",
        "int",
        "items",
        "join",
        "last",
        "length",
        "lower",
        "replace",
        "round",
        "safe",
        "string",
        "time",
        "trim",
        "upper",
    }
)


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the clock and its arguments before running and its result after.

    It takes the context, which also keeps Jinja from running it at compile time.
    """
    marker = getattr(func, "jinja_pass_arg", None)
    passes = getattr(marker, "name", "")
    watch = name not in _QUICK_FILTERS

    # wraps() copies the filter's own pass marker; pass_context, applied after, replaces it.
    @pass_context
    @wraps(func)
    def guarded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        _check()
        value = _precheck_filter(name, value, args, kwargs)
        if passes == "context":
            args = (value, *args)
            value = context
        elif passes == "eval_context":
            args = (value, *args)
            value = context.eval_ctx
        elif passes == "environment":
            args = (value, *args)
            value = context.environment
        if watch:
            with watched():
                return _check_size(name, func(value, *args, **kwargs))
        return _check_size(name, func(value, *args, **kwargs))

    return guarded


def bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _too_long("range", len(numbers), MAX_RANGE)
    return numbers


# The environment -----------------------------------------------------------------------------


def _is_guarded(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name == "guard_iter"
    )


class _CodeGenerator(CodeGenerator):
    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Every loop's iterable goes through ``guard_iter``, so each iteration is counted and
        # timed (Jinja allows no custom node types, hence a call of an environment attribute).
        if not _is_guarded(node.iter):
            guard = nodes.EnvironmentAttribute("guard_iter", lineno=node.iter.lineno)
            node.iter = nodes.Call(guard, [node.iter], [], None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_text(")
        super().visit_Concat(node, frame)
        self.write(")")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` with the limits above."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = bounded_range

    def guard_filters(self) -> None:
        """Wrap every filter; call after the last filter was added."""
        for name, func in list(self.filters.items()):
            if not getattr(func, "_terminflow_guarded", False):
                guarded = guard_filter(name, func)
                guarded._terminflow_guarded = True  # type: ignore[attr-defined]
                self.filters[name] = guarded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check()
        check_binop(operator, left, right)
        return _check_size(operator, super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check()
        args = checked_call(__obj, args, kwargs)
        return _check_size("call", super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check()
        return super().getitem(obj, argument)

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        budget = _current.get()
        for item in iterable:
            if budget is not None:
                budget.iterations += 1
                if budget.iterations > MAX_ITERATIONS:
                    raise RenderLimit(
                        _("the template's loops ran more than %(limit)s times")
                        % {"limit": _count(MAX_ITERATIONS)}
                    )
                budget.check()
            yield item

    def checked_text(self, value: Any) -> Any:
        _check()
        return _check_size("~", value)

    def concat(self, pieces: Iterable[str]) -> str:  # type: ignore[override]
        # In slices taken and measured in C: a Python step per piece would double the cost of
        # an ordinary render. A slice overshoots the limit by at most its pieces' size.
        out: list[str] = []
        size = 0
        iterator = iter(pieces)
        while chunk := list(islice(iterator, _OUTPUT_SLICE)):
            size += sum(map(len, chunk))
            if size > MAX_OUTPUT:
                raise RenderLimit(
                    _("the rendered text would be longer than %(limit)s characters")
                    % {"limit": _count(MAX_OUTPUT)}
                )
            out += chunk
            _check()
        return "".join(out)
