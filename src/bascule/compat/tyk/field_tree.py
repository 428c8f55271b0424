"""The field tree of a Tyk config model: JSON keys, Go field names and value shapes.

Tyk decodes tyk.conf with `encoding/json` and reads `TYK_GW_*` with envconfig, both by walking its Go
structs. bascule walks the pydantic model instead, so the env variable names and the unknown-key check
derive from one source and are never listed by hand.

Invariants:
- A field's JSON key is its alias when it has one (`global`, `from`), else its Python name.
- A field's Go name is its `GoName` marker when it has one, else unknown (`None`); callers that need a
  Go spelling then use the JSON key without underscores, which is what Tyk's names are in most cases.
- Every field has exactly one `Shape`; a model field of any other type is a programming error
  (`TypeError` when the tree is first walked), so a new field type cannot silently escape env overrides.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

JsonPath = tuple[str | int, ...]
"""Where a value sits in a JSON document: object keys and array indexes from the root."""


@dataclass(frozen=True, slots=True)
class GoName:
    """`Annotated` marker: the Go field behind a JSON key, where upper-cased it is not the key run together.

    Example: `ssl_ciphers: Annotated[list[str], GoName("Ciphers")]` (Tyk's `Ciphers []string
    json:"ssl_ciphers"`), so its real env name ends in `_CIPHERS`, not `_SSLCIPHERS`.
    """

    name: str


class Shape(enum.Enum):
    """How a field's value is written: decides env parsing and how far the unknown-key walk descends."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    LIST = "list"
    """A list of scalars (`item` says which)."""
    MAP = "map"
    """An object of string keys to scalars (`item` says which)."""
    OBJECT = "object"
    """A nested model: its fields are part of the tree."""
    OBJECT_LIST = "object_list"
    """A list of nested models."""
    OBJECT_MAP = "object_map"
    """An object of user-chosen keys to nested models."""
    FREE_OBJECT = "free_object"
    """An object kept as written (`dict[str, Any]`); nothing inside it is checked."""


SCALAR_SHAPES = frozenset({Shape.BOOL, Shape.INT, Shape.FLOAT, Shape.STR})


@dataclass(frozen=True, slots=True)
class FieldNode:
    """One field of a model, as the JSON document and the environment see it."""

    json_key: str
    go_name: str | None
    shape: Shape
    item: Shape | None = None
    """The scalar shape of list items or map values (LIST, MAP); None otherwise."""
    model: type[BaseModel] | None = None
    """The nested model (OBJECT, OBJECT_LIST, OBJECT_MAP); None otherwise."""
    is_secret: bool = False
    """The field is declared `repr=False`: its value is never echoed in a message."""


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _scalar_shape(annotation: Any) -> Shape | None:
    annotation = _strip_annotated(annotation)
    # bool before int: bool is a subclass of int.
    for python_type, shape in ((bool, Shape.BOOL), (int, Shape.INT), (float, Shape.FLOAT), (str, Shape.STR)):
        if annotation is python_type:
            return shape
    if get_origin(annotation) is Literal:
        kinds = {_scalar_shape(type(value)) for value in get_args(annotation)}
        if len(kinds) == 1:
            return kinds.pop()
    return None


def _model_class(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_annotated(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _node(name: str, info: FieldInfo) -> FieldNode:
    json_key = info.alias or name
    go_names = [marker.name for marker in info.metadata if isinstance(marker, GoName)]
    go_name = go_names[0] if go_names else None
    is_secret = not info.repr
    annotation = _strip_annotated(info.annotation)
    scalar = _scalar_shape(annotation)
    if scalar is not None:
        return FieldNode(json_key, go_name, scalar, is_secret=is_secret)
    model = _model_class(annotation)
    if model is not None:
        return FieldNode(json_key, go_name, Shape.OBJECT, model=model, is_secret=is_secret)
    origin, args = get_origin(annotation), get_args(annotation)
    inner = args[-1] if args else None
    inner_model, inner_scalar = _model_class(inner), _scalar_shape(inner)
    if origin is list and inner_model is not None:
        return FieldNode(json_key, go_name, Shape.OBJECT_LIST, model=inner_model, is_secret=is_secret)
    if origin is list and inner_scalar is not None:
        return FieldNode(json_key, go_name, Shape.LIST, item=inner_scalar, is_secret=is_secret)
    if origin is dict and inner is Any:
        return FieldNode(json_key, go_name, Shape.FREE_OBJECT, is_secret=is_secret)
    if origin is dict and inner_model is not None:
        return FieldNode(json_key, go_name, Shape.OBJECT_MAP, model=inner_model, is_secret=is_secret)
    if origin is dict and inner_scalar is not None:
        return FieldNode(json_key, go_name, Shape.MAP, item=inner_scalar, is_secret=is_secret)
    raise TypeError(f"{name}: unsupported field type {info.annotation!r} in a Tyk config model")


def fields_of(model: type[BaseModel]) -> Mapping[str, FieldNode]:
    """The fields of `model` by JSON key, in declaration order (computed once per model)."""
    return _cached_fields_of(model)


@functools.cache
def _cached_fields_of(model: type[BaseModel]) -> Mapping[str, FieldNode]:
    nodes = (_node(name, info) for name, info in model.model_fields.items())
    return MappingProxyType({node.json_key: node for node in nodes})


def node_at(model: type[BaseModel], path: JsonPath) -> FieldNode | None:
    """The field that `path` (from the root of a `model` document) ends in, or None if it names none."""
    node: FieldNode | None = None
    current: type[BaseModel] | None = model
    pending_item = False  # the previous node was a list or map of models: skip its index or key
    for segment in path:
        if pending_item:
            pending_item = False
            continue
        if current is None or not isinstance(segment, str):
            return None
        node = fields_of(current).get(segment)
        if node is None:
            return None
        current = node.model
        pending_item = node.shape in (Shape.OBJECT_LIST, Shape.OBJECT_MAP)
    return node


def find_unknown_keys(document: Mapping[str, Any], model: type[BaseModel]) -> list[JsonPath]:
    """Paths of every key in `document` that `model` does not declare, in document order.

    Descends into nested models, lists of models and maps of models; does not descend into an unknown
    key, into a value of the wrong type (validation reports that) or into a FREE_OBJECT.
    """
    found: list[JsonPath] = []
    _collect_unknown_keys(document, model, (), found)
    return found


def _collect_unknown_keys(
    document: Mapping[str, Any], model: type[BaseModel], prefix: JsonPath, found: list[JsonPath]
) -> None:
    nodes = fields_of(model)
    for key, value in document.items():
        path = (*prefix, key)
        node = nodes.get(key)
        if node is None:
            found.append(path)
            continue
        if node.model is None:
            continue
        children: list[tuple[JsonPath, Any]] = []
        if node.shape is Shape.OBJECT:
            children = [(path, value)]
        elif node.shape is Shape.OBJECT_LIST and isinstance(value, list):
            children = [((*path, index), item) for index, item in enumerate(value)]
        elif node.shape is Shape.OBJECT_MAP and isinstance(value, dict):
            children = [((*path, item_key), item) for item_key, item in value.items()]
        for child_path, child in children:
            if isinstance(child, dict):
                _collect_unknown_keys(child, node.model, child_path, found)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_json_path(path: JsonPath) -> str:
    """`$.a.b[0]`; keys that are not plain identifiers are bracketed: `$.upstream['*']`."""
    parts = ["$"]
    for segment in path:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _PLAIN_KEY.fullmatch(segment):
            parts.append(f".{segment}")
        else:
            escaped = segment.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)
