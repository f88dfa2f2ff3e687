"""Reasons stored on rows (runs, inbox entries, outbox rows) and read later in any language.

A reason is written by a job that has no reader's language, so the row keeps the English
sentence and a stable code is derived from it when it is shown. Each app declares its reasons
once as ``Reason(code, msgid)``; the msgid is the stored text with ``%(name)s`` placeholders.
``describe`` recognises a stored sentence, also one written before its reason was declared
here, and returns its code and its translation in the active language. A sentence nobody
declared is shown as it was stored, with the code ``""``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Reason:
    code: str
    msgid: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PLACEHOLDER.split(self.msgid)
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>.*?)"
            for index, part in enumerate(parts)
        )
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$", re.DOTALL))
        _CATALOGUE[self.msgid] = self

    def __call__(self, **params: Any) -> str:
        """The English sentence to store."""
        return self.msgid % params if params else self.msgid


_CATALOGUE: dict[str, Reason] = {}


def describe(text: str) -> tuple[str, str]:
    """(code, sentence in the active language) for a stored reason; ("", text) if unknown."""
    if not text:
        return "", ""
    exact = _CATALOGUE.get(text)
    if exact is not None and not _PLACEHOLDER.search(exact.msgid):
        return exact.code, gettext(exact.msgid)
    # Several reasons joined by "; " (an inbox entry that several elements ignored).
    if "; " in text and not any(r.pattern.match(text) for r in _CATALOGUE.values()):
        parts = [describe(part) for part in text.split("; ")]
        codes = [code for code, _ in parts if code]
        return (codes[0] if codes else ""), "; ".join(sentence for _, sentence in parts)
    for reason in _CATALOGUE.values():
        found = reason.pattern.match(text)
        if found:
            # A reason may quote another (a template error quotes the renderer's problem).
            params = {name: describe(value)[1] for name, value in found.groupdict().items()}
            return reason.code, gettext(reason.msgid) % params
    return "", text


def translate(text: str) -> str:
    return describe(text)[1]


def catalogue() -> list[Reason]:
    return list(_CATALOGUE.values())
