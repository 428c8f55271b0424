"""Header rewriting between client and upstream (tyk-behaviour §3.3, RFC 9110 §7.6.1).

Headers travel as `(name, value)` byte pairs in their original case; comparisons use lower-cased names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Header = tuple[bytes, bytes]

# RFC 9110 §7.6.1 plus the de-facto `proxy-connection` and `keep-alive`. `te` survives only as
# `te: trailers` (gRPC needs it); `host` is set by the proxy itself; `expect` is answered by the gateway.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_REQUEST_DROPPED = HOP_BY_HOP | {b"host", b"expect", b"content-length"}
_SET_BY_GATEWAY = frozenset({b"x-forwarded-proto", b"x-forwarded-host"})
_RESPONSE_DROPPED = HOP_BY_HOP | {b"content-length"}
# Header names are compared lower-cased only when their length could match one of these.
_REQUEST_SPECIAL_LENGTHS = frozenset(
    len(name) for name in _REQUEST_DROPPED | _SET_BY_GATEWAY | {b"x-forwarded-for", b"user-agent"}
)
_RESPONSE_DROPPED_LENGTHS = frozenset(len(name) for name in _RESPONSE_DROPPED)


NO_TOKENS: frozenset[bytes] = frozenset()


def connection_tokens(headers: Iterable[Header]) -> frozenset[bytes]:
    """The lower-cased header names listed in `Connection` headers, which must not be forwarded."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(listed_in_connection(value))
    return frozenset(tokens)


def listed_in_connection(value: bytes) -> frozenset[bytes]:
    """The lower-cased tokens of one `Connection` header value."""
    known = _KNOWN_CONNECTION_VALUES.get(value)
    if known is not None:
        return known
    return frozenset(t.strip().lower() for t in value.split(b",") if t.strip())


# Nearly every message says one of these; looking them up spares a split per message on the hot path.
_KNOWN_CONNECTION_VALUES = {
    spelled: frozenset({token})
    for token in (b"keep-alive", b"close", b"upgrade")
    for spelled in (token, token.title(), token.upper())
}


def forwarded_request_headers(
    headers: Sequence[Header],
    client_ip: bytes,
    host: bytes,
    proto: bytes,
    inbound_host: bytes,
    listed: frozenset[bytes] = NO_TOKENS,
    user_agent: bytes = b"",
) -> list[Header]:
    """The headers to send upstream, `Host` first.

    Drops hop-by-hop headers and every header named in `Connection`, keeps `te: trailers`, appends the
    client IP to `X-Forwarded-For` (existing values joined with `, `), and sets `X-Forwarded-Proto` and
    `X-Forwarded-Host` to what this gateway received, replacing any a client sent (as Traefik does for
    untrusted peers: a client cannot claim it came over TLS).
    Framing headers (`Content-Length`, `Transfer-Encoding`) are the caller's to add. `listed` is what the
    `Connection` headers name (`connection_tokens`), found by the caller while it read the head.
    `user_agent`, when given, is added if the client sent none (Tyk adds its own, §3.2 step 6).
    """
    out: list[Header] = [(b"Host", host)]
    forwarded_for: list[bytes] = []
    has_user_agent = False
    maybe_special = _REQUEST_SPECIAL_LENGTHS if not listed else _REQUEST_SPECIAL_LENGTHS | {len(t) for t in listed}
    for name, value in headers:
        if len(name) not in maybe_special:  # most headers: no lower-casing, no set lookups
            out.append((name, value))
            continue
        lname = name.lower()
        if lname in _REQUEST_DROPPED or lname in listed:
            if lname == b"te" and value.strip().lower() == b"trailers":
                out.append((name, value))
            continue
        if lname == b"x-forwarded-for":
            forwarded_for.append(value)
            continue
        if lname in _SET_BY_GATEWAY:
            continue
        if lname == b"user-agent":
            has_user_agent = True
        out.append((name, value))
    forwarded_for.append(client_ip)
    out.append((b"X-Forwarded-For", b", ".join(forwarded_for)))
    if user_agent and not has_user_agent:
        out.append((b"User-Agent", user_agent))
    out.append((b"X-Forwarded-Proto", proto))
    if inbound_host:
        out.append((b"X-Forwarded-Host", inbound_host))
    return out


def forwarded_response_headers(headers: Sequence[Header], listed: frozenset[bytes] = NO_TOKENS) -> list[Header]:
    """The upstream's response headers without hop-by-hop ones, those named in `Connection`, or framing."""
    dropped = _RESPONSE_DROPPED if listed <= _RESPONSE_DROPPED else _RESPONSE_DROPPED | listed
    lengths = _RESPONSE_DROPPED_LENGTHS if dropped is _RESPONSE_DROPPED else {len(name) for name in dropped}
    # A plain loop, not a comprehension: on 3.11 a comprehension is a function call of its own.
    out: list[Header] = []
    for name, value in headers:
        if len(name) not in lengths or name.lower() not in dropped:
            out.append((name, value))
    return out


def encode_head(first_line: bytes, headers: Iterable[Header]) -> bytes:
    """A serialised HTTP/1.1 message head."""
    lines = [first_line]
    for name, value in headers:
        lines.append(name + b": " + value)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)
