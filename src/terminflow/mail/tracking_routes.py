"""Open and click tracking on the hot path (Starlette, not Django): ``/t/c/…`` and ``/t/o/…``.

``GET /t/c/{token}`` answers ``302`` to the link's original address, ``GET /t/o/{token}`` a
1x1 transparent GIF; both ``404`` for a token that is unsigned, tampered with, names no outbox
row (erased, say) or, for a click, an index outside that row's ``links``. Neither takes a
session or sets a cookie; both send ``Referrer-Policy: no-referrer`` (the tracking URL is no
business of the site the reader lands on) and ``Cache-Control: no-store``.

A request costs one indexed read (the outbox row by its public id, with its workspace's
switches) on the lookup thread, which batches the reads of concurrent requests, and then its
answer. Recording comes after the answer and never holds it up: the hit goes to the writer
thread, which upserts the one ``Engagement`` row per email and kind (group commit, one
transaction per batch). A recording that fails is logged and lost; the redirect has happened.

The bot rule (``tracking.is_bot``) decides whether a hit counts as a person's (``count``,
``first_at``, ``last_at``) or a machine's (``bot_count`` only). A person's click also counts as
an open when the email had none: many mail clients block images, and whoever clicked a link has
opened the email.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils.encoding import iri_to_uri
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from terminflow.kit import clock
from terminflow.kit.groupcommit import GroupCommit
from terminflow.kit.metrics import TRACKING_HITS

from . import tracking
from .models import Engagement, EngagementKind, Outbox

log = logging.getLogger("terminflow.mail.tracking")

# Hits waiting for the writer beyond this are dropped (and logged): a writer stalled behind a
# long write lock must not let memory grow without bound; the redirects go on regardless.
MAX_PENDING = 10_000
_USER_AGENT_MAX = 512

# The smallest transparent GIF: 1x1, one transparent colour.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@dataclass(frozen=True, slots=True)
class Target:
    """What a tracking request needs of its outbox row."""

    outbox_id: int
    sent_at: datetime | None
    links: list[str]
    track_opens: bool
    track_clicks: bool


@dataclass(frozen=True, slots=True)
class Hit:
    """One open or click to record."""

    kind: str
    outbox_id: int
    at: datetime
    human: bool
    # A person's click on an email whose workspace tracks opens: it was opened, too.
    implies_open: bool = False


def _close_connection() -> None:
    connection.close()


def _forget_broken_connection() -> None:
    # A broken connection (database restarted) would fail every later batch too.
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _lookup(public_ids: Sequence[uuid.UUID]) -> list[Target | None]:
    """Runs on the lookup thread: the rows of concurrent requests in one indexed query."""
    try:
        rows = Outbox.objects.filter(public_id__in=set(public_ids)).values_list(
            "public_id",
            "id",
            "sent_at",
            "links",
            "workspace__track_opens",
            "workspace__track_clicks",
        )
        found = {row[0]: Target(*row[1:]) for row in rows}
    except Exception:
        _forget_broken_connection()
        raise
    return [found.get(public_id) for public_id in public_ids]


class _Upserts:
    """The writer's two statements, built once for the connection's database.

    ``INSERT … SELECT`` from the outbox row: the engagement takes the row's workspace, template
    and contact in the same statement, and a row erased since the lookup inserts nothing.
    """

    def __init__(self) -> None:
        def q(name: str | None) -> str:
            return connection.ops.quote_name(str(name))

        meta = Engagement._meta
        table = q(meta.db_table)
        col = {f.name: q(f.column) for f in meta.concrete_fields}
        outbox = Outbox._meta
        ocol = {f.name: q(f.column) for f in outbox.concrete_fields}
        head = (
            f"INSERT INTO {table} ({col['workspace']}, {col['outbox']}, {col['template']}, "
            f"{col['contact']}, {col['kind']}, {col['first_at']}, {col['last_at']}, "
            f"{col['count']}, {col['bot_count']}) "
            f"SELECT o.{ocol['workspace']}, o.{ocol['id']}, o.{ocol['template']}, "
            f"o.{ocol['contact']}, %s, %s, %s, %s, %s FROM {q(outbox.db_table)} o "
            f"WHERE o.{ocol['id']} = %s "
            f"ON CONFLICT ({col['outbox']}, {col['kind']}) DO UPDATE SET "
        )
        first, last = col["first_at"], col["last_at"]
        count, bots = col["count"], col["bot_count"]
        # A hit: first_at set once, last_at moved on, one more in count or bot_count.
        self.hit = head + (
            f"{first} = COALESCE({table}.{first}, excluded.{first}), "
            f"{last} = COALESCE(excluded.{last}, {table}.{last}), "
            f"{count} = {table}.{count} + excluded.{count}, "
            f"{bots} = {table}.{bots} + excluded.{bots}"
        )
        # The open a person's click implies: only when no person's open is on record.
        self.implied_open = head + (
            f"{first} = excluded.{first}, {last} = excluded.{last}, {count} = 1 "
            f"WHERE {table}.{count} = 0"
        )
        self.first_at = meta.get_field("first_at")


class Tracker:
    """The lookup and writer threads behind the tracking endpoints, and the settings they use."""

    def __init__(self) -> None:
        self._lookups: GroupCommit[uuid.UUID, Target | None] = GroupCommit(
            _lookup, name="tracking-lookups", on_thread_exit=_close_connection
        )
        self._writer: GroupCommit[Hit, None] = GroupCommit(
            self._commit, name="tracking-writer", on_thread_exit=_close_connection
        )
        self._sql: _Upserts | None = None
        self.pending = 0
        # Read once: a settings lookup per request is measurable on this path.
        self.bot_seconds = tracking.bot_seconds()

    async def start(self) -> None:
        self._lookups.start()
        self._writer.start()

    async def stop(self) -> None:
        # Joining blocks; off the loop, so hits already submitted are still written.
        await asyncio.to_thread(self._lookups.stop)
        await asyncio.to_thread(self._writer.stop)

    async def lookup(self, public_id: uuid.UUID) -> Target | None:
        return await self._lookups.submit(public_id)

    def record(self, kind: str, target: Target, *, method: str, user_agent: str) -> None:
        """Hand a hit to the writer without waiting for it; never raises."""
        try:
            if not (target.track_clicks if kind == EngagementKind.CLICK else target.track_opens):
                return  # the workspace switched this kind of tracking off since sending
            if self.pending >= MAX_PENDING:
                log.warning("tracking: %d hits waiting to be written; one dropped", self.pending)
                return
            now = clock.now()
            human = not tracking.is_bot(
                method=method,
                user_agent=user_agent,
                sent_at=target.sent_at,
                now=now,
                window_seconds=self.bot_seconds,
            )
            implies_open = human and kind == EngagementKind.CLICK and target.track_opens
            hit = Hit(kind, target.outbox_id, now, human, implies_open)
            future = self._writer.submit(hit)
            self.pending += 1
            future.add_done_callback(self._written)
        except Exception:
            log.exception("tracking: a hit could not be recorded")

    def _written(self, future: asyncio.Future[None]) -> None:
        self.pending -= 1
        if not future.cancelled():
            future.exception()  # retrieved here; the writer has logged it already

    # -- the writer thread -----------------------------------------------------------------

    def _commit(self, hits: Sequence[Hit]) -> list[None]:
        if self._sql is None:
            self._sql = _Upserts()
        sql = self._sql
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for hit in hits:
                    at = sql.first_at.get_db_prep_value(hit.at, connection)
                    if hit.human:
                        cursor.execute(sql.hit, [hit.kind, at, at, 1, 0, hit.outbox_id])
                        if hit.implies_open:
                            cursor.execute(
                                sql.implied_open,
                                [EngagementKind.OPEN.value, at, at, 1, 0, hit.outbox_id],
                            )
                    else:
                        cursor.execute(sql.hit, [hit.kind, None, None, 0, 1, hit.outbox_id])
        except Exception:
            _forget_broken_connection()
            raise
        _count(hits)
        return [None] * len(hits)


def _count(hits: Sequence[Hit]) -> None:
    counts: dict[tuple[str, str], int] = {}
    for hit in hits:
        key = (hit.kind, "human" if hit.human else "bot")
        counts[key] = counts.get(key, 0) + 1
    for (kind, who), n in counts.items():
        TRACKING_HITS.labels(kind, who).inc(n)


# -- the endpoints -----------------------------------------------------------------------------

_NO_STORE = [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]
_NOT_FOUND = b"Not Found"
_UNAVAILABLE = b"Service Unavailable"


async def _answer(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _plain(send: Send, status: int, body: bytes, head: bool) -> None:
    await _answer(
        send, status, [(b"content-type", b"text/plain; charset=utf-8"), *_NO_STORE], body, head
    )


def _user_agent(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"user-agent":
            return str(value[:_USER_AGENT_MAX].decode("latin-1"))
    return ""


class _Endpoint:
    kind: str

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    async def _target(self, send: Send, public_id: uuid.UUID | None, head: bool) -> Target | None:
        """The token's outbox row, or None once a 404 or 503 has been answered."""
        if public_id is None:
            await _plain(send, 404, _NOT_FOUND, head)
            return None
        try:
            target = await self.tracker.lookup(public_id)
        except Exception:
            log.exception("tracking: an outbox row could not be looked up")
            await _plain(send, 503, _UNAVAILABLE, head)
            return None
        if target is None:
            await _plain(send, 404, _NOT_FOUND, head)
        return target


