"""Listen-path normalisation, as Tyk applies it when an API definition is loaded.

Tyk stores the cleaned form and routes on it (tyk-behaviour §3.1, §5 cases 48-49):

* a leading `/` is added (`foo` -> `/foo`; `""` -> `/`);
* `.` segments are dropped and `..` removes the segment before it, never climbing above the root
  (`/foo/../bar/` -> `/bar/`, `/../..` -> `/`);
* empty segments are dropped, so `//` collapses to `/`;
* a trailing `/` is kept when the value ended with one (`foo/` -> `/foo/`), because `/users/` and
  `/users` are different prefixes to the router.

Key-value references (`env://NAME`, `consul://key`, `vault://path`, `secrets://name`, any `scheme://`
at the start) are returned untouched: they are resolved before routing, and the resolved value is
normalised then.
"""

from __future__ import annotations

import re

from bascule.core.rewrite import clean_path

_KV_REFERENCE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def is_kv_reference(value: str) -> bool:
    """True when `value` starts with a `scheme://` prefix, such as `env://FOO` or `consul://a/b`."""
    return _KV_REFERENCE.match(value) is not None


def normalise_listen_path(value: str) -> str:
    """The cleaned listen path for `value`; see the module docstring for the rules.

    Invariants for every value that is not a KV reference: the result starts with `/`, contains no
    `//`, no `.` or `..` segment, ends with `/` only if it is `/` or `value` ended with `/`, and
    normalising it again returns it unchanged.
    """
    if is_kv_reference(value):
        return value
    return clean_path(value, encoded_dots=False)
