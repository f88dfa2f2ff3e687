"""Slow clients: a request that trickles in is cut at its deadline; everyone else is served.

The clients are raw sockets against a real server: ``terminflow serve`` (uvicorn with the
protocol it picks, httptools) with short deadlines, and uvicorn's h11 protocol in this process.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from terminflow.etermin.models import WebPush
from terminflow.etermin.services import connect_account
from terminflow.kit.deadlines import BodyDeadline, ReadDeadlines, with_header_deadline
from tests.conftest import make_workspace

DEADLINE = 1.0
# Far beyond the deadline; a connection still open then is held for good.
GIVE_UP = 15.0
SHORT_DEADLINES = {
    "TERMINFLOW_HEADER_TIMEOUT_SECONDS": str(DEADLINE),
    "TERMINFLOW_BODY_TIMEOUT_SECONDS": str(DEADLINE),
    "TERMINFLOW_WEB_PUSH_BODY_TIMEOUT_SECONDS": str(DEADLINE),
}


@dataclass
class Trickled:
    answer: bytes  # everything the server sent
    closed_after: float | None  # seconds until the server closed; None: still open at GIVE_UP
    bytes_sent: int


def trickle(port: int, head: bytes, drip: bytes, every: float = 0.2) -> Trickled:
    """Send ``head`` at once, then ``drip`` one byte every ``every`` seconds, reading answers."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(every)
    began = time.monotonic()
    answer = b""
    sent = 0
    try:
        if head:
            sock.sendall(head)
        while time.monotonic() - began < GIVE_UP:
            if sent < len(drip):
                try:
                    sock.sendall(drip[sent : sent + 1])
                    sent += 1
                except OSError:
                    pass  # closed by the server; what it said is still to be read
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return Trickled(answer, time.monotonic() - began, sent)
            if not chunk:
                return Trickled(answer, time.monotonic() - began, sent)
            answer += chunk
        return Trickled(answer, None, sent)
    finally:
        sock.close()


def in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    thread.start()
    return thread, result


def push_body(uid: str) -> bytes:
    return b'{"command": "CREATED", "appointmentUID": "%s"}' % uid.encode()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.terminflow_server(embedded_worker=False, env=SHORT_DEADLINES)
