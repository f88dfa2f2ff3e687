"""Web push ingest on the hot path (Starlette, not Django): token → store raw → answer → process.

``POST /hooks/etermin/{token}`` first checks the token and the declared charset (nothing of the
body is read for a request that fails either), then reads the body (at most
``WEB_PUSH_MAX_BYTES``, within ``WEB_PUSH_BODY_TIMEOUT_SECONDS``) and hands it to the one writer,
which reads its command and appointment UID (``check_push``) and commits queued pushes in
batches (group commit: one transaction and one fsync for many pushes). On SQLite the writer is a
child process, elsewhere a thread (decision 0009). The answer is sent only after the push's
batch is committed, so a ``200 ok`` is a promise that the push survives a crash. Processing
happens later, in the worker's inbox sweep.

Answers: ``200 ok`` stored (or a repeat of a stored push); ``400`` with the reason when the body
cannot be read (the row is stored anyway, as ``failed``); ``404`` unknown token; ``408`` the body
did not arrive in time; ``413`` body too large; ``415`` a charset eTermin does not send (nothing
stored); ``503`` when the database refused the write (eTermin may send it again).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from terminflow.kit import clock
from terminflow.kit.childcommit import ChildGroupCommit
from terminflow.kit.crypto import token_hash
from terminflow.kit.deadlines import ReadDeadlines
from terminflow.kit.groupcommit import GroupCommit
from terminflow.kit.logs import accept_request_id, new_request_id
from terminflow.kit.metrics import WEB_PUSHES
from terminflow.kit.sqlite.base import checkpoints_elsewhere

from .models import EterminAccount, WebPush, WebPushStatus
from .pushes import UnreadablePush, UnsupportedCharset, check_push, push_codec

log = logging.getLogger("terminflow.etermin.ingest")

# Enough to share one fsync among a burst; small enough that one batch holds the write lock
# only for a few milliseconds.
MAX_BATCH = 256
# This many requests waiting for their commit means ingest is saturated. (At 1,000 pushes/s
# one to three wait; at 64 connections flat out, most of the 64.)
BUSY_WAITING = 16
_CONTENT_TYPE_MAX = 200  # WebPush.content_type max_length
WEB_PUSH_PATH = "/hooks/etermin/"


class Outcome(enum.Enum):
    STORED = "stored"
    REPEAT = "repeat"  # byte-identical to the newest stored push of the appointment
    UNREADABLE = "unreadable"  # stored as failed, with the reason; answered 400
    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 (a name, not a secret)


class IncomingPush(NamedTuple):
    """One request as the writer needs it. Reading the body (``check_push``) is the writer's
    job, so the event loop only moves bytes (and a tuple pickles fast to the writer process)."""

    token_hash: str
    body: bytes
    content_type: str
    request_id: str


def incoming_push(token: str, body: bytes, content_type: str, request_id: str = "") -> IncomingPush:
    """What the writer needs of a request; never raises for a bad body."""
    return _incoming(token_hash(token), body, content_type, request_id)


def _incoming(
    hashed_token: str, body: bytes, content_type: str, request_id: str = ""
) -> IncomingPush:
    return IncomingPush(
        hashed_token,
        body,
        content_type[:_CONTENT_TYPE_MAX].replace("\x00", ""),
        request_id or new_request_id(),
    )


@dataclass(frozen=True, slots=True)
class _Read:
    """What the inbox row keeps of a push's body; ``reason`` is set when it is unreadable."""

    body_sha256: str
    command: str | None
    uid: str | None
    reason: str


def unreadable_reason(body: bytes, content_type: str) -> str:
    """Why the body cannot be read, or "" when it can (the text the row and the 400 carry)."""
    try:
        check_push(body, content_type)
    except UnreadablePush as exc:
        return _reason(exc)
    return ""


def _reason(exc: UnreadablePush) -> str:
    return str(exc).replace("\x00", "") or "The push cannot be read."


def _read(push: IncomingPush) -> _Read:
    sha = hashlib.sha256(push.body).hexdigest()
    try:
        header = check_push(push.body, push.content_type)
    except UnreadablePush as exc:
        return _Read(sha, None, None, _reason(exc))
    return _Read(sha, header.command, header.uid, "")


