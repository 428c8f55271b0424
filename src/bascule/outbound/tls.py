"""TLS contexts for outbound connections, built once and shared (never per request)."""

from __future__ import annotations

import ssl


def verified_client_context() -> ssl.SSLContext:
    """System trust store (and `SSL_CERT_FILE`), hostname checks on, TLS 1.2 minimum, HTTP/1.1 by ALPN."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context
