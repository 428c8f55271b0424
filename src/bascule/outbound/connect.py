"""Opening connections: the one place where bascule dials out.

Errors leave this module named by phase (`bascule.errors`): a name that does not resolve is an
`UpstreamHostLookupError`, a refused or unreachable peer an `UpstreamConnectError`, a dial that takes longer
than its budget an `UpstreamTimeout("connect")`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import TypeVar

from bascule.core.upstream_url import Origin
from bascule.errors import UpstreamConnectError, UpstreamHostLookupError, UpstreamTimeout

P = TypeVar("P", bound=asyncio.Protocol)

__all__ = ["DirectConnector", "Origin"]


class DirectConnector:
    """Dials the origin itself, with TLS when the origin asks for it."""

    def __init__(self, tls_context: ssl.SSLContext | None) -> None:
        self._tls_context = tls_context

    async def open(self, origin: Origin, protocol_factory: Callable[[], P], timeout: float) -> P:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if origin.tls:
            tls = self._tls_context or ssl.create_default_context()
        try:
            async with asyncio.timeout(timeout if timeout > 0 else None):
                _, protocol = await loop.create_connection(
                    protocol_factory,
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls is not None else None,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout("connect") from exc
        except socket.gaierror as exc:
            raise UpstreamHostLookupError(f"{origin}: {exc.strerror}") from exc
        except ssl.SSLError as exc:
            raise UpstreamConnectError(f"{origin}: TLS handshake failed: {exc.reason or exc}") from exc
        except OSError as exc:
            raise UpstreamConnectError(f"{origin}: {exc.strerror or exc}") from exc
        return protocol
