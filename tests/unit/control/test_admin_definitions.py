from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bascule.control.admin_definitions import (
    definition_path,
    is_directly_in,
    is_safe_api_id,
    remove_definition,
    write_definition,
)


@pytest.mark.parametrize(
    ("api_id", "safe"),
    [
        ("abc", True),
        ("e30bee13ad4248c3b529a4c58bb7be4e", True),
        ("users-api.v2_x", True),
        ("ünïcode", True),
        ("a b", True),
        ("", False),
        (".", False),
        ("..", False),
        ("../x", False),
        ("a/b", False),
        ("a\\b", False),
        ("a\x00b", False),
        ("a\nb", False),
        ("a\x7fb", False),
        ("\udcff", False),
        ("x" * 200, True),
        ("x" * 201, False),
        ("é" * 101, False),  # 202 bytes of UTF-8
    ],
)
def test_is_safe_api_id(api_id: str, safe: bool) -> None:
    assert is_safe_api_id(api_id) is safe


def test_tyk_file_names(tmp_path: Path) -> None:
    assert definition_path(tmp_path, "abc", "classic") == tmp_path / "abc.json"
    assert definition_path(tmp_path, "abc", "oas") == tmp_path / "abc-oas.json"


def test_write_is_indented_json_with_mode_0644_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "abc.json"
    write_definition(path, {"api_id": "abc", "name": "Ünï"})
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"api_id": "abc", "name": "Ünï"}
    assert text.startswith('{\n  "api_id": "abc"')
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc.json"]


def test_replacing_keeps_the_mode_and_the_content_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "abc.json"
    path.write_text("{}")
    os.chmod(path, 0o600)
    write_definition(path, {"api_id": "abc", "big": "x" * 100_000})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["big"] == "x" * 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc.json"]


def test_a_failed_replace_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "abc.json"
    (path / "inside").mkdir(parents=True)  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError):
        write_definition(path, {"api_id": "abc"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc.json"]
    assert path.is_dir()


def test_remove(tmp_path: Path) -> None:
    path = tmp_path / "abc.json"
    path.write_text("{}")
    assert remove_definition(path) is True
    assert not path.exists()
    assert remove_definition(path) is False


def test_is_directly_in(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert is_directly_in(tmp_path / "a.json", tmp_path)
    assert not is_directly_in(tmp_path / "sub" / "a.json", tmp_path)
    assert not is_directly_in(tmp_path / ".." / "a.json", tmp_path)
