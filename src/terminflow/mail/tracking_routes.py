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
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils.encoding import iri_to_uri
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from terminflow.kit import clock
from terminflow.kit.groupcommit import GroupCommit
from terminflow.kit.metrics import TRACKING_HITS
from terminflow.workspaces.models import Workspace

from . import tracking
from .models import Engagement, EngagementKind, Outbox

log = logging.getLogger("terminflow.mail.tracking")

# Hits waiting for the writer beyond this are dropped (and logged): a writer stalled behind a
# long write lock must not let memory grow without bound; the redirects go on regardless.
MAX_PENDING = 10_000
_USER_AGENT_MAX = 512
WRITER_LINGER_SECONDS = 0.05

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


class _Statements:
    """The lookup's query and the writer's two upserts, built once from the models for the
    connection's driver, which the threads call directly: on this path Django's ORM and cursor
    wrapper cost more than the query (and their Python holds the GIL the event loop needs).

    The upserts are ``INSERT … SELECT`` from the outbox row: the engagement takes the row's
    workspace, template and contact in the same statement, and a row erased since the lookup
    inserts nothing.
    """

    def __init__(self) -> None:
        def q(name: str | None) -> str:
            return connection.ops.quote_name(str(name))

        self.sqlite = connection.vendor == "sqlite"
        mark = "?" if self.sqlite else "%s"
        outbox, workspace, engagement = Outbox._meta, Workspace._meta, Engagement._meta
        ocol = {f.name: q(f.column) for f in outbox.concrete_fields}
        wcol = {f.name: q(f.column) for f in workspace.concrete_fields}
        self.lookup = (
            f"SELECT o.{ocol['public_id']}, o.{ocol['id']}, o.{ocol['sent_at']}, "
            f"o.{ocol['links']}, w.{wcol['track_opens']}, w.{wcol['track_clicks']} "
            f"FROM {q(outbox.db_table)} o JOIN {q(workspace.db_table)} w "
            f"ON w.{wcol['id']} = o.{ocol['workspace']} WHERE o.{ocol['public_id']} IN ({{}})"
        )
        self.mark = mark

        table = q(engagement.db_table)
        col = {f.name: q(f.column) for f in engagement.concrete_fields}
        head = (
            f"INSERT INTO {table} ({col['workspace']}, {col['outbox']}, {col['template']}, "
            f"{col['contact']}, {col['kind']}, {col['first_at']}, {col['last_at']}, "
            f"{col['count']}, {col['bot_count']}) "
            f"SELECT o.{ocol['workspace']}, o.{ocol['id']}, o.{ocol['template']}, "
            f"o.{ocol['contact']}, {', '.join([mark] * 5)} FROM {q(outbox.db_table)} o "
            f"WHERE o.{ocol['id']} = {mark} "
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
        self.first_at = engagement.get_field("first_at")

    def target(self, row: tuple[Any, ...]) -> Target:
        _, outbox_id, sent_at, links, opens, clicks = row
        # SQLite holds naive UTC (as text, or parsed by the converters Django registers).
        if isinstance(sent_at, str):
            sent_at = datetime.fromisoformat(sent_at)
        if sent_at is not None and sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        if isinstance(links, str | bytes):
            links = json.loads(links)
        return Target(outbox_id, sent_at, links, bool(opens), bool(clicks))


class _Reader:
    """The lookup thread's work: the rows of concurrent requests in one indexed query."""

    def __init__(self) -> None:
        self._sql: _Statements | None = None

    def __call__(self, public_ids: Sequence[uuid.UUID]) -> list[Target | None]:
        if self._sql is None:
            self._sql = _Statements()
        sql = self._sql
        keys = list(dict.fromkeys(public_id.hex for public_id in public_ids))
        params: list[Any] = keys if sql.sqlite else [uuid.UUID(hex=key) for key in keys]
        try:
            connection.ensure_connection()
            cursor = connection.connection.cursor()
            try:
                cursor.execute(sql.lookup.format(", ".join([sql.mark] * len(keys))), params)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        except Exception:
            _forget_broken_connection()
            raise
        found = {
            (row[0] if isinstance(row[0], str) else row[0].hex): sql.target(row) for row in rows
        }
        return [found.get(public_id.hex) for public_id in public_ids]


class Tracker:
    """The lookup and writer threads behind the tracking endpoints, and the settings they use."""

    def __init__(self) -> None:
        self._lookups: GroupCommit[uuid.UUID, Target | None] = GroupCommit(
            _Reader(), name="tracking-lookups", on_thread_exit=_close_connection
        )
        # Nobody waits for a hit's commit, so the writer gathers hits for a moment: at
        # hundreds of hits per second one transaction (and one fsync) then holds dozens.
        self._writer: GroupCommit[Hit, None] = GroupCommit(
            self._commit,
            name="tracking-writer",
            on_thread_exit=_close_connection,
            linger_seconds=WRITER_LINGER_SECONDS,
        )
        self._sql: _Statements | None = None
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
            if self._writer.backlog >= MAX_PENDING:
                log.warning("tracking: %d hits waiting to be written; one dropped", MAX_PENDING)
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
            # Posted, not awaited: the answer is out already, and the outcome (logged by the
            # writer when it fails) costs the event loop no wake-up.
            self._writer.post(hit)
        except Exception:
            log.exception("tracking: a hit could not be recorded")

    # -- the writer thread -----------------------------------------------------------------

    def _commit(self, hits: Sequence[Hit]) -> list[None]:
        if self._sql is None:
            self._sql = _Statements()
        sql = self._sql
        counted: list[tuple[Any, ...]] = []
        implied: list[tuple[Any, ...]] = []
        for hit in hits:
            at = sql.first_at.get_db_prep_value(hit.at, connection)
            if hit.human:
                counted.append((hit.kind, at, at, 1, 0, hit.outbox_id))
                if hit.implies_open:
                    implied.append((EngagementKind.OPEN.value, at, at, 1, 0, hit.outbox_id))
            else:
                counted.append((hit.kind, None, None, 0, 1, hit.outbox_id))
        try:
            with transaction.atomic():
                connection.ensure_connection()
                cursor = connection.connection.cursor()
                try:
                    cursor.executemany(sql.hit, counted)
                    # After the batch's own opens: a person's open in the same batch stands.
                    if implied:
                        cursor.executemany(sql.implied_open, implied)
                finally:
                    cursor.close()
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

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


class TrackingShortcut:
    """ASGI middleware that hands ``GET``/``HEAD /t/c/…`` and ``/t/o/…`` straight to the endpoints.

    The same requests the routes above match, minus Starlette's per-request exception handling
    and routing (as ``etermin.ingest.WebPushShortcut`` does for web pushes); the endpoints
    answer every case themselves. Anything else goes on to the app.
    """

    def __init__(self, app: ASGIApp, tracker: Tracker) -> None:
        self.app = app
        self.click = ClickEndpoint(tracker)
        self.open = OpenEndpoint(tracker)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path.startswith(tracking.CLICK_PATH):
                endpoint: _Endpoint = self.click
                token = path[len(tracking.CLICK_PATH) :]
            elif path.startswith(tracking.OPEN_PATH):
                endpoint = self.open
                token = path[len(tracking.OPEN_PATH) :]
            else:
                await self.app(scope, receive, send)
                return
            if token and "/" not in token:
                scope["path_params"] = {"token": token}
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
