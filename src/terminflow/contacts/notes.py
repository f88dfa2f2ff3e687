"""Notes on contacts: adding one, or many at once, where a source key makes a note from the
same source at most once per contact.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy

from terminflow.kit.errors import Unprocessable

from .cleaning import clean_text
from .models import Contact, Note

NOTE_MAX_LENGTH = 100_000


def add_note(
    contact: Contact, text: str, *, source: str, source_key: str | None = None
) -> Note | None:
    """Add a note; with ``source_key`` at most once per contact (None if the key was used)."""
    if not isinstance(text, str) or not text.strip():
        raise Unprocessable(gettext_lazy("A note needs text."))
    text = clean_text("note", text, NOTE_MAX_LENGTH)
    if source_key is not None:
        source_key = clean_text("source_key", source_key, 255)
    values = {"contact": contact, "text": text, "source": (source or "")[:200]}
    if source_key is None:
        return Note.objects.create(**values)
    if Note.objects.filter(contact=contact, source_key=source_key).exists():
        return None
    try:
        with transaction.atomic():
            return Note.objects.create(**values, source_key=source_key)
    except IntegrityError:
        return None


def add_notes(
    items: Iterable[tuple[Contact, str, str, str | None]],
) -> list[Note | None]:
    """``add_note`` for many (contact, text, source, source_key) at once, in order.

    The same rules as one at a time: a source key is used at most once per contact (also
    within ``items``), and such an item gives None. One lookup of the keys and one insert.
    Every item is checked first: a bad one raises ``Unprocessable`` and nothing is stored.
    """
    cleaned: list[tuple[Contact, str, str, str | None]] = []
    for contact, text, source, source_key in items:
        if not isinstance(text, str) or not text.strip():
            raise Unprocessable(gettext_lazy("A note needs text."))
        text = clean_text("note", text, NOTE_MAX_LENGTH)
        if source_key is not None:
            source_key = clean_text("source_key", source_key, 255)
        cleaned.append((contact, text, (source or "")[:200], source_key))
    keyed = [(contact.pk, key) for contact, _, _, key in cleaned if key is not None]
    used: set[tuple[int, str | None]] = set()
    if keyed:
        used = set(
            Note.objects.filter(
                contact_id__in={pk for pk, _ in keyed}, source_key__in={key for _, key in keyed}
            ).values_list("contact_id", "source_key")
        )
    notes: list[Note | None] = []
    for contact, text, source, source_key in cleaned:
        if source_key is not None:
            if (contact.pk, source_key) in used:
                notes.append(None)
                continue
            used.add((contact.pk, source_key))
        notes.append(Note(contact=contact, text=text, source=source, source_key=source_key))
    fresh = [note for note in notes if note is not None]
    if not fresh:
        return notes
    try:
        with transaction.atomic():
            Note.objects.bulk_create(fresh)
    except IntegrityError:
        # Another job used one of the keys meanwhile: add them one at a time.
        return [
            add_note(contact, text, source=source, source_key=source_key)
            for contact, text, source, source_key in cleaned
        ]
    return notes
