"""The web app's share of a person's data: rows of uploaded CSV files (``contacts.privacy``)."""

from __future__ import annotations

import json
import re

from terminflow.contacts.models import Contact
from terminflow.contacts.privacy import DataHolder, register

from .models import ContactImport


def _names_person(line: str, contact: Contact) -> bool:
    """Whether a CSV line names the contact: the address, the phone, or first and last name.

    A namesake's row is blanked too: an upload is the business's copy of its own list, and
    losing one row of it is the lesser harm than keeping the erased person.
    """
    text = line.lower()
    if contact.email.lower() in text or (contact.phone and contact.phone in text):
        return True
    names = [n.lower() for n in (contact.first_name, contact.last_name) if n.strip()]
    return len(names) == 2 and all(
        re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text) is not None for n in names
    )


def _blank_lines_naming(content: str, contact: Contact) -> str:
    """The CSV with every line that names the person turned into spaces.

    Spaces of the same length keep the character offset an unfinished import resumes from
    valid, and the import skips a blank row.
    """
    lines = content.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _names_person(line, contact):
            body = line.rstrip("\r\n")
            lines[index] = " " * len(body) + line[len(body) :]
    return "".join(lines)


def erase(contact: Contact) -> int:
    email = contact.email.lower()
    changed = 0
    imports = ContactImport.objects.filter(workspace_id=contact.workspace_id).only(
        "id", "content", "rejected"
    )
    for item in imports.iterator(chunk_size=50):
        content = _blank_lines_naming(item.content, contact)
        rejected = [
            r for r in item.rejected or [] if email not in json.dumps(r, ensure_ascii=False).lower()
        ]
        if content != item.content or rejected != item.rejected:
            ContactImport.objects.filter(pk=item.pk).update(content=content, rejected=rejected)
            changed += 1
    return changed


def register_holder() -> None:
    register(DataHolder("imports", erase=erase))
