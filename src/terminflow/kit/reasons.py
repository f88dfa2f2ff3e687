"""Reasons stored on rows (runs, inbox entries, outbox rows) and read later in any language.

A reason is written by a job that has no reader's language, so the row keeps the English
sentence and a stable code is derived from it when it is shown. Each app declares its reasons
once as ``Reason(code, msgid)``; the msgid is the stored text with ``%(name)s`` placeholders.
``describe`` recognises a stored sentence, also one written before its reason was declared
here, and returns its code and its translation in the active language. A sentence nobody
declared is shown as it was stored, with the code ``""``.

A placeholder may hold a stored code (an email status) rather than words: ``words`` maps such a
placeholder's codes to the phrase a reader sees, so no code ever reaches a page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Reason:
    code: str
    msgid: str
    # placeholder -> stored code -> the phrase shown for it (lazy, translated when shown)
    words: Mapping[str, Mapping[str, Promise | str]] = field(
        default_factory=dict, repr=False, compare=False
    )
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

    def shown(self, name: str, value: str) -> str:
        """A placeholder's stored value as a reader sees it, in the active language."""
        words = self.words.get(name)
        if words is not None:
            # A code without words (one added later) is shown as stored rather than dropped.
            return str(words.get(value, value))
        # A reason may quote another (a template error quotes the renderer's problem).
        return describe(value)[1]


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
            params = {name: reason.shown(name, value) for name, value in found.groupdict().items()}
            return reason.code, gettext(reason.msgid) % params
    return "", text


def translate(text: str) -> str:
    return describe(text)[1]


def catalogue() -> list[Reason]:
    return list(_CATALOGUE.values())
