"""Sending a newsletter: the fixed list, the outbox, resuming, cancelling, and its statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from terminflow.contacts import consent
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import Contact
from terminflow.mail import sending as mail_sending
from terminflow.mail.models import Engagement, Outbox
from terminflow.newsletters import sending, services
from terminflow.newsletters.models import Recipient
from tests.fixtures.smtp import SmtpServer
from tests.newsletters.factories import make_newsletter, make_readers
from tests.segments.factories import make_contact

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def run_until_idle(now: datetime) -> None:
    for _ in range(100):
        if not sending.sweep(now=now) and not mail_sending.send_due(now=now):
            return
    raise AssertionError("the sweeps did not settle")


def recipients(newsletter: Any) -> dict[str, str]:
    return dict(
        Recipient.objects.filter(newsletter=newsletter).values_list("contact__email", "status")
    )


def test_only_confirmed_members_get_it_once_and_the_others_are_skipped_with_reasons(
    workspace, smtp: SmtpServer
):
    segment = make_readers(workspace, 12)
    newsletter = make_newsletter(workspace, segment)
    services.send(newsletter, now=T0)

    run_until_idle(T0)

    listed = recipients(newsletter)
    assert len(listed) == 12
    assert sorted(e for e, s in listed.items() if s == "skipped") == [
        "reader0003@example.ch",
        "reader0007@example.ch",
        "reader0011@example.ch",
    ]
    delivered = sorted(m.rcpt_tos[0] for m in smtp.messages)
    assert delivered == sorted(e for e, s in listed.items() if s == "queued")
    assert len(delivered) == 9
    message_ids = sorted(m.message["Message-ID"] for m in smtp.messages)
    assert message_ids == sorted(Outbox.objects.values_list("message_id", flat=True))
    newsletter.refresh_from_db()
    assert (newsletter.state, newsletter.finished_at) == ("sent", T0)
    stats = services.stats(newsletter)
    assert {k: v for k, v in stats.items() if k != "skipped"} == {
        "sent": 9,
        "delivered": 9,
        "bounced": 0,
        "opened": 0,
        "clicked": 0,
        "unsubscribed": 0,
    }
    assert stats["skipped"] == [
        {
            "reason": "not confirmed by double opt-in (single opt-in only)",
            "reason_code": "not_confirmed",
            "email_status": "confirmed_soi",
            "count": 1,
        },
        {
            "reason": "not confirmed by double opt-in (status unknown)",
            "reason_code": "not_confirmed",
            "email_status": "unknown",
            "count": 1,
        },
        {
            "reason": "not confirmed by double opt-in (unsubscribed)",
            "reason_code": "not_confirmed",
            "email_status": "unsubscribed",
            "count": 1,
        },
    ]
    assert set(Recipient.objects.filter(status="skipped").values_list("reason", flat=True)) == {
        "not confirmed by double opt-in (confirmed_soi)",
        "not confirmed by double opt-in (unknown)",
        "not confirmed by double opt-in (unsubscribed)",
    }


def test_the_list_is_fixed_when_sending_starts(workspace, smtp: SmtpServer):
    segment = make_readers(workspace, 4)
    newsletter = make_newsletter(workspace, segment)
    services.send(newsletter, now=T0)
    sending.sweep(now=T0)  # lists everyone and queues the first emails
    # when the segment changes meanwhile
    late = make_contact(workspace, "late@example.ch", email_status="confirmed_doi")
    contact_tags.add_tags(late, ["Newsletter"])
    left = Contact.objects.get(email="reader0000@example.ch")
    contact_tags.remove_tags(left, ["Newsletter"])

    run_until_idle(T0)

    assert "late@example.ch" not in recipients(newsletter)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "reader0000@example.ch",
        "reader0001@example.ch",
        "reader0002@example.ch",
    ]


def test_a_crash_between_render_and_write_resumes_without_duplicates(
    workspace, smtp: SmtpServer, monkeypatch
):
    segment = make_readers(workspace, 8)
    newsletter = make_newsletter(workspace, segment)
    services.send(newsletter, now=T0)
    sending.list_batch(newsletter)
    # when the worker dies while writing the third email of a batch
    real = sending.mail.queue_email
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(sending.mail, "queue_email", dying)
    with pytest.raises(KeyboardInterrupt):
        sending.queue_batch(newsletter, now=T0)
    # then the batch's transaction left nothing behind
    assert Outbox.objects.count() == 0
    assert set(recipients(newsletter).values()) == {"waiting", "skipped"}
    # and the next worker sends each email once
    monkeypatch.setattr(sending.mail, "queue_email", real)
    run_until_idle(T0)
    assert len(smtp.messages) == 6
    assert len({m.message["Message-ID"] for m in smtp.messages}) == 6


def test_two_workers_queueing_the_same_batch_queue_each_email_once(workspace, smtp):
    segment = make_readers(workspace, 4)
    newsletter = make_newsletter(workspace, segment)
    services.send(newsletter, now=T0)
    sending.list_batch(newsletter)
    # both render the same waiting recipients; the second one writes nothing
    first = sending.queue_batch(newsletter, now=T0)
    second = sending.queue_batch(newsletter, now=T0)
    assert (first, second) == (3, 0)
    assert Outbox.objects.count() == 3


def test_cancelling_mid_way_stops_the_rest(workspace, smtp: SmtpServer):
    segment = make_readers(workspace, 8)
    newsletter = make_newsletter(workspace, segment)
    services.send(newsletter, now=T0)
    sending.list_batch(newsletter)
    sending.queue_batch(newsletter, now=T0, batch=4)
    mail_sending.send_due(now=T0, limit=2)  # two of the four queued emails go out

    services.cancel(newsletter, now=T0)
    run_until_idle(T0)

    assert len(smtp.messages) == 2
    assert services.progress(newsletter).outbox == {
        "queued": 0,
        "sent": 2,
        "failed": 0,
        "cancelled": 2,
    }
    assert (
        sorted(recipients(newsletter).values())
        == ["cancelled"] * 2 + ["queued"] * 4 + ["skipped"] * 2
    )
    newsletter.refresh_from_db()
    assert (newsletter.state, newsletter.cancelled_at) == ("cancelled", T0)


def test_a_scheduled_newsletter_starts_at_its_time(workspace, smtp: SmtpServer):
    segment = make_readers(workspace, 2)
    newsletter = make_newsletter(workspace, segment, send_at=T0 + timedelta(hours=2))
    services.send(newsletter, now=T0)
    assert newsletter.state == "scheduled"

    run_until_idle(T0 + timedelta(hours=1))
    assert smtp.messages == [] and Recipient.objects.count() == 0

    run_until_idle(T0 + timedelta(hours=2))
    newsletter.refresh_from_db()
    assert (newsletter.state, len(smtp.messages)) == ("sent", 2)
    assert newsletter.started_at == T0 + timedelta(hours=2)


def test_the_outbox_holds_only_a_window_of_one_newsletter(workspace, smtp, monkeypatch):
    monkeypatch.setattr(sending, "OUTBOX_WINDOW", 3)
    segment = make_readers(workspace, 8)
    newsletter = make_newsletter(workspace, segment)
    services.send(newsletter, now=T0)
    sending.sweep(now=T0)
    sending.sweep(now=T0)
    assert Outbox.objects.filter(status="queued").count() == 3


def test_stats_count_bounces_opens_clicks_and_unsubscribes_of_its_emails(
    workspace, smtp: SmtpServer
):
    from terminflow.mail import services as mail

    segment = make_readers(workspace, 4)
    newsletter = make_newsletter(workspace, segment)
    services.send(newsletter, now=T0)
    run_until_idle(T0)
    rows = list(Outbox.objects.order_by("id"))
    for row, kinds in ((rows[0], ("open", "click")), (rows[1], ("open",))):
        for kind in kinds:
            Engagement.objects.create(
                workspace=workspace, outbox=row, template_id=row.template_id,
                contact_id=row.contact_id, kind=kind, count=1, first_at=T0,
            )  # fmt: skip
    mail.record_bounce(rows[2].contact, permanent=True, reply="550", message_id=rows[2].message_id)
    consent.set_email_status(
        rows[1].contact, "unsubscribed", source="unsubscribe (link)",
        details={"channel": "link", "message_id": rows[1].message_id},
    )  # fmt: skip
    # An unrelated bounce of another email does not count.
    mail.record_bounce(rows[0].contact, permanent=False, reply="450", message_id="<other@x>")

    stats = services.stats(newsletter)

    assert {k: v for k, v in stats.items() if k != "skipped"} == {
        "sent": 3,
        "delivered": 2,
        "bounced": 1,
        "opened": 2,
        "clicked": 1,
        "unsubscribed": 1,
    }