class _Statements:
    """The writer's SQL, built once from the models (a new inbox column with a default needs no
    change here) for the connection's driver, which the writer calls directly: Django's cursor
    wrapper would rewrite the long multi-row INSERT on every batch."""

    given = (
        "account",
        "workspace",
        "received_at",
        "content_type",
        "body",
        "body_sha256",
        "command",
        "appointment_uid",
        "status",
        "reason",
        "dedupe_key",
        "request_id",
    )

    def __init__(self) -> None:
        def q(column: str | None) -> str:
            return connection.ops.quote_name(str(column))

        self.mark = "?" if connection.vendor == "sqlite" else "%s"
        inbox = WebPush._meta
        fields = [f for f in inbox.concrete_fields if not f.primary_key]
        by_name = {f.name: f for f in fields}
        defaults = [f for f in fields if f.name not in self.given]
        columns = [by_name[name].column for name in self.given] + [f.column for f in defaults]
        self.insert_head = "INSERT INTO {} ({}) VALUES ".format(
            q(inbox.db_table), ", ".join(q(c) for c in columns)
        )
        # A copy of the same push stored meanwhile by another web process (same dedupe key)
        # is skipped, not an error; the row count tells whether that happened (rarely), and
        # only then does the writer look at which rows went in (RETURNING on every batch cost
        # more than its share of the hot path).
        self.insert_tail = " ON CONFLICT DO NOTHING"
        # On SQLite every batch decides under BEGIN IMMEDIATE, one writer at a time, so the
        # newest row it reads is the newest there is and no key is needed.
        self.keyed = connection.vendor != "sqlite"
        self.key_index = columns.index(by_name["dedupe_key"].column)
        self.stored_keys = "SELECT {}, {}, {}, {}, {} FROM {} WHERE {} IN ({{}})".format(
            *(
                q(by_name[name].column)
                for name in ("account", "dedupe_key", "appointment_uid", "body_sha256")
            ),
            q(by_name["request_id"].column),
            q(inbox.db_table),
            q(by_name["dedupe_key"].column),
        )
        self.insert_row = "({})".format(", ".join([self.mark] * len(columns)))
        # One statement for many rows: one round trip on PostgreSQL, and on SQLite one step
        # instead of one per row (each step hands the GIL back and forth with the event loop).
        self.rows_per_insert = max(1, min(500, _max_query_params() // len(columns)))
        self.default_values = tuple(
            f.get_db_prep_save(f.get_default(), connection) for f in defaults
        )
        self.received_at = by_name["received_at"]

        account = EterminAccount._meta
        token_col = q(account.get_field("web_push_token_hash").column)
        self.accounts = "SELECT {}, {}, {} FROM {} WHERE {} IN ({{}})".format(
            token_col,
            q(account.pk.column),
            q(account.get_field("workspace").column),
            q(account.db_table),
            token_col,
        )
        if connection.vendor == "postgresql":
            # Holds off a concurrent delete of the account until this batch is committed; on
            # SQLite the batch's BEGIN IMMEDIATE already excludes every other writer.
            self.accounts += " FOR KEY SHARE"

        table, pk = q(inbox.db_table), q(inbox.pk.column)
        account_col = q(inbox.get_field("account").column)
        uid_col = q(inbox.get_field("appointment_uid").column)
        sha_col = q(inbox.get_field("body_sha256").column)
        # The newest row per appointment through the (account, appointment_uid, id) index.
        self.newest = (
            f"SELECT {account_col}, {uid_col}, {sha_col}, {pk} FROM {table} WHERE {pk} IN ("
            f"SELECT MAX({pk}) FROM {table} WHERE {account_col} IN ({{}})"
            f" AND {uid_col} IN ({{}}) GROUP BY {account_col}, {uid_col})"
        )
        self._inserts: dict[int, str] = {}

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def insert(self, rows: int) -> str:
        sql = self._inserts.get(rows)
        if sql is None:
            sql = self._inserts[rows] = (
                self.insert_head + ", ".join([self.insert_row] * rows) + self.insert_tail
            )
        return sql


class TokenGate:
    """Which web push tokens are valid, asked before a request's body is read.

    A token found valid is remembered, so a push on it costs one set lookup here. An unknown
    token is looked up in the database, the lookups of concurrent requests in one query on the
    gate's own thread, and is not remembered: a token created a moment ago in another process
    must work at once. The gate only spares work; the writer checks every token again in its
    batch's transaction and stays the authority, so a token rotated or deleted in another
    process is refused there (and then forgotten here).
    """

    # Only tokens that were valid get in, so this is reached only by churning thousands of
    # accounts; then starting over costs one lookup per token.
    MAX_KNOWN = 10_000

    def __init__(self) -> None:
        self.known: set[str] = set()
        self._lookups: GroupCommit[str, bool] = GroupCommit(
            self._lookup, name="ingest-tokens", on_thread_exit=_close_connection
        )

    def start(self) -> None:
        self._lookups.start()

    def stop(self) -> None:
        self._lookups.stop()

    async def is_valid(self, hashed_token: str) -> bool:
        if hashed_token in self.known:
            return True
        valid = await self._lookups.submit(hashed_token)
        if valid:
            if len(self.known) >= self.MAX_KNOWN:
                self.known.clear()
            self.known.add(hashed_token)
        return valid

    def forget(self, hashed_token: str) -> None:
        self.known.discard(hashed_token)

    @staticmethod
    def _lookup(hashes: Sequence[str]) -> list[bool]:
        try:
            found = set(
                EterminAccount.objects.filter(web_push_token_hash__in=set(hashes)).values_list(
                    "web_push_token_hash", flat=True
                )
            )
        except Exception:
            if connection.connection is not None and not connection.is_usable():
                connection.close()
            raise
        return [hashed in found for hashed in hashes]


def _close_connection() -> None:
    connection.close()


class IngestWriter:
    """The single group-commit writer of the inbox.

    The deciding token lookup happens here, inside each batch's transaction (one query per
    batch): the ``TokenGate`` on the request path remembers tokens and so can be stale (a token
    rotated or an account deleted in another process), while a lookup in the same transaction
    as the insert can never store a push for a token that is no longer valid. It costs one
    indexed query per batch, not per push. A hash lookup keeps the time independent of how
    much of a guessed token is right.
    """

    def __init__(self, *, max_batch: int = MAX_BATCH, in_child: bool = False) -> None:
        # ``in_child``: the batches are committed in a child process (decision 0009), so the
        # database work does not contend with the event loop for the GIL.
        self._group: GroupCommit[IncomingPush, Outcome] | ChildGroupCommit[IncomingPush, Outcome]
        if in_child:
            self._group = ChildGroupCommit(
                store_batch,
                max_batch=max_batch,
                name="ingest-writer",
                setup=prepare_writer_process,
            )
        else:
            self._group = GroupCommit(
                store_batch,
                max_batch=max_batch,
                name="ingest-writer",
                on_thread_exit=_close_connection,
            )
        self.gate = TokenGate()
        self._waiting = 0  # requests on the loop awaiting their commit

    @property
    def on_commit(self) -> Callable[[], None] | None:
        """Called after each batch that committed (e.g. wake the worker): on the writer thread,
        or on the event loop when the writer is a child process."""
        return self._group.on_commit

    @on_commit.setter
    def on_commit(self, callback: Callable[[], None] | None) -> None:
        self._group.on_commit = callback

    @property
    def busy(self) -> bool:
        """Many requests are waiting for their commit: pushes arrive faster than one by one."""
        return self._waiting >= BUSY_WAITING

    async def start(self) -> None:
        self.gate.start()
        if isinstance(self._group, ChildGroupCommit):
            await self._group.start()
        else:
            self._group.start()

    async def stop(self) -> None:
        # Joining the threads blocks; off the loop, so the last batch's callers still get answers.
        await asyncio.to_thread(self.gate.stop)
        if isinstance(self._group, ChildGroupCommit):
            await self._group.stop()
        else:
            await asyncio.to_thread(self._group.stop)

    async def submit(self, push: IncomingPush) -> Outcome:
        """Store ``push``; returns once its batch is committed."""
        self._waiting += 1
        try:
            return await self._group.submit(push)
        finally:
            self._waiting -= 1


def prepare_writer_process() -> None:
    """In the writer process: its commits leave WAL checkpoints to a thread of their own, so
    no batch's answers wait for one (on SQLite)."""
    if connection.vendor == "sqlite":
        checkpoints_elsewhere()


def store_batch(pushes: Sequence[IncomingPush]) -> list[Outcome]:
    """Store a batch of pushes in one transaction; one outcome per push, in order.

    The writer's job, on its thread or in its child process. A raised error fails the batch
    (the writer then retries its pushes one at a time).
    """
    # Read before the transaction: parsing holds no write lock.
    reads = [_read(push) for push in pushes]
    try:
        with transaction.atomic():
            outcomes = _write(pushes, reads)
    except Exception:
        # A broken connection (database restarted) would fail every later batch too.
        if connection.connection is not None and not connection.is_usable():
            connection.close()
        raise
    _count(outcomes)
    return outcomes


@functools.cache
def _statements() -> _Statements:
    return _Statements()


def _write(pushes: Sequence[IncomingPush], reads: list[_Read]) -> list[Outcome]:
    sql = _statements()
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        accounts = _accounts_by_hash(cursor, sql, {p.token_hash for p in pushes})
        keys = {
            (accounts[p.token_hash][0], r.uid)
            for p, r in zip(pushes, reads, strict=True)
            if p.token_hash in accounts and r.uid is not None
        }
        newest = _newest_sha_by_appointment(cursor, sql, keys)
        received_at = sql.received_at.get_db_prep_value(clock.now(), connection)
        # Dedupe: a push byte-identical to the newest stored push of the same appointment,
        # or to one already in this batch, is eTermin sending it again, not a new event.
        # Only the newest counts across batches: A → B → A (rescheduled there and back)
        # are three real changes and must all be kept. Within a batch the order is that of
        # concurrent requests, i.e. arbitrary, and a real change-and-revert takes a person
        # far longer than a batch lasts, so any identical body there is a repeat.
        # Two web processes can both find the same newest row and both decide to store:
        # the dedupe key (unique) lets only the first in.
        seen: dict[tuple[int, str], set[str]] = {}
        rows: list[tuple[Any, ...]] = []
        outcomes: list[Outcome] = []
        # (outcome index, account, push, read) of the rows that carry a dedupe key
        keyed: list[tuple[int, int, IncomingPush, _Read] | None] = []
        for push, read in zip(pushes, reads, strict=True):
            account = accounts.get(push.token_hash)
            if account is None:
                outcomes.append(Outcome.UNKNOWN_TOKEN)
                continue
            dedupe_key = None
            keyed.append(None)
            if read.uid is not None:
                key = (account[0], read.uid)
                shas = seen.setdefault(key, set())
                sha_before, id_before = newest.get(key, ("", 0))
                if read.body_sha256 in shas or sha_before == read.body_sha256:
                    outcomes.append(Outcome.REPEAT)
                    continue
                shas.add(read.body_sha256)
                if sql.keyed:
                    dedupe_key = _dedupe_key(read.uid, read.body_sha256, id_before)
                    keyed[-1] = (len(outcomes), account[0], push, read)
            rows.append(
                (
                    account[0],
                    account[1],
                    received_at,
                    push.content_type,
                    push.body,
                    read.body_sha256,
                    read.command,
                    read.uid,
                    WebPushStatus.FAILED.value if read.reason else WebPushStatus.PENDING.value,
                    read.reason,
                    dedupe_key,
                    push.request_id,
                    *sql.default_values,
                )
            )
            outcomes.append(Outcome.UNREADABLE if read.reason else Outcome.STORED)
        step = sql.rows_per_insert
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            cursor.execute(sql.insert(len(chunk)), [value for row in chunk for value in row])
            if cursor.rowcount < len(chunk):
                _settle_conflicts(cursor, sql, chunk, keyed[start : start + step], outcomes)
    finally:
        cursor.close()
    return outcomes


def _count(outcomes: list[Outcome]) -> None:
    """Count the batch's answers once per outcome, off the request path."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.value] = counts.get(outcome.value, 0) + 1
    for name, count in counts.items():
        WEB_PUSHES.labels(name).inc(count)


def _max_query_params() -> int:
    if connection.vendor == "sqlite":
        # Django assumes SQLite's old default of 999; the library in use usually allows more.
        import sqlite3

        connection.ensure_connection()
        return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return connection.features.max_query_params or 65535


def _accounts_by_hash(
    cursor: Any, sql: _Statements, hashes: set[str]
) -> dict[str, tuple[int, int]]:
    """token hash → (account id, workspace id) for the tokens that are valid now."""
    if not hashes:
        return {}
    cursor.execute(sql.accounts.format(sql.marks(len(hashes))), list(hashes))
    return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def _dedupe_key(uid: str, body_sha256: str, newest_id: int) -> int:
    material = f"{uid}\x00{body_sha256}\x00{newest_id}".encode()
    return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big", signed=True)


def _settle_conflicts(
    cursor: Any,
    sql: _Statements,
    chunk: list[tuple[Any, ...]],
    keyed: list[tuple[int, int, IncomingPush, _Read] | None],
    outcomes: list[Outcome],
) -> None:
    """Some rows of ``chunk`` met a row with their dedupe key: say which, and why.

    Ours (same request id) went in. Another request's row with the same appointment and body
    is the same push stored by another web process: a repeat. Anything else is two different
    pushes whose 64-bit keys collide, which must not cost a push: it is stored without a key.
    """
    keys = [row[sql.key_index] for row in chunk if row[sql.key_index] is not None]
    cursor.execute(sql.stored_keys.format(sql.marks(len(keys))), keys)
    stored = {(row[0], row[1]): row[2:] for row in cursor.fetchall()}
    for row, entry in zip(chunk, keyed, strict=True):
        if entry is None:
            continue
        index, account_id, push, read = entry
        uid, sha, request_id = stored[(account_id, row[sql.key_index])]
        if request_id == push.request_id:
            continue
        if (uid, sha) == (read.uid, read.body_sha256):
            outcomes[index] = Outcome.REPEAT
            continue
        unkeyed = list(row)
        unkeyed[sql.key_index] = None
        cursor.execute(sql.insert(1), unkeyed)


def _newest_sha_by_appointment(
    cursor: Any, sql: _Statements, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], tuple[str, int]]:
    """(account id, appointment uid) → (body_sha256, id) of its newest inbox row."""
    if not keys:
        return {}
    account_ids = sorted({account_id for account_id, _ in keys})
    uids = sorted({uid for _, uid in keys})
    cursor.execute(
        sql.newest.format(sql.marks(len(account_ids)), sql.marks(len(uids))),
        [*account_ids, *uids],
    )
    # The IN lists may pair an account with another account's uid; those rows are dropped.
    return {
        (row[0], row[1]): (row[2], row[3]) for row in cursor.fetchall() if (row[0], row[1]) in keys
    }


# -- the route ---------------------------------------------------------------------------------


def _plain(status: int, text: str) -> tuple[int, bytes]:
    return status, text.encode("utf-8")


_OK = _plain(200, "ok")
_NOT_FOUND = _plain(404, "Not Found")
_TOO_LARGE = _plain(413, "The body is larger than the web push limit.")
_TIMEOUT = _plain(408, "The body did not arrive in time.")
_UNAVAILABLE = _plain(503, "The push could not be stored right now; please send it again.")


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class WebPushEndpoint:
    """The ASGI endpoint behind ``POST /hooks/etermin/{token}``.

    A plain ASGI callable rather than a Starlette request handler: it streams the body against
    the cap without buffering more than the cap, and it is the hottest path in the product.
    Everything that can be decided from the request line and headers (token, size, charset) is
    decided before the first byte of the body is read, so junk costs no decoding.
    """

    def __init__(self, writer: IngestWriter) -> None:
        self.writer = writer
        self.gate = writer.gate
        # Read once: a settings lookup per request is measurable on this path.
        self.max_bytes = settings.WEB_PUSH_MAX_BYTES
        self.deadlines = ReadDeadlines(settings.WEB_PUSH_BODY_TIMEOUT_SECONDS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        max_bytes = self.max_bytes
        content_type = ""
        declared = None
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = value.decode("latin-1")
        request_id = accept_request_id(request_id)
        hashed = token_hash(scope["path_params"]["token"])
        if hashed not in self.gate.known:
            try:
                valid = await self.gate.is_valid(hashed)
            except Exception:
                log.exception(
                    "a web push token could not be looked up", extra={"request_id": request_id}
                )
                WEB_PUSHES.labels("error").inc()
                await _answer(send, *_UNAVAILABLE)
                return
            if not valid:
                WEB_PUSHES.labels("unknown_token").inc()
                await _answer(send, *_NOT_FOUND)
                return
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            # Refused on the header alone: the body is never read, let alone stored.
            WEB_PUSHES.labels("too_large").inc()
            await _answer(send, *_TOO_LARGE)
            return
        if ";" in content_type:
            try:
                push_codec(content_type)
            except UnsupportedCharset as exc:
                WEB_PUSHES.labels("unsupported_charset").inc()
                await _answer(send, *_plain(415, exc.reason))
                return
        reading = self.deadlines.enter()
        try:
            body = await _read_body(receive, max_bytes)
        except _TooLarge:
            WEB_PUSHES.labels("too_large").inc()
            await _answer(send, *_TOO_LARGE)
            return
        except _Disconnected:
            return  # the sender gave up before the body was complete; nothing to store
        except asyncio.CancelledError:
            if not self.deadlines.overdue(reading):
                raise
            WEB_PUSHES.labels("timeout").inc()
            await _answer(send, *_TIMEOUT, close=True)
            return
        finally:
            self.deadlines.leave(reading)
        push = _incoming(hashed, body, content_type, request_id)
        try:
            outcome = await self.writer.submit(push)
        except Exception:
            log.exception("a web push could not be stored", extra={"request_id": request_id})
            WEB_PUSHES.labels("error").inc()
            await _answer(send, *_UNAVAILABLE)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "web push %s",
                outcome.value,
                extra={"request_id": request_id, "outcome": outcome.value},
            )
        if outcome is Outcome.UNKNOWN_TOKEN:
            self.gate.forget(hashed)
            await _answer(send, *_NOT_FOUND)
        elif outcome is Outcome.UNREADABLE:
            # Read again for its reason: rare, and the writer's answer stays one word.
            await _answer(send, *_plain(400, unreadable_reason(push.body, push.content_type)))
        else:
            await _answer(send, *_OK)


async def _read_body(receive: Receive, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_PLAIN_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
_CLOSE_HEADERS = [*_PLAIN_HEADERS, (b"connection", b"close")]


async def _answer(send: Send, status: int, body: bytes, *, close: bool = False) -> None:
    # ``close``: the rest of the request never came, so the connection cannot carry another.
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *(_CLOSE_HEADERS if close else _PLAIN_HEADERS),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def ingest_routes(writer: IngestWriter) -> list[BaseRoute]:
    return [
        Route(
            WEB_PUSH_PATH + "{token}",
            WebPushEndpoint(writer),
            methods=["POST"],
            name="etermin-web-push",
        )
    ]


class WebPushShortcut:
    """ASGI middleware that hands ``POST /hooks/etermin/{token}`` straight to the endpoint.

    The same requests the route above matches, minus Starlette's per-request exception
    handling and routing, which cost a tenth of this path's CPU; the endpoint answers every
    case itself. Anything else goes on to the app.
    """

    def __init__(self, app: ASGIApp, writer: IngestWriter) -> None:
        self.app = app
        self.endpoint = WebPushEndpoint(writer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path.startswith(WEB_PUSH_PATH):
                token = path[len(WEB_PUSH_PATH) :]
                if token and "/" not in token:
                    scope["path_params"] = {"token": token}
                    await self.endpoint(scope, receive, send)
                    return
        await self.app(scope, receive, send)
