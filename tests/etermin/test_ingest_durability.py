"""A push answered 200 survives a SIGKILL of the server (durability of the group commit)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from terminflow.etermin.models import WebPush
from terminflow.etermin.services import connect_account
from tests.conftest import make_workspace
from tests.fixtures.server import TerminflowServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BURST = 600
KILL_AFTER_OKS = 150


def push_body(uid: str) -> bytes:
    return json.dumps(
        {
            "command": "CREATED",
            "appointmentUID": uid,
            "startDateTimeUTC": "2026-12-03T08:30:00Z",
            "endDateTimeUTC": "2026-12-03T09:15:00Z",
            "firstName": "Lea",
            "lastName": "Brunner",
            "email": "lea.brunner@example.ch",
        }
    ).encode()


async def burst(server: TerminflowServer, token: str, uids: list[str]) -> dict[str, Any]:
    """Post every uid at once; SIGKILL the server as soon as KILL_AFTER_OKS were answered ok.

    Returns uid -> status code, or the exception's class name for a request that got no answer.
    """
    answers: dict[str, Any] = {}
    oks = 0
    killed = False
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=server.url, timeout=20.0, limits=limits) as client:

        async def send(uid: str) -> None:
            nonlocal oks, killed
            try:
                response = await client.post(
                    f"/hooks/etermin/{token}",
                    content=push_body(uid),
                    headers={"content-type": "application/json"},
                )
            except httpx.HTTPError as exc:
                answers[uid] = type(exc).__name__
                return
            answers[uid] = response.status_code
            if response.status_code == 200 and response.text == "ok":
                oks += 1
                if oks >= KILL_AFTER_OKS and not killed:
                    killed = True
                    server.kill()

        await asyncio.gather(*(send(uid) for uid in uids))
    return answers


@pytest.mark.terminflow_server(
    sqlite_synchronous="FULL",
    env={
        # Processing runs as in production, but never reaches out of this machine.
        "TERMINFLOW_ETERMIN_API_URL": "http://127.0.0.1:9/api",
    },
)
def test_every_push_answered_ok_survives_a_sigkill_mid_burst(
    terminflow_server: TerminflowServer,
) -> None:
    # given a running server (SQLite: synchronous=FULL) and an account
    account = connect_account(
        make_workspace(), name="Praxis", public_key="pub", private_key="priv", verify=False
    )
    token = account.web_push_token
    uids = [f"burst-{n:04d}" for n in range(BURST)]

    # when a burst of pushes arrives and the server is SIGKILLed in the middle of it
    answers = asyncio.run(burst(terminflow_server, token, uids))
    terminflow_server.start()

    # then the kill really came mid-burst ...
    ok = {uid for uid, answer in answers.items() if answer == 200}
    lost_answers = {uid for uid, answer in answers.items() if answer != 200}
    assert len(ok) >= KILL_AFTER_OKS
    assert lost_answers, "the server was killed after the burst; the test proves nothing"
    assert {answer for answer in answers.values() if not isinstance(answer, str)} <= {200}
    # ... and after the restart every push answered ok is in the inbox, each exactly once
    stored = list(WebPush.objects.values_list("appointment_uid", flat=True))
    assert len(stored) == len(set(stored))
    assert ok <= set(stored)
    assert set(stored) <= set(uids)
    assert len(stored) >= len(ok)

    # and when eTermin sends the unanswered ones again, every push is there exactly once
    resent = asyncio.run(resend(terminflow_server, token, sorted(lost_answers)))
    assert set(resent.values()) == {200}
    stored = list(WebPush.objects.values_list("appointment_uid", flat=True))
    assert sorted(stored) == uids


async def resend(server: TerminflowServer, token: str, uids: list[str]) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20.0) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"/hooks/etermin/{token}",
                    content=push_body(uid),
                    headers={"content-type": "application/json"},
                )
                for uid in uids
            )
        )
    return {uid: r.status_code for uid, r in zip(uids, responses, strict=True)}
