"""Signals the contact services send inside the writing transaction, after the write.

Receivers run in the same transaction, so a receiver that raises rolls the write back; the
campaigns app connects its triggers here (contacts never imports campaigns).
"""

from django.dispatch import Signal

# sender=Contact; kwargs: contact, tag (the tag's name), source
tag_added = Signal()
# sender=Contact; kwargs: contact, key, old, new (stored representations; None = empty), source
field_changed = Signal()
# sender=Contact; kwargs: contact
doi_confirmed = Signal()
