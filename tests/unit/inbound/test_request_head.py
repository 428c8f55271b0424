from __future__ import annotations

import pytest

from bascule.errors import ClientProtocolError
from bascule.inbound.request_head import read_request_head
from bascule.messages import InboundRequest


def head(
    target: bytes, headers: list[tuple[bytes, bytes]], method: str = "GET", version: str = "1.1"
) -> InboundRequest:
    request = InboundRequest()
    request.raw_target, request.headers, request.method, request.version = target, headers, method, version
    read_request_head(request)
    return request


HOST = [(b"Host", b"gw")]


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (b"/", "/", ""),
        (b"/a/b?x=1&y=2", "/a/b", "x=1&y=2"),
        (b"/a?", "/a", ""),
        (b"/a#frag", "/a", ""),
        (b"http://other.example/p?q=1", "/p", "q=1"),
        (b"https://other.example", "/", ""),
        (b"/%28x%29", "/%28x%29", ""),
    ],
)
def test_target_forms(target: bytes, path: str, query: str) -> None:
    request = head(target, HOST)
    assert (request.path, request.query) == (path, query)


def test_options_star_is_allowed() -> None:
    assert head(b"*", HOST, method="OPTIONS").path == "*"


@pytest.mark.parametrize(
    ("target", "headers", "version", "status"),
    [
        (b"relative", HOST, "1.1", 400),
        (b"*", HOST, "1.1", 400),  # only OPTIONS may use *
        (b"/", [], "1.1", 400),
        (b"/", [(b"Host", b"a"), (b"host", b"b")], "1.1", 400),
        (b"/", [*HOST, (b"Expect", b"something-else")], "1.1", 417),
    ],
)
def test_rejections(target: bytes, headers: list[tuple[bytes, bytes]], version: str, status: int) -> None:
    with pytest.raises(ClientProtocolError) as caught:
        head(target, headers, version=version)
    assert caught.value.status == status


def test_http10_may_omit_host() -> None:
    assert head(b"/", [], version="1.0").host == b""


def test_framing_and_connection_headers() -> None:
    request = head(
        b"/",
        [
            (b"HOST", b"gw:8080"),
            (b"Content-Length", b"12"),
            (b"Connection", b"keep-alive, X-Hop"),
            (b"expect", b"100-Continue"),
        ],
    )
    assert request.host == b"gw:8080"
    assert request.content_length == 12
    assert request.connection_tokens == frozenset({b"keep-alive", b"x-hop"})
    assert request.expects_continue
    assert head(b"/", [*HOST, (b"Transfer-Encoding", b"chunked")]).chunked
