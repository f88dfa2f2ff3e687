"""Read deadlines: a client that trickles its request must not hold a connection forever.

uvicorn closes idle keep-alive connections, but gives a request that is still arriving all the
time in the world: a client that sends a header byte every few seconds (slowloris) or its body a
byte at a time holds its connection, and enough of them hold every connection and file
descriptor the process has. Two deadlines close that, each answering ``408`` and closing:

- headers: ``with_header_deadline`` wraps uvicorn's HTTP protocol so that a request's headers
  must be complete within ``seconds`` of the connection opening or of the request's first byte;
- body: ``BodyDeadline`` wraps an ASGI app so that the body must be complete within ``seconds``
  of the request reaching the app. The web push route keeps its own, shorter deadline on its
  own read loop (``etermin/ingest.py``) with ``ReadDeadlines``, which costs the hottest path
  no timer per request.

``docs/deployment.md`` lists the limits and the matching reverse-proxy settings.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# How late past its deadline ReadDeadlines may cut a read.
SWEEP_SECONDS = 0.25

_TIMEOUT_BODY = b"The request did not arrive in time."
_TOO_LARGE_BODY = b"The request is too large."
_408 = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n"
    b"\r\n%s"
) % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)


def with_header_deadline(base: type[Any], seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class ``base`` (httptools or h11) with a deadline on headers.

    The timer runs from the connection opening, and from the first byte of each later request
    on a kept-alive connection, until the request's headers are complete; uvicorn starts a
    request cycle exactly then, whichever parser it uses, so that is what is watched for.
    """

    class HeaderDeadlineProtocol(base):  # type: ignore[misc, valid-type]
        header_timeout = seconds
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            awaiting = before is None or before.response_complete
            super().data_received(data)
            if self.cycle is not before:
                self._disarm_header_timer()
            elif awaiting and self._header_timer is None and not self.transport.is_closing():
                # Armed only when a request's headers stay incomplete: a whole request in one
                # read (the usual case on the web push path) costs no timer.
                self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being served; the next one waits its turn
            self.transport.write(_408)
            self.transport.close()

    return HeaderDeadlineProtocol


def http_protocol(header_seconds: float) -> type[asyncio.Protocol]:
    """The protocol ``terminflow serve`` runs: uvicorn's choice (httptools if installed)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return with_header_deadline(AutoHTTPProtocol, header_seconds)


class BodyDeadline:
    """ASGI middleware: the request body must be complete within ``seconds``, and at most
    ``max_bytes`` long (413): Django reads a whole body, uploads included, before a view can
    look at its size.

    Once the body is complete, ``receive`` is passed through untouched: Django listens on it for
    the client going away while a view runs, which may take longer than the deadline.
    """

    def __init__(self, app: ASGIApp, seconds: float, max_bytes: int | None = None) -> None:
        self.app = app
        self.seconds = seconds
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.max_bytes is not None and _declared_length(scope) > self.max_bytes:
            await _answer(send, 413, _TOO_LARGE_BODY)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        complete = expired = started = False
        too_large = False
        received = 0

        async def receive_in_time() -> Message:
            nonlocal complete, expired, too_large, received
            if complete:
                return await receive()
            if expired or too_large:
                return {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # To the app the client is gone: it stops, and the client gets the 408 below.
                expired = True
                return {"type": "http.disconnect"}
            if message["type"] == "http.request" and self.max_bytes is not None:
                # A body sent without a length (chunked) is counted as it arrives.
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def send_unless_expired(message: Message) -> None:
            nonlocal started
            if expired or too_large:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, receive_in_time, send_unless_expired)
        if expired and not started:
            await _answer(send, 408, _TIMEOUT_BODY)
        elif too_large and not started:
            await _answer(send, 413, _TOO_LARGE_BODY)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ReadDeadlines:
    """A deadline for each of many concurrent reads, kept by one periodic sweep.

    ``asyncio.timeout`` schedules and cancels a timer per read, a third of the web push
    endpoint's own CPU. Here a read registers its task and deadline in a dict (``enter``,
    ``leave``) and one callback every ``SWEEP_SECONDS`` cancels the tasks whose deadline has
    passed; the reader then asks ``overdue(task)`` whether its ``CancelledError`` was that.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._cut: set[asyncio.Task[Any]] = set()
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self) -> asyncio.Task[Any]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        self._reading[task] = loop.time() + self.seconds
        if self._sweep_handle is None or self._loop is not loop:
            self._loop = loop
            self._sweep_handle = loop.call_later(SWEEP_SECONDS, self._sweep)
        return task

    def leave(self, task: asyncio.Task[Any]) -> None:
        self._reading.pop(task, None)

    def overdue(self, task: asyncio.Task[Any]) -> bool:
        """True if ``task`` was cancelled for its deadline (the cancellation is then undone)."""
        if task not in self._cut:
            return False
        self._cut.discard(task)
        task.uncancel()
        return True

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        late = [task for task, due in self._reading.items() if due <= now]
        for task in late:
            del self._reading[task]
            self._cut.add(task)
            task.cancel()
        self._sweep_handle = loop.call_later(SWEEP_SECONDS, self._sweep) if self._reading else None
