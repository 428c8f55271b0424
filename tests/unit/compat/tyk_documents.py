"""Minimal Tyk definitions and a way to vary them, shared by the translation tests."""

from __future__ import annotations

import copy
from typing import Any

XT = "x-tyk-api-gateway"
DELETE = object()
"""A `with_changes` value that removes the key."""


def classic(target: str = "http://users-1:8080/api") -> dict[str, Any]:
    return {
        "api_id": "users",
        "name": "users",
        "active": True,
        "proxy": {"listen_path": "/users/", "target_url": target},
    }


def oas(target: str = "http://users-1:8080/api") -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "users", "version": "1.0.0"},
        "paths": {},
        XT: {
            "info": {"id": "users", "name": "users", "state": {"active": True}},
            "server": {"listenPath": {"value": "/users/"}},
            "upstream": {"url": target},
        },
    }


def with_changes(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `document` with `changes` merged in; a dotted key sets a nested field (`DELETE` removes it)."""
    result = copy.deepcopy(document)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = result
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return result
