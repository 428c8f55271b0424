from __future__ import annotations

import pytest

from bascule.middleware.access import DISALLOWED, MISSING, refusal


@pytest.mark.parametrize(
    ("keyless", "headers", "expected"),
    [
        (True, [], None),
        (True, [(b"Authorization", b"key")], None),
        (False, [], MISSING),
        (False, [(b"X-Other", b"1")], MISSING),
        (False, [(b"Authorization", b"Bearer abc")], DISALLOWED),
        (False, [(b"authorization", b"")], DISALLOWED),
    ],
)
def test_refusal(keyless: bool, headers: list[tuple[bytes, bytes]], expected: tuple[int, str] | None) -> None:
    assert refusal(keyless, headers) == expected