def test_trickling_clients_are_cut_at_the_deadline_while_a_push_is_served(
    terminflow_server: Any,
) -> None:
    # given the real server with 1 s deadlines and a connected account
    account = connect_account(
        make_workspace(), name="Praxis", public_key="pub", private_key="priv", verify=False
    )
    hook = f"/hooks/etermin/{account.web_push_token}".encode()
    host = b"Host: 127.0.0.1\r\n"
    body = push_body("uid-trickled")
    clients = {
        # connects and says nothing
        "idle": (b"", b""),
        # the request line, then headers a byte at a time (slowloris)
        "headers": (b"POST " + hook + b" HTTP/1.1\r\n", host + b"X-Slow: " + b"a" * 200),
        # a web push whose body comes a byte at a time
        "push body": (
            b"POST " + hook + b" HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        ),
        # a Django form post whose body comes a byte at a time
        "page body": (
            b"POST /login/ HTTP/1.1\r\n"
            + host
            + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n",
            b"email=" + b"a" * 494,
        ),
    }

    # when they all trickle at once, and a normal push arrives meanwhile
    running = {
        name: in_thread(trickle, terminflow_server.port, head, drip)
        for name, (head, drip) in clients.items()
    }
    time.sleep(0.3)
    normal = httpx.post(
        terminflow_server.url + hook.decode(), content=push_body("uid-normal"), timeout=5
    )
    for thread, _ in running.values():
        thread.join(GIVE_UP + 5)
    results: dict[str, Trickled] = {name: result[0] for name, (_, result) in running.items()}

    # then the normal push was answered at once and stored
    assert (normal.status_code, normal.text) == (200, "ok")
    # and every trickler was answered 408 and cut, after the deadline, long before giving up
    for name, result in results.items():
        assert result.closed_after is not None, f"{name}: still connected after {GIVE_UP} s"
        assert DEADLINE * 0.9 <= result.closed_after < GIVE_UP, name
        assert result.answer.startswith(b"HTTP/1.1 408 "), (name, result.answer)
        assert b"connection: close" in result.answer.lower(), name
    assert results["push body"].answer.endswith(b"The body did not arrive in time.")
    assert results["page body"].answer.endswith(b"The request did not arrive in time.")
    # and the trickled push was not stored
    assert list(WebPush.objects.values_list("appointment_uid", flat=True)) == ["uid-normal"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.terminflow_server(embedded_worker=False, env=SHORT_DEADLINES)
def test_a_kept_alive_connection_that_starts_a_request_slowly_is_cut(
    terminflow_server: Any,
) -> None:
    # given a connection that was served one request and is kept alive
    sock = socket.create_connection(("127.0.0.1", terminflow_server.port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = sock.recv(4096)
    sock.close()
    assert first.startswith(b"HTTP/1.1 200 ")

    # when the next request's headers come a byte at a time, each within the keep-alive time
    result = trickle(
        terminflow_server.port,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 200,
    )

    # then the first is answered, and the trickled one is cut with a 408
    assert result.answer.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 408 " in result.answer
    assert result.closed_after is not None and DEADLINE * 0.9 <= result.closed_after < GIVE_UP


class _H11Server:
    """uvicorn's h11 protocol with the header deadline, serving a small app behind BodyDeadline."""

    def __init__(self, max_bytes: int | None = None) -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            body = b""
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            answer = b"got %d bytes" % len(body)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(answer)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": answer})

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            BodyDeadline(app, DEADLINE, max_bytes),
            http=with_header_deadline(H11Protocol, DEADLINE),
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> _H11Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.sock.close()


def test_with_the_h11_parser_too_slow_headers_and_bodies_are_cut() -> None:
    with _H11Server() as server:
        # given an idle client, a slowloris and a slow body, all at once
        head = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 300\r\n\r\n"
        running = [
            in_thread(trickle, server.port, b"", b""),
            in_thread(trickle, server.port, b"GET / HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200),
            in_thread(trickle, server.port, head, b"a" * 300),
        ]
        # when a normal request arrives meanwhile
        time.sleep(0.3)
        normal = httpx.post(f"http://127.0.0.1:{server.port}/x", content=b"12345", timeout=5)
        for thread, _ in running:
            thread.join(GIVE_UP + 5)

    # then it is served, and each trickler is answered 408 and cut after the deadline
    assert (normal.status_code, normal.text) == (200, "got 5 bytes")
    for _, (result,) in running:
        assert result.closed_after is not None and DEADLINE * 0.9 <= result.closed_after < GIVE_UP
        assert result.answer.startswith(b"HTTP/1.1 408 "), result.answer


def test_bodies_over_the_byte_cap_get_413_declared_or_chunked() -> None:
    with _H11Server(max_bytes=100) as server:
        url = f"http://127.0.0.1:{server.port}/x"
        # when a body at the cap, one declared too long, and a chunked one too long arrive
        fits = httpx.post(url, content=b"a" * 100, timeout=5)
        declared = httpx.post(url, content=b"a" * 101, timeout=5)
        chunked = httpx.post(url, content=iter([b"a" * 60, b"a" * 60]), timeout=5)

    # then only the first reaches the app
    assert (fits.status_code, fits.text) == (200, "got 100 bytes")
    assert (declared.status_code, declared.text) == (413, "The request is too large.")
    assert (chunked.status_code, chunked.text) == (413, "The request is too large.")


def test_read_deadlines_cut_only_the_reads_past_their_deadline() -> None:
    # given reads with a 0.3 s deadline: one that waits forever, one that finishes in time
    deadlines = ReadDeadlines(0.3)

    async def read(wait: asyncio.Event) -> str:
        task = deadlines.enter()
        try:
            await wait.wait()
            return "read"
        except asyncio.CancelledError:
            if not deadlines.overdue(task):
                raise
            return "cut"
        finally:
            deadlines.leave(task)

    async def scenario() -> tuple[list[str], bool]:
        never, soon = asyncio.Event(), asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, soon.set)
        results = await asyncio.gather(read(never), read(soon))
        # a task cancelled for another reason is not mistaken for an overdue read
        other = asyncio.ensure_future(read(asyncio.Event()))
        await asyncio.sleep(0)
        other.cancel()
        try:
            await other
        except asyncio.CancelledError:
            return list(results), True
        return list(results), False

    # when they run (twice: a second event loop gets its own sweep)
    first = asyncio.run(scenario())
    second = asyncio.run(scenario())

    # then only the read that never finished was cut, on both loops
    assert first == second == (["cut", "read"], True)
