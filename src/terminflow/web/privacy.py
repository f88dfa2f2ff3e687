"""The web app's share of a person's data: stored rows of CSV uploads (``contacts.privacy``)."""

from __future__ import annotations

import json
import re

from terminflow.contacts.models import Contact
from terminflow.contacts.privacy import DataHolder, register

from .models import ContactImport, ContactImportRow


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


def erase(contact: Contact) -> int:
    """Deletes the stored upload rows that name the person and their rejected-row reports.

    A deleted row is one the import no longer reaches: it reads the rows after its position in
    order, so an unfinished import resumes with the next remaining row.
    """
    email = contact.email.lower()
    changed = 0
    imports = ContactImport.objects.filter(workspace_id=contact.workspace_id).only("id", "rejected")
    for item in imports.iterator(chunk_size=50):
        naming = [
            pk
            for pk, cells in ContactImportRow.objects.filter(contact_import=item).values_list(
                "pk", "cells"
            )
            if _names_person("\t".join(str(c) for c in cells or []), contact)
        ]
        rejected = [
            r for r in item.rejected or [] if email not in json.dumps(r, ensure_ascii=False).lower()
        ]
        if naming:
            ContactImportRow.objects.filter(pk__in=naming).delete()
        if rejected != item.rejected:
            ContactImport.objects.filter(pk=item.pk).update(rejected=rejected)
        if naming or rejected != item.rejected:
            changed += 1
    return changed


def register_holder() -> None:
    register(DataHolder("imports", erase=erase))
