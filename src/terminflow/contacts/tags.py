"""Contact tags: the names a contact carries, tagging and untagging it (``tag_added`` is sent
for each new tag), and managing a workspace's tags (list them with their counts, get, rename
and delete one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils.translation import gettext_lazy

from terminflow.kit import clock, memo
from terminflow.kit.errors import Conflict, NotFound, Unprocessable
from terminflow.workspaces.models import Workspace

from . import signals
from .cleaning import clean_text, shorten
from .models import Contact, ContactTag, Tag

TAG_MAX_LENGTH = 100


def clean_tag_names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise Unprocessable(gettext_lazy("tags: must be a list of tag names."))
    cleaned: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise Unprocessable(gettext_lazy("tags: every tag must be non-empty text."))
        name = clean_text("tags", name.strip(), TAG_MAX_LENGTH)
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


def tag_names(contact: Contact) -> list[str]:
    """The contact's tag names, sorted (uses prefetched tags when present)."""
    if "contact_tags" in getattr(contact, "_prefetched_objects_cache", {}):
        return sorted(link.tag.name for link in contact.contact_tags.all())
    # One query, not one per tag for the links' tags.
    return sorted(
        ContactTag.objects.filter(contact_id=contact.pk).values_list("tag__name", flat=True)
    )


def _lock(contact: Contact) -> None:
    Contact.objects.select_for_update().filter(pk=contact.pk).values_list("pk", flat=True).get()


def _ensure_tags(workspace_id: int, names: list[str]) -> dict[str, Tag]:
    # Only tags that were there before are remembered (a sweep batch tagging many contacts):
    # one made here could still vanish with a savepoint rolled back around it.
    tags = dict(
        memo.remember(
            ("contacts.tags", workspace_id, tuple(names)),
            lambda: {
                t.name: t for t in Tag.objects.filter(workspace_id=workspace_id, name__in=names)
            },
        )
    )
    missing = [n for n in names if n not in tags]
    if missing:
        Tag.objects.bulk_create(
            [Tag(workspace_id=workspace_id, name=n) for n in missing], ignore_conflicts=True
        )
        tags.update(
            {t.name: t for t in Tag.objects.filter(workspace_id=workspace_id, name__in=missing)}
        )
    return tags


def add_tags(contact: Contact, names: Iterable[str], *, source: str = "") -> list[str]:
    """Tag the contact; returns the names it did not have yet, each announced by ``tag_added``."""
    cleaned = clean_tag_names(names)
    if not cleaned:
        return []
    with transaction.atomic(savepoint=False):
        return add_cleaned_tags(contact, cleaned, source=source)


def add_cleaned_tags(contact: Contact, names: list[str], *, source: str) -> list[str]:
    if not names:
        return []
    # The row lock makes "which tags are new" exact when two jobs tag the same contact.
    _lock(contact)
    tags = _ensure_tags(contact.workspace_id, names)
    have = set(
        ContactTag.objects.filter(contact=contact, tag__in=list(tags.values())).values_list(
            "tag_id", flat=True
        )
    )
    added = [n for n in names if tags[n].pk not in have]
    if not added:
        return []
    ContactTag.objects.bulk_create([ContactTag(contact=contact, tag=tags[n]) for n in added])
    _touch(contact)
    for name in added:
        signals.tag_added.send(sender=Contact, contact=contact, tag=name, source=source)
    return added


def remove_tags(contact: Contact, names: Iterable[str]) -> list[str]:
    """Untag the contact; returns the names it had."""
    cleaned = clean_tag_names(names)
    if not cleaned:
        return []
    with transaction.atomic(savepoint=False):
        return _remove_tags(contact, cleaned)


def _remove_tags(contact: Contact, names: list[str]) -> list[str]:
    links = ContactTag.objects.filter(contact=contact, tag__name__in=names)
    had = set(links.values_list("tag__name", flat=True))
    if not had:
        return []
    links.delete()
    _touch(contact)
    return [n for n in names if n in had]


def replace_cleaned_tags(contact: Contact, names: list[str], *, source: str) -> None:
    current = set(ContactTag.objects.filter(contact=contact).values_list("tag__name", flat=True))
    _remove_tags(contact, sorted(current - set(names)))
    add_cleaned_tags(contact, [n for n in names if n not in current], source=source)


def _touch(contact: Contact) -> None:
    now = clock.now()
    Contact.objects.filter(pk=contact.pk).update(updated_at=now)
    contact.updated_at = now


# -- managing tags ----------------------------------------------------------------------------


def list_tags(workspace: Workspace) -> list[tuple[str, int]]:
    """Every tag of the workspace by name, with how many contacts carry it."""
    return list(
        Tag.objects.filter(workspace=workspace)
        .annotate(contact_count=Count("contact_tags"))
        .order_by("name")
        .values_list("name", "contact_count")
    )


def _clean_tag_name(label: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Unprocessable(gettext_lazy("%(label)s: a tag needs a name."), label=label)
    return clean_text(label, name.strip(), TAG_MAX_LENGTH)


def get_tag(workspace: Workspace, name: str) -> Tag:
    """The workspace's tag called ``name``; ``NotFound`` if there is none."""
    tag = (
        Tag.objects.filter(workspace=workspace, name=name.strip()).first()
        if isinstance(name, str)
        else None
    )
    if tag is None:
        raise NotFound(gettext_lazy("There is no tag '%(shorten)s'."), shorten=shorten(str(name)))
    return tag


def rename_tag(workspace: Workspace, name: str, new_name: str) -> Tag:
    """Give the tag a new name; every contact that carries it keeps it under the new name.

    ``NotFound`` if the tag does not exist, ``Unprocessable`` if ``new_name`` is empty or
    too long, ``Conflict`` if another tag of the workspace already has that name.
    """
    new_name = _clean_tag_name("name", new_name)
    tag = get_tag(workspace, name)
    if tag.name == new_name:
        return tag
    if Tag.objects.filter(workspace=workspace, name=new_name).exists():
        raise Conflict(
            gettext_lazy("A tag called '%(new_name)s' already exists."), new_name=new_name
        )
    try:
        with transaction.atomic():
            Tag.objects.filter(pk=tag.pk).update(name=new_name)
    except IntegrityError:
        raise Conflict(
            gettext_lazy("A tag called '%(new_name)s' already exists."), new_name=new_name
        ) from None
    tag.name = new_name
    Contact.objects.filter(contact_tags__tag=tag).update(updated_at=clock.now())
    return tag


def delete_tag(workspace: Workspace, name: str) -> int:
    """Remove the tag from every contact and delete it; returns how many contacts had it.

    ``NotFound`` if the workspace has no such tag.
    """
    tag = get_tag(workspace, name)
    with transaction.atomic(savepoint=False):
        contact_ids = list(ContactTag.objects.filter(tag=tag).values_list("contact_id", flat=True))
        Contact.objects.filter(pk__in=contact_ids).update(updated_at=clock.now())
        ContactTag.objects.filter(tag=tag).delete()
        tag.delete()
    return len(contact_ids)