class ClickEndpoint(_Endpoint):
    """``GET /t/c/{token}``: 302 to ``links[index]`` of the token's own outbox row."""

    kind = EngagementKind.CLICK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        read = tracking.read_click_token(scope["path_params"]["token"])
        public_id, index = read if read is not None else (None, 0)
        target = await self._target(send, public_id, head)
        if target is None:
            return
        if not 0 <= index < len(target.links):
            await _plain(send, 404, _NOT_FOUND, head)
            return
        # iri_to_uri percent-encodes everything a header cannot carry (non-ASCII, controls).
        location = iri_to_uri(target.links[index]).encode("ascii")
        await _answer(send, 302, [(b"location", location), *_NO_STORE], b"", head)
        self.tracker.record(
            self.kind, target, method=scope["method"], user_agent=_user_agent(scope)
        )


class OpenEndpoint(_Endpoint):
    """``GET /t/o/{token}``: the 1x1 transparent GIF, never cached."""

    kind = EngagementKind.OPEN
    headers = [(b"content-type", b"image/gif"), *_NO_STORE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        public_id = tracking.read_open_token(scope["path_params"]["token"])
        target = await self._target(send, public_id, head)
        if target is None:
            return
        await _answer(send, 200, self.headers, PIXEL, head)
        self.tracker.record(
            self.kind, target, method=scope["method"], user_agent=_user_agent(scope)
        )


def tracking_routes(tracker: Tracker) -> list[BaseRoute]:
    return [
        Route(
            tracking.CLICK_PATH + "{token}",
            ClickEndpoint(tracker),
            methods=["GET", "HEAD"],
            name="tracking-click",
        ),
        Route(
            tracking.OPEN_PATH + "{token}",
            OpenEndpoint(tracker),
            methods=["GET", "HEAD"],
            name="tracking-open",
        ),
    ]
