"""Group commit in a child process: the batch's database work runs beside the event loop, not
under its GIL.

Same contract as ``groupcommit.GroupCommit`` (``await submit(item)`` resolves once the batch
holding the item is committed; a failing batch is retried one item at a time), but the writer
is a process started with ``spawn``. The two talk over a socket pair in length-prefixed pickle
frames: the loop sends every item submitted during one of its iterations as one frame, the
child commits what has arrived (up to ``max_batch``) and answers one frame per batch.

Why a process (decision 0009): on SQLite the writer's every statement releases and retakes the
GIL, and each retake waits for the busy event loop; measured in ``terminflow serve`` at 64
connections, a 31-push batch that commits in 1.3 ms alone took 6 ms there, and the GIL
hand-offs doubled the loop's own CPU per request.

If the child dies, the items it had not answered fail with ``WriterStopped`` (their callers
answer "send again"; one it committed before dying is then a repeat) and a new child is started
for the next items. If the parent dies, the child reads end-of-file and exits.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from terminflow.kit.groupcommit import WriterStopped, commit_batch

log = logging.getLogger("terminflow.groupcommit")

T = TypeVar("T")
R = TypeVar("R")

_HEADER = struct.Struct("!I")
_STOP = "stop"
_READY = "ready"
# A child that has not set itself up in this long has failed to start (and is ended).
READY_TIMEOUT_SECONDS = 120.0


class WriterFailed(RuntimeError):
    """The child could not commit the item; the message is the child's error."""


def _frame(payload: object) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _split(buffer: bytearray) -> list[Any]:
    """Take the complete frames off the front of ``buffer``."""
    messages = []
    offset = 0
    size = len(buffer)
    while size - offset >= _HEADER.size:
        (length,) = _HEADER.unpack_from(buffer, offset)
        end = offset + _HEADER.size + length
        if end > size:
            break
        # Only our own two processes write to this socket pair.
        messages.append(pickle.loads(bytes(buffer[offset + _HEADER.size : end])))  # noqa: S301
        offset = end
    del buffer[:offset]
    return messages


