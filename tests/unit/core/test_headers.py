"""Tables and properties for `bascule.core.headers` (tyk-behaviour §3.3, §5 case 41, reliability §2.4 S5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.headers import (
    HOP_BY_HOP,
    Header,
    connection_tokens,
    encode_head,
    forwarded_request_headers,
    forwarded_response_headers,
    listed_in_connection,
)


def forward(
    headers: list[Header],
    client_ip: bytes = b"10.0.0.9",
    host: bytes = b"upstream:8080",
    proto: bytes = b"http",
    inbound_host: bytes = b"gw.example.com",
    user_agent: bytes = b"",
) -> list[Header]:
    """As the proxy calls it: the `Connection` tokens are found while the head is read."""
    return forwarded_request_headers(
        headers,
        client_ip,
        host,
        proto,
        inbound_host,
        listed=connection_tokens(headers),
        user_agent=user_agent,
    )


def respond(headers: list[Header]) -> list[Header]:
    return forwarded_response_headers(headers, connection_tokens(headers))


def values(headers: list[Header], name: bytes) -> list[bytes]:
    return [v for n, v in headers if n.lower() == name]


def names(headers: list[Header]) -> set[bytes]:
    return {n.lower() for n, _ in headers}


# --- request: hop-by-hop ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        b"Connection",
        b"Proxy-Connection",
        b"Keep-Alive",
        b"Proxy-Authenticate",
        b"Proxy-Authorization",
        b"TE",
        b"Trailer",
        b"Transfer-Encoding",
        b"Upgrade",
        # set by the proxy or answered by the gateway
        b"Host",
        b"Expect",
        b"Content-Length",
        # any case
        b"connection",
        b"KEEP-ALIVE",
        b"proxy-authorization",
        b"transfer-encoding",
        b"uPgRaDe",
    ],
)
def test_hop_by_hop_request_headers_dropped(name: bytes) -> None:
    out = forward([(name, b"x"), (b"Accept", b"*/*")])
    assert values(out, name.lower()) == ([b"upstream:8080"] if name.lower() == b"host" else [])
    assert (b"Accept", b"*/*") in out


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (b"trailers", True),
        (b"Trailers", True),
        (b" trailers ", True),
        (b"gzip", False),
        (b"trailers, deflate", False),
        (b"", False),
    ],
)
def test_te_kept_only_as_trailers(value: bytes, kept: bool) -> None:
    out = forward([(b"te", value)])
    assert values(out, b"te") == ([value] if kept else [])


def test_te_trailers_keeps_its_name_and_position() -> None:
    out = forward([(b"Content-Type", b"application/grpc"), (b"TE", b"trailers"), (b"grpc-timeout", b"1S")])
    assert out[1:4] == [
        (b"Content-Type", b"application/grpc"),
        (b"TE", b"trailers"),
        (b"grpc-timeout", b"1S"),
    ]


def test_headers_named_in_connection_dropped() -> None:
    out = forward(
        [
            (b"Connection", b"keep-alive, X-Secret,  x-other "),
            (b"X-Secret", b"1"),
            (b"x-other", b"2"),
            (b"X-SECRET", b"3"),
            (b"X-Kept", b"4"),
        ]
    )
    assert names(out) & {b"x-secret", b"x-other", b"connection"} == set()
    assert (b"X-Kept", b"4") in out


def test_several_connection_headers_all_count() -> None:
    out = forward([(b"Connection", b"x-a"), (b"connection", b"x-b"), (b"X-A", b"1"), (b"X-B", b"2"), (b"X-C", b"3")])
    assert names(out) & {b"x-a", b"x-b"} == set()
    assert (b"X-C", b"3") in out


def test_connection_listing_xff_drops_the_incoming_chain() -> None:
    # Go deletes Connection-listed headers before appending the client: only the peer remains.
    out = forward([(b"Connection", b"X-Forwarded-For"), (b"X-Forwarded-For", b"1.2.3.4")], client_ip=b"5.6.7.8")
    assert values(out, b"x-forwarded-for") == [b"5.6.7.8"]


@pytest.mark.parametrize(
    ("given_headers", "expected"),
    [
        ([], frozenset()),
        ([(b"Connection", b"close")], frozenset({b"close"})),
        ([(b"connection", b"Keep-Alive, X-Foo")], frozenset({b"keep-alive", b"x-foo"})),
        ([(b"Connection", b" a ,, b ,")], frozenset({b"a", b"b"})),
        ([(b"Connection", b"a"), (b"CONNECTION", b"B")], frozenset({b"a", b"b"})),
        ([(b"X-Connection", b"a")], frozenset()),
    ],
)
def test_connection_tokens(given_headers: list[Header], expected: frozenset[bytes]) -> None:
    assert connection_tokens(given_headers) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"", frozenset()),
        (b"close", frozenset({b"close"})),
        (b"Keep-Alive, X-Foo", frozenset({b"keep-alive", b"x-foo"})),
        (b" a ,, b ,\t", frozenset({b"a", b"b"})),
    ],
)
def test_listed_in_connection(value: bytes, expected: frozenset[bytes]) -> None:
    assert listed_in_connection(value) == expected


def test_listed_tokens_come_from_the_caller() -> None:
    # The caller collects the tokens while parsing; without them only the fixed hop-by-hop set is dropped.
    headers: list[Header] = [(b"Connection", b"X-A"), (b"X-A", b"1"), (b"X-B", b"2")]
    unlisted = forwarded_request_headers(headers, b"ip", b"up", b"http", b"gw")
    assert (b"X-A", b"1") in unlisted
    listed = forwarded_request_headers(headers, b"ip", b"up", b"http", b"gw", listed=frozenset({b"x-b"}))
    assert names(listed) & {b"x-b", b"connection"} == set()
    assert (b"X-A", b"1") in listed


# --- request: Host, XFF, X-Forwarded-* -------------------------------------------------------------------


def test_host_first_and_replaced() -> None:
    out = forward([(b"Accept", b"*/*"), (b"Host", b"client.example"), (b"host", b"dup")], host=b"up:81")
    assert out[0] == (b"Host", b"up:81")
    assert values(out, b"host") == [b"up:81"]


def test_host_preserved_value_is_whatever_the_caller_passes() -> None:
    out = forward([(b"Host", b"client.example")], host=b"client.example")
    assert out[0] == (b"Host", b"client.example")


def test_case_41_xff_appended() -> None:
    # tyk-behaviour §5 case 41: incoming `abc`, peer test.com:80 -> `abc, test.com`
    out = forward([(b"X-Forwarded-For", b"abc")], client_ip=b"test.com")
    assert values(out, b"x-forwarded-for") == [b"abc, test.com"]


def test_xff_created_when_absent() -> None:
    out = forward([], client_ip=b"192.0.2.1")
    assert values(out, b"x-forwarded-for") == [b"192.0.2.1"]


def test_several_xff_headers_joined_in_order() -> None:
    out = forward(
        [(b"X-Forwarded-For", b"1.1.1.1, 2.2.2.2"), (b"Accept", b"*/*"), (b"x-forwarded-for", b"3.3.3.3")],
        client_ip=b"::1",
    )
    assert values(out, b"x-forwarded-for") == [b"1.1.1.1, 2.2.2.2, 3.3.3.3, ::1"]


@pytest.mark.parametrize(
    ("proto", "inbound_host"),
    [(b"http", b"gw.example.com"), (b"https", b"gw.example.com:8443")],
)
def test_forwarded_proto_and_host_set_by_gateway(proto: bytes, inbound_host: bytes) -> None:
    out = forward(
        [
            (b"X-Forwarded-Proto", b"https"),
            (b"x-forwarded-proto", b"wss"),
            (b"X-Forwarded-Host", b"evil.example"),
        ],
        proto=proto,
        inbound_host=inbound_host,
    )
    assert values(out, b"x-forwarded-proto") == [proto]
    assert values(out, b"x-forwarded-host") == [inbound_host]


def test_no_forwarded_host_without_an_inbound_host() -> None:
    out = forward([(b"X-Forwarded-Host", b"evil.example")], inbound_host=b"")
    assert values(out, b"x-forwarded-host") == []


def test_end_to_end_headers_kept_in_order_and_case() -> None:
    given_headers: list[Header] = [
        (b"Accept", b"application/json"),
        (b"X-Request-ID", b"r1"),
        (b"Cookie", b"a=1"),
        (b"Cookie", b"b=2"),
        (b"User-Agent", b"curl/8"),
        (b"Authorization", b"Bearer t"),
    ]
    out = forward(given_headers, client_ip=b"10.0.0.9", host=b"up", proto=b"http", inbound_host=b"gw")
    assert out == [
        (b"Host", b"up"),
        *given_headers,
        (b"X-Forwarded-For", b"10.0.0.9"),
        (b"X-Forwarded-Proto", b"http"),
        (b"X-Forwarded-Host", b"gw"),
    ]


@pytest.mark.parametrize(
    ("given_headers", "user_agent", "expected"),
    [
        # tyk-behaviour §5 case 43: added only when the client sent none
        ([], b"bascule/1.0", [b"bascule/1.0"]),
        ([(b"User-Agent", b"SomeAgent")], b"bascule/1.0", [b"SomeAgent"]),
        ([(b"user-agent", b"")], b"bascule/1.0", [b""]),
        ([], b"", []),
        ([(b"User-Agent", b"SomeAgent")], b"", [b"SomeAgent"]),
    ],
)
def test_user_agent(given_headers: list[Header], user_agent: bytes, expected: list[bytes]) -> None:
    assert values(forward(given_headers, user_agent=user_agent), b"user-agent") == expected


def test_user_agent_named_in_connection_is_replaced() -> None:
    out = forward([(b"Connection", b"user-agent"), (b"User-Agent", b"x")], user_agent=b"bascule/1.0")
    assert values(out, b"user-agent") == [b"bascule/1.0"]


def test_framing_headers_are_left_to_the_caller() -> None:
    out = forward([(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")])
    assert names(out) & {b"content-length", b"transfer-encoding"} == set()


# --- response --------------------------------------------------------------------------------------------


def test_response_hop_by_hop_and_framing_dropped() -> None:
    headers: list[Header] = [
        (b"Content-Type", b"text/plain"),
        (b"Connection", b"keep-alive, X-Internal"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Content-Length", b"12"),
        (b"Upgrade", b"h2c"),
        (b"Proxy-Authenticate", b"Basic"),
        (b"Trailer", b"grpc-status"),
        (b"X-Internal", b"secret"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"TE", b"trailers"),
    ]
    assert respond(headers) == [
        (b"Content-Type", b"text/plain"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    ]


def test_response_without_connection_header_is_only_filtered() -> None:
    headers: list[Header] = [(b"Server", b"up"), (b"X-A", b"1")]
    assert respond(headers) == headers
    assert forwarded_response_headers(headers) == headers


def test_response_listed_tokens_come_from_the_caller() -> None:
    headers: list[Header] = [(b"Connection", b"x-a"), (b"X-A", b"1"), (b"Content-Length", b"3")]
    assert forwarded_response_headers(headers) == [(b"X-A", b"1")]
    assert forwarded_response_headers(headers, frozenset({b"x-a"})) == []


def test_hop_by_hop_set() -> None:
    assert (
        frozenset(
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
        == HOP_BY_HOP
    )


# --- encode_head -----------------------------------------------------------------------------------------


def test_encode_head() -> None:
    head = encode_head(b"GET /a?b=1 HTTP/1.1", [(b"Host", b"up:8080"), (b"X-A", b"1")])
    assert head == b"GET /a?b=1 HTTP/1.1\r\nHost: up:8080\r\nX-A: 1\r\n\r\n"


def test_encode_head_without_headers() -> None:
    assert encode_head(b"HTTP/1.1 204 No Content", []) == b"HTTP/1.1 204 No Content\r\n\r\n"


def test_encode_head_accepts_an_iterator() -> None:
    head = encode_head(b"GET / HTTP/1.1", iter([(b"Host", b"h")]))
    assert head == b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


# --- properties ------------------------------------------------------------------------------------------

_names = st.sampled_from(
    [
        b"Host",
        b"Connection",
        b"connection",
        b"Keep-Alive",
        b"TE",
        b"Upgrade",
        b"X-Forwarded-For",
        b"X-Forwarded-Proto",
        b"X-Forwarded-Host",
        b"Content-Length",
        b"X-A",
        b"x-b",
        b"Accept",
    ]
)
_values = st.sampled_from([b"", b"1", b"trailers", b"x-a", b"X-A, x-b", b"close", b"a, b"])
_headers = st.lists(st.tuples(_names, _values), max_size=12)


@given(_headers)
def test_request_property(headers: list[Header]) -> None:
    out = forward(headers)
    listed = connection_tokens(headers)
    assert out[0] == (b"Host", b"upstream:8080")
    assert len(values(out, b"host")) == 1
    assert len(values(out, b"x-forwarded-for")) == 1
    assert values(out, b"x-forwarded-for")[0].endswith(b"10.0.0.9")
    assert values(out, b"x-forwarded-proto") == [b"http"]
    assert values(out, b"x-forwarded-host") == [b"gw.example.com"]
    for name, value in out:
        lname = name.lower()
        if lname == b"te":
            assert value.strip().lower() == b"trailers"
            continue
        assert lname not in HOP_BY_HOP
        if lname not in (b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"):
            assert lname not in listed
            assert (name, value) in headers


@given(_headers)
def test_response_property(headers: list[Header]) -> None:
    out = respond(headers)
    listed = connection_tokens(headers)
    assert all(n.lower() not in HOP_BY_HOP | listed | {b"content-length"} for n, _ in out)
    # what is kept keeps its order
    kept = [h for h in headers if h[0].lower() not in HOP_BY_HOP | listed | {b"content-length"}]
    assert out == kept
