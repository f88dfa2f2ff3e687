"""The sandbox's HTTP face: eTermin's signed API under ``/api`` and control under ``/_sandbox``.

Run it with ``terminflow sandbox --port 8765 [--state FILE]`` and point
``TERMINFLOW_ETERMIN_API_URL`` at ``http://127.0.0.1:8765/api``.

API (signed with ``publickey``/``salt``/``signature``; JSON unless ``Accept`` asks for XML only,
as eTermin does): ``GET/POST /api/calendar``, ``GET /api/contact?email=``,
``GET /api/appointment?id=`` or ``?start=&end=[&calendarid=]`` (``end`` exclusive),
``POST /api/appointment`` (answers ``ID`` and ``IID``), ``PUT /api/appointment?id=`` with a form
body re-sending ``start``, ``end`` and ``calendarid`` (answers "1 records updated!"),
``DELETE /api/appointment?id=`` or ``?externalid=&sync=1``,
``GET /api/appointmentdeleted?start=&end=``. ``id`` may be the ExternalID or the numeric IID.
Creating, changing and deleting an appointment sends a web push to the account's URL once the
API has answered (docs/etermin.md lists what is observed and what is guessed).

Control (no signature, JSON): ``POST /_sandbox/reset``, ``GET /_sandbox/state``,
``POST /_sandbox/accounts`` {public_key, private_key, calendars: [{id, name}], timezone,
web_push?}, ``GET /_sandbox/accounts/{pk}``, ``POST …/{pk}/calendars`` {id?, name},
``PUT/DELETE …/{pk}/webpush`` {url, format: json|form, variant: standard|upper_compact|sparse|
utc_without_z, header_name, header_value, paused} (``{"paused": true}`` alone keeps the URL and
sends nothing until ``{"paused": false}``),
``POST …/{pk}/webpush/test`` {command}, ``POST …/{pk}/bookings`` (a customer's booking:
calendar_id, start, end, email, first_name, last_name, notes, newsletter, …),
``GET /_sandbox/deliveries?public_key=``, ``GET /_sandbox/calls?public_key=``,
``POST /_sandbox/fail`` {count, status (null: no error), hang_seconds, retry_after},
``POST /_sandbox/quirks`` {xml_always, calendar_name_key: CalendarName|Name}.

The ``--state`` file: ``{"accounts": [{"public_key", "private_key", "timezone",
"calendars": [{"id", "name"}], "web_push": {"url", "format", "header_name", "header_value"}}]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import socket
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .state import (
    ADDITIONAL_FIELDS,
    COMMANDS,
    Account,
    SandboxError,
    SandboxState,
    parse_day,
    parse_flag,
)
from .webpush import Pusher, sample_appointment

XML_NAMESPACE = "http://schemas.datacontract.org/2004/07/eTermin.Api.Models"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
SERIALIZATION_NAMESPACE = "http://schemas.microsoft.com/2003/10/Serialization/"
AUTH_DENIED = "Authorization has been denied for this request."

ApiHandler = Callable[[Request, Account, dict[str, Any]], Awaitable[tuple[Any, str]]]


# -- answers in JSON or XML ------------------------------------------------------------------


def _xml_fill(parent: ET.Element, row: dict[str, Any]) -> None:
    for key, value in row.items():
        child = ET.SubElement(parent, key)
        if value is None:
            child.set(f"{{{XSI_NAMESPACE}}}nil", "true")
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        else:
            child.text = str(value)


def to_xml(payload: Any, item: str) -> bytes:
    """The payload the way ASP.NET's DataContract serializer writes it."""
    ET.register_namespace("i", XSI_NAMESPACE)
    if isinstance(payload, str):
        root = ET.Element(f"{{{SERIALIZATION_NAMESPACE}}}string")
        root.text = payload
        return ET.tostring(root, encoding="utf-8", xml_declaration=False)
    ET.register_namespace("", XML_NAMESPACE)
    if isinstance(payload, list):
        root = ET.Element(f"{{{XML_NAMESPACE}}}ArrayOf{item}")
        for row in payload:
            _xml_fill(ET.SubElement(root, f"{{{XML_NAMESPACE}}}{item}"), row)
    else:
        root = ET.Element(f"{{{XML_NAMESPACE}}}{item}")
        _xml_fill(root, payload)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def wants_xml(accept: str) -> bool:
    """eTermin answers JSON by default (no Accept, ``*/*``); XML only when XML is asked for."""
    accept = accept.lower()
    return "xml" in accept and "json" not in accept


