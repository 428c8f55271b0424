"""The open inbound connections of one process, for graceful shutdown."""

from __future__ import annotations

import asyncio
from typing import Protocol


class DrainableConnection(Protocol):
    def close_when_idle(self) -> None: ...

    def abort(self) -> None: ...


class ConnectionRegistry:
    """The open inbound connections, for graceful shutdown."""

    def __init__(self) -> None:
        self.connections: set[DrainableConnection] = set()
        self.closing = False
        self._idle: asyncio.Event | None = None

    def discard(self, connection: DrainableConnection) -> None:
        self.connections.discard(connection)
        if not self.connections and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Close idle connections, let active ones finish; True if all closed within `timeout`."""
        self.closing = True
        for connection in list(self.connections):
            connection.close_when_idle()
        if not self.connections:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            for connection in list(self.connections):
                connection.abort()
            return False
