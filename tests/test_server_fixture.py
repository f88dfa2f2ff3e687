"""The test server fixture leaves no process behind (a worker child would hold the test DB)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.mark.terminflow_server(embedded_worker=True)
def test_stopping_the_server_ends_its_embedded_worker(terminflow_server: Any) -> None:
    # given a running server with its embedded worker child
    server_pid = terminflow_server.process.pid
    deadline = time.monotonic() + 20
    while not children_of(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children_of(server_pid), "the embedded worker did not start"

    # when the fixture stops the server
    terminflow_server.stop()

    # then no process of its group is left (worker, resource tracker)
    assert not group_alive(server_pid)


def test_stop_ends_a_worker_that_outlives_its_server(terminflow_server_factory: Any) -> None:
    # given a server whose process is gone while a child of its group still runs
    server = terminflow_server_factory(embedded_worker=True)
    deadline = time.monotonic() + 20
    while not children_of(server.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = children_of(server.process.pid)[0]
    # Stop the child from reacting to its parent's end, as a stuck worker would not.
    os.kill(child, signal.SIGSTOP)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    assert group_alive(server.process.pid)

    # when the fixture stops it
    server.stop()

    # then the stuck child is gone too
    assert not group_alive(server.process.pid)
