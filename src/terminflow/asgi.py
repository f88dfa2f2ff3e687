"""The ASGI front: Starlette owns the hot routes and mounts Django for everything else.

The lifespan starts the web push writer (group commit) and, in the embedded mode, the worker in a
child process, so ``terminflow serve`` is the whole product in one command.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "terminflow.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402

from terminflow.etermin.ingest import (  # noqa: E402
    IngestWriter,
    ingest_middleware,
    ingest_routes,
)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(*, run_worker: bool | None = None) -> Starlette:
    """Build the front app; ``run_worker`` defaults to ``TERMINFLOW_EMBEDDED_WORKER`` (on)."""
    if run_worker is None:
        run_worker = settings.EMBEDDED_WORKER
    writer = IngestWriter()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from terminflow.worker import WorkerProcess

        await writer.start()
        worker = WorkerProcess() if run_worker else None
        if worker is not None:
            # New inbox rows are processed at once instead of at the sweep's next idle tick.
            writer.on_commit = worker.wake
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await writer.stop()

    static_dir = settings.STATIC_ROOT
    static_dir.mkdir(parents=True, exist_ok=True)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        *ingest_routes(writer),
        Mount("/static", app=StaticFiles(directory=static_dir, check_dir=False), name="static"),
        Mount("/", app=get_asgi_application()),  # type: ignore[arg-type]
    ]
    app = Starlette(routes=routes, middleware=ingest_middleware(writer), lifespan=lifespan)
    app.state.writer = writer
    return app


app = create_app()
