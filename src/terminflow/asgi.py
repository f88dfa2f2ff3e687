"""The ASGI front: Starlette owns the hot routes and mounts Django for everything else.

The lifespan starts the web push writer (group commit), the open and click tracker and, in the
embedded mode, the worker in a child process, so ``terminflow serve`` is the whole product in one
command.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "terminflow.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse, Response  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402
from starlette.types import ASGIApp  # noqa: E402

from terminflow.etermin.ingest import (  # noqa: E402
    IngestWriter,
    WebPushShortcut,
    ingest_routes,
)
from terminflow.kit.deadlines import BodyDeadline  # noqa: E402
from terminflow.mail import images as media  # noqa: E402
from terminflow.mail.tracking_routes import (  # noqa: E402
    Tracker,
    TrackingShortcut,
    tracking_routes,
)


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers. Says nothing about the database or the worker."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers, migrations are applied, a worker swept lately."""
    from terminflow import health

    reasons = await asyncio.to_thread(health.readiness)
    if reasons:
        return JSONResponse({"status": "unavailable", "reasons": reasons}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus text; off (404) without ``TERMINFLOW_METRICS_TOKEN``, else bearer auth."""
    from terminflow import health

    if not settings.METRICS_TOKEN:
        return PlainTextResponse("Not Found", status_code=404)
    if not health.metrics_authorized(request.headers.get("authorization", "")):
        return PlainTextResponse(
            "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    body = await asyncio.to_thread(health.render_metrics)
    return Response(body, media_type=health.CONTENT_TYPE)


class _Front(Starlette):
    """Starlette with the hot paths (web pushes, tracking hits) served before its middleware.

    Those endpoints answer every case themselves; Starlette's error middleware, which wraps
    every ``send``, cost them a tenth of their CPU. Anything else goes through it as usual.
    """

    def __init__(self, *, hot_paths: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        self._hot_paths = hot_paths
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return self._hot_paths(super().build_middleware_stack())


def create_app(*, run_worker: bool | None = None, writer_in_child: bool | None = None) -> Starlette:
    """Build the front app; ``run_worker`` defaults to ``TERMINFLOW_EMBEDDED_WORKER`` (on).

    ``writer_in_child`` (default: on SQLite) commits web pushes in a child process (decision
    0009), so the event loop has its GIL to itself. Tests that run the app inside the test
    process turn it off: a child would not see the test's database.
    """
    if run_worker is None:
        run_worker = settings.EMBEDDED_WORKER
    if writer_in_child is None:
        writer_in_child = connection.vendor == "sqlite"
    writer = IngestWriter(in_child=writer_in_child)
    tracker = Tracker()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from terminflow.worker import WorkerProcess

        await writer.start()
        await tracker.start()
        worker = WorkerProcess() if run_worker else None
        if worker is not None:
            # New inbox rows are processed soon instead of at the sweep's next idle tick; while
            # ingest is busy the worker holds back instead (it shares the CPU and SQLite's
            # write lock with this process) and catches up when the burst is over.
            def after_commit(worker: WorkerProcess = worker) -> None:
                worker.wake(busy=writer.busy)

            writer.on_commit = after_commit
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await tracker.stop()
            await writer.stop()

    static_dir = settings.STATIC_ROOT
    static_dir.mkdir(parents=True, exist_ok=True)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *ingest_routes(writer),
        *tracking_routes(tracker),
        Mount("/static", app=StaticFiles(directory=static_dir, check_dir=False), name="static"),
        # Images in emails: public, no session, no database (mail/images.py).
        Route("/media/{path:path}", media.serve, methods=["GET", "HEAD"]),
        # Django's requests must arrive in time and be bounded (the web push route has its own).
        Mount(
            "/",
            app=BodyDeadline(
                get_asgi_application(),  # type: ignore[arg-type]
                settings.BODY_TIMEOUT_SECONDS,
                settings.MAX_BODY_BYTES,
            ),
        ),
    ]
    app = _Front(
        routes=routes,
        lifespan=lifespan,
        hot_paths=lambda inner: WebPushShortcut(TrackingShortcut(inner, tracker), writer),
    )
    app.state.writer = writer
    app.state.tracker = tracker
    return app


app = create_app()
