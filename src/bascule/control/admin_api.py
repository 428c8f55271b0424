"""Placeholder control API: replaced by the full implementation."""

from __future__ import annotations

import json

from bascule.control.reloader import Reloader
from bascule.inbound.request import InboundRequest, ResponseWriter
from bascule.runtime.snapshot import SnapshotHolder


class ControlApi:
    def __init__(self, holder: SnapshotHolder, reloader: Reloader) -> None:
        self._holder = holder
        self._reloader = reloader

    async def __call__(self, request: InboundRequest, writer: ResponseWriter) -> None:
        if request.path.startswith("/tyk/reload"):
            await self._reloader.reload()
            body = json.dumps({"status": "ok", "message": ""}).encode()
        else:
            body = json.dumps({"status": "pass", "description": "bascule"}).encode()
        writer.send_head(200, b"OK", [(b"Content-Type", b"application/json")], len(body))
        writer.write(body)
        writer.end()
