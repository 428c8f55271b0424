"""load_gateway_settings: file + environment -> GatewaySettings, with warnings and blamed problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bascule.compat.tyk.load_gateway import LoadedGateway, load_gateway_settings
from bascule.errors import ConfigError, ConfigProblem


def write_conf(directory: Path, content: object, name: str = "tyk.conf") -> Path:
    path = directory / name
    text = content if isinstance(content, str) else json.dumps(content)
    path.write_text(text, encoding="utf-8")
    return path


def load_problems(path: Path | None, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_gateway_settings(path, environ or {})
    return caught.value.problems


# --- defaults and a good file -----------------------------------------------------------------------


def test_no_file_gives_the_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_gateway_settings(None, {})
    settings = loaded.settings
    assert loaded.warnings == ()
    assert settings.source is None
    assert settings.listen_port == 8080
    assert settings.app_path == tmp_path / "apps"
    assert settings.storage.kind == "memory"
    assert settings.secret == ""
    assert settings.raw["listen_port"] == 8080


def test_no_file_still_takes_the_environment() -> None:
    loaded = load_gateway_settings(None, {"TYK_GW_LISTENPORT": "9090", "TYK_GW_STORAGE_TYPE": "redis"})
    assert loaded.settings.listen_port == 9090
    assert loaded.settings.storage.kind == "redis"


def test_a_good_file_loads(tmp_path: Path) -> None:
    conf = write_conf(
        tmp_path,
        {
            "listen_port": 8181,
            "secret": "s",
            "app_path": "/etc/tyk/apps",
            "storage": {"type": "redis", "host": "r", "port": 6380},
            "http_server_options": {"read_timeout": 10},
            "external_services": {"global": {"enabled": True, "http_proxy": "http://p:3128"}},
        },
    )
    loaded = load_gateway_settings(conf, {})
    assert loaded == LoadedGateway(loaded.settings, ())
    settings = loaded.settings
    assert settings.source == conf
    assert (settings.listen_port, settings.secret, settings.app_path) == (8181, "s", Path("/etc/tyk/apps"))
    assert (settings.storage.kind, settings.storage.host, settings.storage.port) == ("redis", "r", 6380)
    assert settings.http_server.read_timeout == 10.0
    assert settings.raw["external_services"]["global"]["http_proxy"] == "http://p:3128"


def test_a_relative_app_path_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "work").mkdir()
    conf = write_conf(tmp_path / "etc", {"app_path": "defs"})
    work = tmp_path / "work"
    monkeypatch.chdir(work)
    assert load_gateway_settings(conf, {}).settings.app_path == work / "defs"


def test_env_beats_the_file(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, {"listen_port": 8181, "storage": {"host": "file-host"}})
    settings = load_gateway_settings(conf, {"TYK_GW_LISTEN_PORT": "8282", "TYK_GW_STORAGE_HOST": "env-host"}).settings
    assert (settings.listen_port, settings.storage.host) == (8282, "env-host")
    assert settings.raw["storage"]["host"] == "env-host"


# --- TYK_GW_OMITCONFIGFILE --------------------------------------------------------------------------


def test_omit_config_file_discards_the_file_without_reading_it(tmp_path: Path) -> None:
    loaded = load_gateway_settings(
        tmp_path / "missing.conf", {"TYK_GW_OMITCONFIGFILE": "true", "TYK_GW_LISTENPORT": "7000"}
    )
    assert loaded.settings.source is None
    assert loaded.settings.listen_port == 7000


def test_omit_config_file_discards_the_file_values(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, {"listen_port": 8181, "secret": "from-file"})
    settings = load_gateway_settings(conf, {"TYK_GW_OMITCONFIGFILE": "TRUE"}).settings
    assert (settings.listen_port, settings.secret) == (8080, "")


# --- files that cannot be used ----------------------------------------------------------------------


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    [problem] = load_problems(missing)
    assert (problem.file, problem.json_path) == (missing, "$")
    assert "cannot read the file" in problem.message
    assert "No such file" in problem.message


def test_a_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    [problem] = load_problems(tmp_path)
    assert (problem.file, problem.json_path) == (tmp_path, "$")


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, '{\n  "listen_port": 8080,\n  "secret": \n}\n')
    [problem] = load_problems(conf)
    assert (problem.file, problem.json_path) == (conf, "$")
    assert problem.message == "invalid JSON: Expecting value at line 4 column 1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "tyk.conf must be a JSON object"),
        ('"text"', "tyk.conf must be a JSON object"),
        ('{"proxy_default_timeout": NaN}', "invalid JSON: NaN is not a JSON value"),
    ],
)
def test_documents_that_are_not_json_objects(tmp_path: Path, content: str, message: str) -> None:
    conf = write_conf(tmp_path, content)
    assert load_problems(conf) == [ConfigProblem(conf, "$", message)]


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    conf = tmp_path / "tyk.conf"
    conf.write_bytes(b'{"secret": "\xff"}')
    [problem] = load_problems(conf)
    assert (problem.file, problem.json_path) == (conf, "$")
    assert "cannot read the file" in problem.message


# --- wrong values -----------------------------------------------------------------------------------


def test_every_wrong_value_is_reported_with_file_and_json_path(tmp_path: Path) -> None:
    conf = write_conf(
        tmp_path,
        {
            "listen_port": "abc",
            "log_level": "loud",
            "http_server_options": {"read_timeout": -1},
            "storage": {"port": 70000, "type": "mongo"},
        },
    )
    problems = load_problems(conf)
    assert [(problem.file, problem.json_path) for problem in problems] == [
        (conf, "$.listen_port"),
        (conf, "$.log_level"),
        (conf, "$.http_server_options.read_timeout"),
        (conf, "$.storage.type"),
        (conf, "$.storage.port"),
    ]
    assert str(problems[0]) == f"{conf}: $.listen_port: Input should be a valid integer, got 'abc'"


def test_a_bad_env_value_is_blamed_on_the_variable(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, {"listen_port": 8080})
    [problem] = load_problems(conf, {"TYK_GW_HTTPSERVEROPTIONS_USESSL": "yes"})
    assert (problem.file, problem.json_path) == (None, "TYK_GW_HTTPSERVEROPTIONS_USESSL")


def test_an_out_of_range_env_value_is_blamed_on_the_variable_not_the_file(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, {"listen_port": 8080})
    [problem] = load_problems(conf, {"TYK_GW_LISTENPORT": "70000"})
    assert problem == ConfigProblem(
        None, "TYK_GW_LISTENPORT", "$.listen_port: Input should be less than or equal to 65535, got 70000"
    )


def test_env_and_file_problems_are_reported_together(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, {"log_level": "loud"})
    problems = load_problems(conf, {"TYK_GW_LISTENPORT": "x", "TYK_GW_PORTWHITELIST": '{"http": {"ports": [99999]}}'})
    assert [(problem.file, problem.json_path) for problem in problems] == [
        (None, "TYK_GW_LISTENPORT"),
        (conf, "$.log_level"),
        (None, "TYK_GW_PORTWHITELIST"),
    ]
    assert problems[2].message.startswith("$.ports_whitelist.http.ports[0]: ")


def test_a_secret_from_the_file_is_not_echoed(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, {"storage": {"password": 987654321}})
    [problem] = load_problems(conf)
    assert "987654321" not in str(problem)


# --- warnings ---------------------------------------------------------------------------------------


def test_unknown_keys_warn_once_each_with_file_and_path(tmp_path: Path) -> None:
    conf = write_conf(
        tmp_path,
        {
            "listen_port": 8080,
            "enable_jsvm": True,
            "http_server_options": {"foo": 1, "use_ssl": False},
            "external_services": {"oauth": {"mtls": {"cert": "x"}}},
        },
    )
    loaded = load_gateway_settings(conf, {})
    assert loaded.warnings == (
        f"{conf}: $.enable_jsvm: unknown key, ignored",
        f"{conf}: $.http_server_options.foo: unknown key, ignored",
        f"{conf}: $.external_services.oauth.mtls.cert: unknown key, ignored",
    )
    assert "enable_jsvm" not in loaded.settings.raw


def test_env_warnings_are_returned(tmp_path: Path) -> None:
    loaded = load_gateway_settings(
        None,
        {
            "TYK_GW_ENABLEJSVM": "true",
            "TYK_GW_LISTENPORT": "1",
            "TYK_GW_LISTEN_PORT": "2",
            "TYK_GW_PORTWHITELIST": '{"http": {"ports": [80], "extra": 1}}',
        },
    )
    assert loaded.settings.listen_port == 1
    assert loaded.warnings == (
        "<config>: TYK_GW_LISTEN_PORT: ignored: TYK_GW_LISTENPORT is also set and takes precedence",
        "<config>: TYK_GW_ENABLEJSVM: unknown variable, ignored",
        "<config>: TYK_GW_PORTWHITELIST: $.ports_whitelist.http.extra: unknown key, ignored",
    )