class _Link(asyncio.Protocol):
    """The parent's end of the socket pair, on the event loop."""

    def __init__(self, owner: ChildGroupCommit[Any, Any]) -> None:
        self.owner = owner
        self.buffer = bytearray()
        # asyncio's or uvloop's (not a subclass of asyncio's); set before the link is handed out
        self.transport: Any = None
        loop = asyncio.get_running_loop()
        # Set when the child has Django set up and is reading: until then a push would wait
        # for its start-up, so the server does not serve before it.
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for message in _split(self.buffer):
            if message == _READY:
                if not self.ready.done():
                    self.ready.set_result(None)
            else:
                self.owner._answered(message)

    def connection_lost(self, exc: Exception | None) -> None:
        started = self.ready.done()
        if not started:
            self.ready.set_exception(WriterStopped("the writer process ended while starting"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner._lost(self, started=started)


class ChildGroupCommit(Generic[T, R]):
    """Commit items in batches in a child process.

    ``commit`` must be a module-level function (the child imports it by name): it runs in the
    child after ``django.setup()``, must commit all items in one transaction and return one
    result per item. Items and results must pickle. ``on_commit`` (if set) runs on the event
    loop after every answered batch that committed at least one item.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 256,
        name: str = "childcommit",
        setup: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._commit = commit
        # Runs once in the child, after ``django.setup()``, before the first batch.
        self._setup = setup
        self.max_batch = max_batch
        self.name = name
        self.on_commit: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: Any = None
        self._link: _Link | None = None
        self._accepting = False
        self._next_id = 0
        # Sent and not yet answered, by item id.
        self._waiting: dict[int, asyncio.Future[R]] = {}
        # Submitted during this loop iteration (or while a child starts), not yet sent.
        self._outbox: list[tuple[int, T]] = []
        self._flush_scheduled = False
        self._starting: asyncio.Task[None] | None = None
        self._spawning = False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._accepting = True
        await self._spawn()

    async def _spawn(self) -> None:
        self._spawning = True
        try:
            await self._spawn_child()
        finally:
            self._spawning = False

    async def _spawn_child(self) -> None:
        loop = self._loop
        assert loop is not None
        ours, theirs = socket.socketpair()
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=_run_child,
            # By name: unpickling the function itself would import its module before Django
            # is set up in the child.
            args=(theirs, self.name, _name(self._commit), _name(self._setup), self.max_batch),
            name=f"terminflow-{self.name}",
            daemon=True,
        )
        # Starting a spawned process blocks for a moment (it writes the child's arguments).
        await asyncio.to_thread(process.start)
        theirs.close()
        self._process = process
        _, link = await loop.create_unix_connection(lambda: _Link(self), sock=ours)
        self._link = link
        try:
            await asyncio.wait_for(asyncio.shield(link.ready), READY_TIMEOUT_SECONDS)
        except BaseException:
            if self._link is link:
                self._link = None
            self._process = None
            link.transport.close()
            process.terminate()
            raise
        self._schedule_flush()

    async def stop(self, timeout: float = 30.0) -> None:
        """Commit everything already submitted, then end the child."""
        self._accepting = False
        if self._starting is not None:
            await self._starting
        self._flush()
        link, process = self._link, self._process
        if link is not None:
            link.transport.write(_frame(_STOP))
        if process is not None:
            await asyncio.to_thread(process.join, timeout)
            if process.is_alive():
                log.error("%s: still busy after %.0f s; stopped", self.name, timeout)
                process.terminate()
                await asyncio.to_thread(process.join, 5)
        if link is not None:
            # The child's last answers may still be on their way: read up to its end-of-file.
            try:
                await asyncio.wait_for(asyncio.shield(link.closed), 5)
            except TimeoutError:
                pass
            link.transport.close()
        self._link = None
        self._process = None
        self._fail_all(WriterStopped(f"{self.name} is stopped"))

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the returned future resolves once its batch is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if not self._accepting:
            future.set_exception(WriterStopped(f"{self.name} is stopped"))
            return future
        self._next_id += 1
        self._waiting[self._next_id] = future
        self._outbox.append((self._next_id, item))
        if self._link is None and self._starting is None and not self._spawning:
            # The last child died and its replacement could not start: try again now.
            self._starting = asyncio.get_running_loop().create_task(self._restart())
        self._schedule_flush()
        return future

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and self._outbox and self._loop is not None:
            self._flush_scheduled = True
            # After the other ready callbacks: the requests parsed in this iteration go as one.
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        link = self._link
        if not self._outbox or link is None:
            return  # sent once a (new) child is connected
        outbox, self._outbox = self._outbox, []
        link.transport.write(_frame(outbox))

    def _answered(self, answers: list[tuple[int, bool, Any]]) -> None:
        committed = False
        for item_id, ok, value in answers:
            future = self._waiting.pop(item_id, None)
            if future is None or future.done():  # the caller gave up (cancelled)
                continue
            if ok:
                committed = True
                future.set_result(value)
            else:
                future.set_exception(WriterFailed(value))
        if committed and self.on_commit is not None:
            try:
                self.on_commit()
            except Exception:
                log.exception("%s: on_commit callback failed", self.name)

    def _lost(self, link: _Link, *, started: bool) -> None:
        if link is not self._link:
            return
        self._link = None
        # Whatever the child had not answered may or may not be committed: its callers are
        # told it failed, and a push sent again is then stored or found to be a repeat.
        self._fail_all(WriterStopped(f"{self.name}: the writer process ended"), keep_unsent=True)
        # A child that ended before it was ready is the start-up's failure, which ``_spawn``
        # reports; restarting here would spawn one child after another.
        if started and self._accepting and self._loop is not None:
            log.error("%s: the writer process ended; starting a new one", self.name)
            self._starting = self._loop.create_task(self._restart())

    async def _restart(self) -> None:
        try:
            await self._spawn()
        except Exception:
            log.exception("%s: could not start a new writer process", self.name)
            self._fail_all(WriterStopped(f"{self.name}: no writer process"))
        finally:
            self._starting = None

    def _fail_all(self, error: Exception, *, keep_unsent: bool = False) -> None:
        """Fail the callers still waiting; ``keep_unsent``: except those whose items were never
        sent, which a new child will take."""
        if not keep_unsent:
            self._outbox = []
        waiting, self._waiting = self._waiting, {}
        unsent = {item_id for item_id, _ in self._outbox}
        for item_id, future in waiting.items():
            if item_id in unsent:
                self._waiting[item_id] = future
            elif not future.done():
                future.set_exception(error)


def _name(function: Callable[..., Any] | None) -> str:
    return "" if function is None else f"{function.__module__}:{function.__qualname__}"


def _named(name: str) -> Any:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _run_child(
    sock: socket.socket, name: str, commit_name: str, setup_name: str, max_batch: int
) -> None:
    """The writer process: read items, commit them in batches, answer each batch."""
    # Ctrl+C in a terminal reaches the whole process group: the web process stops this one
    # (a stop frame, or end-of-file) once it has answered what it sent, not before.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "terminflow.settings")
    import django

    django.setup()
    commit = _named(commit_name)
    if setup_name:
        _named(setup_name)()
    sock.setblocking(True)
    sock.sendall(_frame(_READY))
    buffer = bytearray()
    pending: deque[tuple[int, Any]] = deque()
    stopping = False
    while True:
        if not pending:
            if stopping:
                break
            data = sock.recv(1 << 16)
            if not data:
                break  # the web process is gone
            buffer += data
        # Take whatever else has arrived without waiting: under load that is the next batch.
        while True:
            try:
                data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                stopping = True
                break
            buffer += data
        for message in _split(buffer):
            if message == _STOP:
                stopping = True
            else:
                pending.extend(message)
        if not pending:
            continue
        batch = [pending.popleft() for _ in range(min(max_batch, len(pending)))]
        outcomes = commit_batch(commit, [item for _, item in batch], name)
        # An exception is sent as its text: the parent only needs to fail the caller with it.
        answers = [
            (item_id, ok, value if ok else str(value) or type(value).__name__)
            for (item_id, _), (ok, value) in zip(batch, outcomes, strict=True)
        ]
        sock.sendall(_frame(answers))
    sock.close()
