"""Worker sweeps: thin wrappers around service functions."""

import logging

from terminflow.kit.sweep import Sweep

from . import sending

log = logging.getLogger("terminflow.mail.tasks")


def _send() -> int:
    return sending.send_due(rounds=sending.ROUNDS_PER_SWEEP)


def prune_bodies() -> int:
    from .services import prune_rendered_bodies

    return prune_rendered_bodies()


def poll_bounces() -> int:
    """Take what came back to the bounce mailbox; a mailbox that is down waits for next time."""
    import imaplib

    from . import mailbox

    try:
        return mailbox.poll()
    except (OSError, imaplib.IMAP4.error, mailbox.MailboxConfigError) as exc:
        log.warning("bounce mailbox not read: %s", exc)
        return 0


SWEEPS: list[Sweep] = [
    Sweep(name="mail.send", run=_send, idle_seconds=0.5),
    # Bodies age by the day: an hourly look is enough, and a busy one goes on batch by batch.
    Sweep(name="mail.retention", run=prune_bodies, idle_seconds=3600, woken=False),
    # Late bounces trickle in over hours; once a minute keeps blocks timely without busy polling.
    Sweep(name="mail.bounces", run=poll_bounces, idle_seconds=60, woken=False),
]