def _answer(
    request: Request, state: SandboxState, payload: Any, item: str, status: int = 200
) -> Response:
    if state.quirks.xml_always or wants_xml(request.headers.get("accept", "")):
        return Response(to_xml(payload, item), status, media_type="application/xml; charset=utf-8")
    return JSONResponse(payload, status_code=status)


async def _params(request: Request) -> dict[str, Any]:
    """Query string and body parameters merged, names lower-cased as eTermin ignores case."""
    params: dict[str, Any] = {k.lower(): v for k, v in request.query_params.items()}
    params.update(await _body_params(request))
    return params


async def _body_params(request: Request) -> dict[str, Any]:
    """The body's parameters (form or JSON), names lower-cased."""
    params: dict[str, Any] = {}
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "").lower()
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            raise SandboxError("the body is not valid JSON") from None
        if isinstance(data, dict):
            params.update({str(k).lower(): v for k, v in data.items()})
    else:
        text = body.decode("utf-8", errors="replace")
        params.update({k.lower(): v for k, v in parse_qsl(text, keep_blank_values=True)})
    return params


# -- the signed API ----------------------------------------------------------------------------


def _signature_ok(account: Account, salt: str, signature: str) -> bool:
    digest = hmac.new(
        account.private_key.encode("utf-8"), salt.encode("utf-8"), hashlib.sha256
    ).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode("ascii"), signature)


