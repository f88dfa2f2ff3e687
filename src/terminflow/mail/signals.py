"""Signals the mail services send inside the writing transaction, after the write.

Apps above mail react to them without mail importing those apps (the forms app applies a
sign-up when its double opt-in link is confirmed).
"""

from django.dispatch import Signal

# sender=Outbox; kwargs: outbox (the DOI email whose link was confirmed), contact.
# Sent on every successful confirmation, also when the address was confirmed before.
doi_link_confirmed = Signal()
