"""Webhook body templates: the subset of Go's `html/template` that Tyk webhook bodies use (tyk-behaviour §3.11).

Rules:
1. Text outside `{{ }}` is copied as is.
2. `{{.Field}}` and `{{.A.B}}` insert the value at that key path of the data; the path walks nested Mappings.
   Spaces, tabs and newlines may surround the path: `{{ .Meta.Message }}`.
3. `{{- ` trims every space, tab, CR and LF before the action; ` -}}` trims them after it. As in Go, the marker
   needs the whitespace next to it: `{{-3}}` and `{{.A-}}` are not trim markers (and are rejected).
4. `{{/* ... */}}` is a comment (it may span lines and take trim markers, `{{- /* x */ -}}`); as in Go it must
   start and end at the delimiters.
5. Anything else inside `{{ }}` - `if`, `range`, `else`, `end`, pipelines `|`, function calls, arguments,
   variables `$x`, literals, `{{.}}`, an empty action - and an unclosed action or comment raise
   `TemplateError` when the template is compiled, with the offset, line and column of the `{{`.
6. Values are formatted as Go's `fmt` prints them (`true`/`false`, integers, floats in `%v` form such as
   `0.25` or `1e+06`; other objects by `str`) and escaped as `html/template` escapes HTML text: `&` `&amp;`,
   `'` `&#39;`, `<` `&lt;`, `>` `&gt;`, `"` `&#34;`, `+` `&#43;`, NUL U+FFFD.

Departures from Go: a missing key, a None value, or a path through something that is not a Mapping renders
"" (Go prints nothing for a missing map key but fails the execution for a struct field it cannot find, and
Tyk then sends no webhook). Values are always escaped as HTML text; Go's contextual escaping inside tags,
attributes, scripts and URLs is not modelled (Tyk's webhook bodies are JSON, which is text to `html/template`).
Tyk's own `default_webhook.json` picks its body with `{{if eq .Type "HostDown"}}`, which this subset rejects:
bascule's default bodies are written per event.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["TemplateError", "WebhookTemplate", "compile_template"]

_SPACE = " \t\r\n"
_SPACE_CHARS = frozenset(_SPACE)
_FIELD = re.compile(r"(?:\.[^\W\d]\w*)+")
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"})
_ESCAPES = str.maketrans(
    {"\0": "\ufffd", '"': "&#34;", "&": "&amp;", "'": "&#39;", "+": "&#43;", "<": "&lt;", ">": "&gt;"}
)

Part = str | tuple[str, ...]
"""Literal text, or the key path of a value."""


class TemplateError(ValueError):
    """A template uses something outside the supported subset, or is malformed."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.position = position
        self.line = text.count("\n", 0, position) + 1
        self.column = position - (text.rfind("\n", 0, position) + 1) + 1
        super().__init__(f"line {self.line}, column {self.column}: {message}")


@dataclass(frozen=True, slots=True)
class WebhookTemplate:
    """A compiled template: literal text and key paths, in order."""

    parts: tuple[Part, ...]

    def render(self, data: Mapping[str, object]) -> str:
        return "".join(part if isinstance(part, str) else _escape(_lookup(data, part)) for part in self.parts)


def compile_template(text: str) -> WebhookTemplate:
    """Split `text` once into literal text and key paths (rules 1-5)."""
    parts: list[Part] = []
    pending: list[str] = []
    position = 0
    trim_after = False
    while True:
        start = text.find("{{", position)
        literal = text[position:] if start < 0 else text[position:start]
        if trim_after:
            literal = literal.lstrip(_SPACE)
        if start < 0:
            pending.append(literal)
            break
        inner = start + 2
        trim_before = text.startswith("-", inner) and text[inner + 1 : inner + 2] in _SPACE_CHARS  # `{{- `
        if trim_before:
            literal = literal.rstrip(_SPACE)
            inner += 2
        pending.append(literal)
        path, position, trim_after = _parse_action(text, start, inner)
        if path is not None:
            parts.append("".join(pending))
            pending = []
            parts.append(path)
    parts.append("".join(pending))
    return WebhookTemplate(tuple(part for part in parts if part != ""))


def _parse_action(text: str, start: int, inner: int) -> tuple[tuple[str, ...] | None, int, bool]:
    """The key path (None for a comment), the offset after `}}` and whether ` -}}` closed the action."""
    if text.startswith("/*", inner):
        close = text.find("*/", inner + 2)
        if close < 0:
            raise TemplateError("unclosed comment", text, start)
        end = _right_delimiter(text, close + 2)
        if end is None:
            raise TemplateError("comment ends before closing delimiter", text, start)
        return None, *end
    first = _skip_space(text, inner)
    match = _FIELD.match(text, first)
    if match is not None:
        # Go's lexer skips the spaces after a value but keeps the one before a ` -}}`.
        close = _skip_space(text, match.end())
        end = _right_delimiter(text, close - 1) if close > match.end() else None
        end = end or _right_delimiter(text, close)
        if end is not None:
            return tuple(match.group()[1:].split(".")), *end
    raise TemplateError(_unsupported(text, start, first), text, start)


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE_CHARS:
        position += 1
    return position


def _right_delimiter(text: str, position: int) -> tuple[int, bool] | None:
    """Go's `atRightDelim`: ` -}}` (any one space character before the `-`) or `}}` at `position`."""
    if text[position : position + 1] in _SPACE_CHARS and text.startswith("-}}", position + 1):
        return position + 4, True
    if text.startswith("}}", position):
        return position + 2, False
    return None


def _unsupported(text: str, start: int, first: int) -> str:
    close = text.find("}}", first)
    if close < 0:
        return "unclosed action"
    body = text[first:close]
    if body.endswith("-") and text[close - 2 : close - 1] in _SPACE_CHARS:  # a ` -}}` trim marker
        body = body[:-1]
    body = body.strip(_SPACE)
    shown = "{{" + text[start + 2 : close] + "}}"
    if not body:
        return f"empty action {shown}"
    word = re.split(r"[\s(|]", body, maxsplit=1)[0]
    if word in _KEYWORDS:
        reason = f"{{{{{word}}}}} is not supported"
    elif "|" in body:
        reason = "pipelines are not supported"
    elif body.startswith("$"):
        reason = "variables are not supported"
    elif body == ".":
        reason = "{{.}} is not supported"
    elif _FIELD.match(body):
        reason = "only spaces and `}}` may follow the field"
    else:
        reason = "function calls and literals are not supported"
    return f"unsupported action {shown}: {reason}; only {{{{.Field}}}}, {{{{.A.B}}}} and comments are"


def _lookup(data: Mapping[str, object], path: tuple[str, ...]) -> object:
    value: object = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _escape(value: object) -> str:
    return _go_text(value).translate(_ESCAPES)


def _go_text(value: object) -> str:
    """`fmt.Sprint` of a JSON-like value, None as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """Go's `%v` of a float64 (`strconv` 'g', shortest): exponent form when the exponent is < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    digits = "".join(map(str, digit_tuple))
    minus = "-" if sign else ""
    point = len(digits) + exponent  # digits before the decimal point
    if not -4 <= point - 1 < 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{minus}{digits}{'0' * (point - len(digits))}"
    return f"{minus}{digits[:point]}.{digits[point:]}"
