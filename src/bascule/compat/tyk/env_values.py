"""Parsing one `TYK_GW_*` value into the JSON value it stands for, as Tyk's envconfig does.

Forms, by the shape of the field (`field_tree.Shape`):
- bool: Go `strconv.ParseBool`: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False; nothing else.
- int: Go `strconv.ParseInt(s, 0, 64)`: decimal, `0x` hex, `0o` or leading-`0` octal, `0b` binary,
  `_` between digits.
- float: a finite decimal number (`NaN` and `Inf` are refused: no tyk.conf float means them).
- string: the value as is.
- list of scalars: comma-separated; an empty value is an empty list.
- map of scalars: `key:value,key2:value2` (each item exactly one `:`, as envconfig requires), or a
  JSON object when the value starts with `{` (bascule extension: lets a value hold `,` or `:`).
- list of objects: a JSON array; map of objects and free-form objects: a JSON object.
Surrounding spaces are ignored everywhere except in a plain string (Go would refuse them).
Range and type of each element are checked afterwards, by the model, like any value from the file.
"""

from __future__ import annotations

import json
import math
import re

from bascule.compat.tyk.field_tree import FieldNode, Shape

GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_GO_LEGACY_OCTAL = re.compile(r"[+-]?0[0-7_]+")
_JSON_TYPE_NAMES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def parse_go_bool(text: str) -> bool:
    """Go `strconv.ParseBool`; ValueError for anything else (`yes`, `on`, `tRuE`, "")."""
    text = text.strip()
    if text in GO_TRUE:
        return True
    if text in GO_FALSE:
        return False
    raise ValueError(
        f"invalid boolean {text!r} (expected one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)"
    )


def parse_go_int(text: str) -> int:
    """Go `strconv.ParseInt(s, 0, 64)`: base from the prefix; ValueError otherwise."""
    stripped = text.strip()
    try:
        return int(stripped, 0)
    except ValueError:
        if _GO_LEGACY_OCTAL.fullmatch(stripped):
            return int(stripped, 8)
    raise ValueError(f"invalid integer {text!r}")


def parse_finite_float(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"invalid number {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"invalid number {text!r} (must be finite)")
    return value


def parse_scalar(shape: Shape, text: str) -> bool | int | float | str:
    if shape is Shape.BOOL:
        return parse_go_bool(text)
    if shape is Shape.INT:
        return parse_go_int(text)
    if shape is Shape.FLOAT:
        return parse_finite_float(text)
    return text


def parse_env_value(node: FieldNode, text: str) -> object:
    """The JSON value `text` stands for in field `node`; ValueError with a message naming the problem."""
    if node.shape in (Shape.BOOL, Shape.INT, Shape.FLOAT, Shape.STR):
        return parse_scalar(node.shape, text)
    if node.shape is Shape.LIST:
        assert node.item is not None
        return [parse_scalar(node.item, part.strip()) for part in text.split(",") if part.strip()]
    if node.shape is Shape.MAP:
        assert node.item is not None
        if text.lstrip().startswith("{"):
            return _parse_json(text, dict)
        return _parse_pairs(node.item, text)
    if node.shape is Shape.OBJECT_LIST:
        return _parse_json(text, list)
    return _parse_json(text, dict)


def _parse_pairs(item: Shape, text: str) -> dict[str, object]:
    pairs: dict[str, object] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        parts = pair.split(":")
        if len(parts) != 2:
            raise ValueError(f"invalid map item {pair!r} (expected key:value)")
        key, value = parts
        pairs[key.strip()] = parse_scalar(item, value.strip())
    return pairs


def _parse_json(text: str, expected: type[dict[str, object]] | type[list[object]]) -> object:
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(value, expected):
        raise ValueError(f"expected a JSON {_JSON_TYPE_NAMES[expected]}, got {_JSON_TYPE_NAMES[type(value)]}")
    return value


def _refuse_constant(name: str) -> object:
    raise ValueError(f"invalid JSON: {name} is not a JSON value")
