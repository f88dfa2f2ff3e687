"""Web push ingest on the hot path (Starlette, not Django): token → store raw → 200.

Placeholder interface; issue 2 implements the group-commit writer behind it.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


class IngestWriter:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def ingest_routes(writer: IngestWriter) -> list[BaseRoute]:
    return []