def _api(state: SandboxState, handler: ApiHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        public_key = request.headers.get("publickey", "")
        salt = request.headers.get("salt", "")
        signature = request.headers.get("signature", "")
        call = state.record_call(
            method=request.method,
            path=request.url.path,
            query=str(request.url.query),
            public_key=public_key,
            salt=salt,
            status=None,
        )

        def answer(payload: Any, item: str, status: int = 200) -> Response:
            call["status"] = status
            return _answer(request, state, payload, item, status)

        failure = state.take_failure()
        if failure is not None:
            if failure.hang_seconds > 0:
                await asyncio.sleep(failure.hang_seconds)
            if failure.status:
                refused = answer({"Message": "An error has occurred."}, "Error", failure.status)
                if failure.retry_after is not None:
                    refused.headers["Retry-After"] = str(failure.retry_after)
                return refused
        account = state.accounts.get(public_key)
        if not (salt and signature and account and _signature_ok(account, salt, signature)):
            return answer({"Message": AUTH_DENIED}, "Error", 401)
        try:
            params = await _params(request)
            call["body"] = (await request.body()).decode("utf-8", errors="replace")
            payload, item = await handler(request, account, params)
        except SandboxError as exc:
            return answer({"Message": exc.message}, "Error", exc.status)
        response = answer(payload, item)
        response.background = getattr(request.state, "push", None)
        return response

    return endpoint


def api_routes(state: SandboxState, pusher: Pusher) -> list[Route]:
    async def calendars(request: Request, account: Account, params: dict[str, Any]):
        if request.method == "POST":
            number = state.add_calendar(account, params.get("calendarid"), params.get("name", ""))
            row = {"CalendarID": number, state.quirks.calendar_name_key: account.calendars[number]}
            return row, "Calendar"
        return account.calendars_api(state.quirks.calendar_name_key), "Calendar"

    async def contacts(request: Request, account: Account, params: dict[str, Any]):
        found = state.contacts(account, params.get("email"))
        return [contact.as_api() for contact in found], "Contact"

    async def appointment(request: Request, account: Account, params: dict[str, Any]):
        zone = account.zone
        if request.method == "GET":
            if params.get("id"):
                found = state.find_appointment(account, params["id"])
                return ([found.as_api(zone)] if found else []), "Appointment"
            start = parse_day(params.get("start"), "start")
            end = parse_day(params.get("end"), "end")
            calendar = str(params.get("calendarid") or "").strip()
            calendar_id = int(calendar) if calendar.isdigit() else None
            rows = state.appointments_between(account, start, end, calendar_id)
            return [a.as_api(zone) for a in rows], "Appointment"
        if request.method == "POST":
            created = state.create_appointment(account, params)
            _push_later(request, pusher, account, "CREATED", created)
            # ``ID`` is the ExternalID here, unlike in listings (docs/etermin.md, ID vs IID).
            return {"ID": created.uid, "IID": created.id}, "Appointment"
        uid = str(params.get("id") or params.get("externalid") or "")
        if request.method == "PUT":
            # eTermin reads an update's fields from the form body only; the query string names
            # the appointment, and a field sent there is not an update.
            fields = await _body_params(request)
            changed = state.update_appointment(account, uid, fields)
            _push_later(request, pusher, account, "MODIFIED", changed)
            return "1 records updated!", "string"
        deleted = state.delete_appointment(account, uid)
        _push_later(request, pusher, account, "DELETED", deleted)
        return "1 records deleted!", "string"

    async def deleted(request: Request, account: Account, params: dict[str, Any]):
        start = parse_day(params.get("start"), "start")
        end = parse_day(params.get("end"), "end")
        rows = state.deleted_between(account, start, end)
        return [a.as_api(account.zone) for a in rows], "AppointmentDeleted"

    return [
        Route("/api/calendar", _api(state, calendars), methods=["GET", "POST"]),
        Route("/api/contact", _api(state, contacts), methods=["GET"]),
        Route(
            "/api/appointment", _api(state, appointment), methods=["GET", "POST", "PUT", "DELETE"]
        ),
        Route("/api/appointmentdeleted", _api(state, deleted), methods=["GET"]),
    ]


def _push_later(request: Request, pusher: Pusher, account: Account, command: str, appointment):
    # Sent as the response's background task, so the push leaves only after the API answered.
    request.state.push = BackgroundTask(pusher.push, account, command, appointment)


class _LowerCaseApiPath:
    """eTermin's server ignores case in paths (``/api/Appointment`` works too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].lower().startswith("/api/"):
            scope = {**scope, "path": scope["path"].lower()}
        await self.app(scope, receive, send)


# -- control endpoints -------------------------------------------------------------------------


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise SandboxError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise SandboxError("the body must be a JSON object")
    return data


def _control(
    handler: Callable[[Request], Awaitable[Any]], status: int = 200
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except SandboxError as exc:
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=status)

    return endpoint


def control_routes(state: SandboxState, pusher: Pusher) -> list[Route]:
    async def reset(request: Request):
        await pusher.drain()
        state.reset()
        return {"ok": True}

    async def create_account(request: Request):
        data = await _json(request)
        account = state.add_account(
            str(data.get("public_key") or ""),
            str(data.get("private_key") or ""),
            calendars=data.get("calendars") or [],
            timezone=data.get("timezone") or "Europe/Zurich",
            web_push=data.get("web_push"),
        )
        return account.summary()

    async def show_account(request: Request):
        return state.account(request.path_params["public_key"]).summary()

    async def add_calendar(request: Request):
        account = state.account(request.path_params["public_key"])
        data = await _json(request)
        number = state.add_calendar(account, data.get("id"), data.get("name", ""))
        return {"id": number, "name": account.calendars[number]}

    async def web_push(request: Request):
        account = state.account(request.path_params["public_key"])
        if request.method == "DELETE":
            account.push = None
            return {"web_push": None}
        data = await _json(request)
        if set(data) == {"paused"}:
            return {"web_push": vars(state.pause_push(account, bool(data["paused"])))}
        config = state.configure_push(
            account,
            url=str(data.get("url") or ""),
            format=str(data.get("format") or "json"),
            header_name=str(data.get("header_name") or ""),
            header_value=str(data.get("header_value") or ""),
            variant=str(data.get("variant") or "standard"),
            paused=bool(data.get("paused", False)),
        )
        return {"web_push": vars(config)}

    async def test_push(request: Request):
        account = state.account(request.path_params["public_key"])
        command = str((await _json(request)).get("command") or "CREATED").upper()
        if command not in COMMANDS:
            raise SandboxError(f"command must be one of {', '.join(COMMANDS)}")
        if account.push is None:
            raise SandboxError("web push is not configured for this account", 409)
        appointment = sample_appointment(account)
        return JSONResponse(
            {"queued": True, "appointmentUID": appointment.uid},
            background=BackgroundTask(pusher.push, account, command, appointment),
        )

    async def book(request: Request):
        """A booking made by a customer on eTermin's booking page (not through the API)."""
        account = state.account(request.path_params["public_key"])
        data = await _json(request)
        params: dict[str, Any] = {
            "calendarid": data.get("calendar_id"),
            "start": data.get("start"),
            "end": data.get("end"),
            "firstname": data.get("first_name"),
            "lastname": data.get("last_name"),
            "email": data.get("email"),
            "phone": data.get("phone"),
            "notes": data.get("notes"),
            "salutation": data.get("salutation"),
            "street": data.get("street"),
            "zip": data.get("zip"),
            "town": data.get("town"),
            "birthday": data.get("birthday"),
            "selectedanswers": data.get("selected_answers"),
            "bookinglanguage": data.get("booking_language"),
        }
        if "newsletter" in data:
            params["newsletter"] = parse_flag(data["newsletter"])
        for index in range(1, ADDITIONAL_FIELDS + 1):
            params[f"additional{index}"] = data.get(f"additional{index}")
        appointment = state.create_appointment(account, params)
        return JSONResponse(
            appointment.as_api(account.zone),
            status_code=201,
            background=BackgroundTask(pusher.push, account, "CREATED", appointment),
        )

    async def deliveries(request: Request):
        public_key = request.query_params.get("public_key")
        return [
            d.as_dict()
            for d in state.deliveries
            if public_key is None or d.public_key == public_key
        ]

    async def calls(request: Request):
        public_key = request.query_params.get("public_key")
        return [c for c in state.calls if public_key is None or c["public_key"] == public_key]

    async def fail(request: Request):
        data = await _json(request)
        try:
            state.failure.count = int(data.get("count", 1))
            status = data.get("status", 500)
            state.failure.status = int(status) if status else None
            state.failure.hang_seconds = float(data.get("hang_seconds", 0))
            retry_after = data.get("retry_after")
            state.failure.retry_after = int(retry_after) if retry_after is not None else None
        except (TypeError, ValueError):
            raise SandboxError(
                "count, status, hang_seconds and retry_after must be numbers"
            ) from None
        return vars(state.failure)

    async def quirks(request: Request):
        data = await _json(request)
        if "xml_always" in data:
            state.quirks.xml_always = bool(data["xml_always"])
        if "calendar_name_key" in data:
            if data["calendar_name_key"] not in {"CalendarName", "Name"}:
                raise SandboxError("calendar_name_key must be CalendarName or Name")
            state.quirks.calendar_name_key = data["calendar_name_key"]
        return vars(state.quirks)

    async def dump(request: Request):
        return {"accounts": [a.summary() for a in state.accounts.values()]}

    account_path = "/_sandbox/accounts/{public_key:str}"
    return [
        Route("/_sandbox/reset", _control(reset), methods=["POST"]),
        Route("/_sandbox/state", _control(dump), methods=["GET"]),
        Route("/_sandbox/accounts", _control(create_account, 201), methods=["POST"]),
        Route(account_path, _control(show_account), methods=["GET"]),
        Route(account_path + "/calendars", _control(add_calendar, 201), methods=["POST"]),
        Route(account_path + "/webpush", _control(web_push), methods=["PUT", "DELETE"]),
        Route(account_path + "/webpush/test", _control(test_push), methods=["POST"]),
        Route(account_path + "/bookings", _control(book), methods=["POST"]),
        Route("/_sandbox/deliveries", _control(deliveries), methods=["GET"]),
        Route("/_sandbox/calls", _control(calls), methods=["GET"]),
        Route("/_sandbox/fail", _control(fail), methods=["POST"]),
        Route("/_sandbox/quirks", _control(quirks), methods=["POST"]),
    ]


def create_app(state: SandboxState | None = None) -> Starlette:
    """The sandbox as an ASGI app; ``app.state.sandbox`` is its state, for in-process use."""
    state = state if state is not None else SandboxState()
    pusher = Pusher(state)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await pusher.close()

    app = Starlette(
        routes=[*api_routes(state, pusher), *control_routes(state, pusher)], lifespan=lifespan
    )
    app.state.sandbox = state
    app.state.pusher = pusher
    app.add_middleware(_LowerCaseApiPath)
    return app


def main(args: argparse.Namespace) -> int:
    """``terminflow sandbox``: serve the sandbox until Ctrl-C (``--port 0`` picks a free port)."""
    import uvicorn

    state = SandboxState()
    if getattr(args, "state", ""):
        state.load(args.state)
    family, kind, proto, _, address = socket.getaddrinfo(
        args.host, args.port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    # Listening before the banner, so whoever reads it can connect at once.
    sock.listen(128)
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"eTermin sandbox at {url}/api  (control: {url}/_sandbox/state)")
    for account in state.accounts.values():
        print(f"  account {account.public_key}: calendars {sorted(account.calendars)}")
    sys.stdout.flush()
    config = uvicorn.Config(create_app(state), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
