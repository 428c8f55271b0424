"""Tyk's value rules for API definitions, shared by the translators: where problems go, Go durations, base64
bodies, non-negative numbers, absolute http(s) URLs, sub-objects validated at a JSON path. Pure."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

UNSAFE_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f]")
"""Whitespace or a control character: never valid in a URL bascule sends (Go accepts some and fails later)."""

_NANOSECONDS: Mapping[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION = re.compile(f"(?:{_DURATION_PART.pattern})+")
_MAX_NANOSECONDS = 2**63 - 1

Model = TypeVar("Model", bound=BaseModel)


class ProblemSink(Protocol):
    """Where problems go: `translate_api._Problems`, or a list in tests."""

    def add(self, json_path: str, message: str) -> None: ...


def parse_go_duration(text: str) -> float:
    """Seconds for a Go duration string (`time.ParseDuration`); raises ValueError. `"1h30m"` -> 5400.0."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits == "0":
        return 0.0
    if not _DURATION.fullmatch(digits):
        raise ValueError(f'invalid duration {text!r}; use Go syntax such as "2s", "500ms" or "1h30m"')
    total = sum(Fraction(number) * _NANOSECONDS[unit] for number, unit in _DURATION_PART.findall(digits))
    nanoseconds = int(total)  # Go truncates a fraction of a nanosecond
    if nanoseconds > _MAX_NANOSECONDS:
        raise ValueError(f"duration {text!r} is out of range")
    return (-nanoseconds if text.startswith("-") else nanoseconds) / 1e9


def require_http_url(url: str, path: str, problems: ProblemSink) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or UNSAFE_URL_CHARACTER.search(url):
        written = f"{url!r} is not" if url else "is empty, not"
        problems.add(path, f"{path.rpartition('.')[2]} {written} an absolute http:// or https:// URL")
    return url


def duration_at(text: str, path: str, problems: ProblemSink) -> float:
    """Seconds of an OAS duration field; "" (absent) is 0, as in Tyk."""
    if not text:
        return 0.0
    try:
        seconds = parse_go_duration(text)
    except ValueError as error:
        problems.add(path, str(error))
        return 0.0
    if seconds < 0:
        problems.add(path, f"duration {text!r} must not be negative")
        return 0.0
    return seconds


def base64_at(text: str, path: str, problems: ProblemSink) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        problems.add(path, "body is not valid base64 (Classic check bodies are base64-encoded)")
        return b""


def non_negative_at(value: int, path: str, problems: ProblemSink) -> int:
    if value < 0:
        problems.add(path, f"{path.rpartition('.')[2]} must not be negative (got {value})")
        return 0
    return value


def validate_at(model: type[Model], data: Mapping[str, Any], path: str, problems: ProblemSink) -> Model | None:
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        for detail in error.errors():
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
            problems.add(path + where, str(detail["msg"]))
        return None
