"""Keeping secrets out of logs (reliability §3.3, DECISIONS §7): proxy credentials, auth headers, tokens.

A "natural" redactor that parses first (`urlsplit`) leaks schemeless URLs, `//` URLs and passwords with a
`/` in them; these functions cut before parsing anything.

Invariants (`tests/unit/test_redaction.py`, vectors and hypothesis properties):
- `redact_url` replaces everything between `scheme://` (or `//`, or the start) and the LAST `@` with
  `***`. Text with no `@` is returned unchanged; nothing is parsed, so a bad port cannot raise.
- `redact_text` does that to every whitespace-separated word that contains an `@` (after any leading
  quotes or brackets), and replaces the credential after `Basic` or `Bearer` (any case) with `***`. It
  may hide more than a secret (an e-mail's local part), never less.
- `redact_headers` replaces the values of `Authorization`, `Proxy-Authorization`, `X-Tyk-Authorization`,
  `Cookie` and `Set-Cookie` (any case) with `***`, for `str` or `bytes` pairs alike.
- `RedactingFilter` rewrites every record it passes: the formatted message (template and args together,
  so a secret inside an argument's `str()` is caught), the exception text and the stack text go through
  `redact_text`; `args` and `exc_info` are cleared so no formatter can render the originals again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import AnyStr

REDACTED = "***"
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "x-tyk-authorization", "cookie", "set-cookie"})

_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|//")
_WORD_START = re.compile(r"""["'(<\[{=,;]*(?:[A-Za-z][A-Za-z0-9+.-]*://|//)?""")
_WORDS = re.compile(r"(\s+)")
_AUTH_TOKEN = re.compile(r"""\b(basic|bearer)(\s+)[^\s"',;]+""", re.IGNORECASE)


def redact_url(text: str) -> str:
    """`text` (one URL, with or without a scheme) with its user info replaced by `***`."""
    return _cut_userinfo(text, _URL_START.match(text))


def redact_text(text: str) -> str:
    """`text` with user info in URL-like words and `Basic`/`Bearer` credentials replaced by `***`."""
    text = _AUTH_TOKEN.sub(rf"\1\2{REDACTED}", text)
    if "@" not in text:
        return text
    return "".join(_cut_userinfo(word, _WORD_START.match(word)) if "@" in word else word for word in _WORDS.split(text))


def _cut_userinfo(text: str, start: re.Match[str] | None) -> str:
    at = text.rfind("@")
    begin = start.end() if start is not None else 0
    if at < begin:
        return text
    return f"{text[:begin]}{REDACTED}{text[at:]}"


def redact_headers(headers: Iterable[tuple[AnyStr, AnyStr]]) -> list[tuple[AnyStr, AnyStr]]:
    """`headers` with the values of credential-bearing headers replaced by `***`."""
    return [(name, _masked(value) if _is_sensitive(name) else value) for name, value in headers]


def _is_sensitive(name: str | bytes) -> bool:
    lowered = name.decode("latin-1") if isinstance(name, bytes) else name
    return lowered.lower() in SENSITIVE_HEADERS


def _masked(value: AnyStr) -> AnyStr:
    return value[:0] + (REDACTED.encode() if isinstance(value, bytes) else REDACTED)


class RedactingFilter(logging.Filter):
    """Scrubs every record it sees (see the module docstring). Install it on handlers, not loggers:
    a logger's filters do not see records propagated from its children."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # template and args that do not fit, or a failing __str__: keep both, as text
            message = f"{record.msg} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info is not None:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
