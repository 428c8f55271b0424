"""tyk.conf models, their field tree, problem blame and the translation to GatewaySettings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bascule.compat.tyk.conf_problems import problem_at, unknown_key_warnings, validate_document
from bascule.compat.tyk.field_tree import (
    FieldNode,
    JsonPath,
    Shape,
    fields_of,
    find_unknown_keys,
    format_json_path,
    node_at,
)
from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.translate_gateway import translate_gateway
from bascule.config.gateway import GatewaySettings, UptimeSettings
from bascule.errors import ConfigError, ConfigProblem

CONF = Path("tyk.conf")
CWD = Path("/srv/gateway")


def validate(document: dict[str, Any]) -> TykGatewayConf:
    return TykGatewayConf.model_validate(document)


def translate(document: dict[str, Any], cwd: Path = CWD) -> GatewaySettings:
    return translate_gateway(validate(document), source=CONF, cwd=cwd)


def problems_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        validate_document(document, TykGatewayConf, file=CONF, origins={})
    return [(problem.json_path, problem.message) for problem in caught.value.problems]


# --- defaults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("listen_address",), ""),
        (("listen_port",), 8080),
        (("control_api_port",), 0),
        (("secret",), ""),  # not Tyk's built-in secret: an empty secret disables the control API
        (("app_path",), "apps/"),
        (("template_path",), "templates"),
        (("log_level",), "info"),
        (("proxy_default_timeout",), 0.0),
        (("graceful_shutdown_timeout_duration",), 30),
        (("health_check_endpoint_name",), "hello"),
        (("readiness_check_endpoint_name",), "ready"),
        (("http_server_options", "read_timeout"), 0),
        (("http_server_options", "enable_websockets"), False),
        (("http_server_options", "ssl_ciphers"), []),
        (("storage", "type"), ""),
        (("storage", "host"), "localhost"),
        (("storage", "port"), 6379),
        (("storage", "optimisation_max_idle"), 100),
        (("storage", "optimisation_max_active"), 500),
        (("storage", "tls_min_version"), ""),
        (("external_services", "global", "enabled"), False),
        (("external_services", "webhooks", "mtls", "ca_cert_ids"), []),
        (("uptime_tests", "config", "failure_trigger_sample_size"), 3),
        (("uptime_tests", "config", "time_wait"), 10),
        (("service_discovery", "default_cache_timeout"), 0),
        (("security", "certificates", "upstream"), {}),
        (("ports_whitelist",), {}),
        (("analytics_config",), {}),
        (("jwks", "cache", "timeout"), 240),
        (("hide_generator_header",), False),
    ],
)
def test_an_empty_document_has_tyk_defaults(path: tuple[str, ...], expected: object) -> None:
    value: Any = validate({}).model_dump(by_alias=True)
    for key in path:
        value = value[key]
    assert value == expected


def test_json_null_keeps_the_default_as_in_go() -> None:
    conf = validate({"listen_port": None, "http_server_options": {"ssl_certificates": None}, "storage": None})
    assert conf.listen_port == 8080
    assert conf.http_server_options.ssl_certificates == []
    assert conf.storage.port == 6379


def test_a_full_document_keeps_every_section() -> None:
    conf = validate(
        {
            "external_services": {
                "global": {"enabled": True, "http_proxy": "http://proxy:3128", "bypass_proxy": "localhost"},
                "oauth": {"mtls": {"enabled": True, "cert_file": "/c.pem", "tls_min_version": "1.3"}},
                "webhooks": {"mtls": {"cert_id": "abc", "ca_cert_ids": ["x", "y"]}},
            },
            "ports_whitelist": {"tls": {"ports": [443], "ranges": [{"from": 8000, "to": 8100}]}},
            "security": {"certificates": {"upstream": {"*": "/certs/default.pem"}, "apis": ["a"]}},
            "http_server_options": {"certificates": [{"domain_name": "a.com", "cert_file": "c", "key_file": "k"}]},
            "analytics_config": {"type": "", "anything": [1, 2]},
            "proxy_default_timeout": 7,
        }
    )
    assert conf.external_services.global_.http_proxy == "http://proxy:3128"
    assert conf.external_services.oauth.mtls.tls_min_version == "1.3"
    assert conf.external_services.webhooks.mtls.ca_cert_ids == ["x", "y"]
    assert conf.ports_whitelist["tls"].ranges[0].from_ == 8000
    assert conf.security.certificates.upstream == {"*": "/certs/default.pem"}
    assert conf.http_server_options.certificates[0].domain_name == "a.com"
    assert conf.analytics_config == {"type": "", "anything": [1, 2]}
    assert conf.proxy_default_timeout == 7.0  # an int is a valid float, as in Go


@pytest.mark.parametrize(("written", "level"), [("DEBUG", "debug"), ("Warn", "warn"), ("", "info")])
def test_log_level_is_read_case_insensitively_and_empty_is_info(written: str, level: str) -> None:
    assert validate({"log_level": written}).log_level == level


# --- wrong types and values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "json_path", "message_part"),
    [
        ({"listen_port": "abc"}, "$.listen_port", "valid integer, got 'abc'"),
        ({"listen_port": "8080"}, "$.listen_port", "valid integer"),  # strict, like encoding/json
        ({"listen_port": 70000}, "$.listen_port", "less than or equal to 65535"),
        ({"listen_port": -1}, "$.listen_port", "greater than or equal to 0"),
        ({"control_api_port": 65536}, "$.control_api_port", "65535"),
        ({"enable_custom_domains": 1}, "$.enable_custom_domains", "valid boolean"),
        ({"log_level": "loud"}, "$.log_level", "'debug', 'info', 'warn' or 'error'"),
        (
            {"http_server_options": {"read_timeout": -1}},
            "$.http_server_options.read_timeout",
            "greater than or equal to 0",
        ),
        ({"http_server_options": {"ssl_ciphers": "A,B"}}, "$.http_server_options.ssl_ciphers", "valid list"),
        ({"storage": {"type": "mongo"}}, "$.storage.type", "'memory' or 'redis'"),
        ({"storage": {"tls_min_version": "1.4"}}, "$.storage.tls_min_version", "'1.3'"),
        (
            {"external_services": {"oauth": {"mtls": {"tls_max_version": "TLS1.2"}}}},
            "$.external_services.oauth.mtls.tls_max_version",
            "'1.2'",
        ),
        ({"proxy_default_timeout": -0.5}, "$.proxy_default_timeout", "greater than or equal to 0"),
        ({"ports_whitelist": {"http": {"ports": [80, 99999]}}}, "$.ports_whitelist.http.ports[1]", "65535"),
        (
            {"ports_whitelist": {"http": {"ranges": [{"from": 9000, "to": 8000}]}}},
            "$.ports_whitelist.http.ranges[0]",
            "from (9000) must not exceed to (8000)",
        ),
        (
            {"security": {"certificates": {"upstream": {"*": 1}}}},
            "$.security.certificates.upstream['*']",
            "string",
        ),
        ({"analytics_config": []}, "$.analytics_config", "valid dictionary"),
        ({"storage": "redis"}, "$.storage", "valid dictionary"),
    ],
)
def test_wrong_types_and_values_name_the_json_path(document: dict[str, Any], json_path: str, message_part: str) -> None:
    [(path, message)] = problems_of(document)
    assert path == json_path
    assert message_part in message


def test_every_problem_is_reported_not_only_the_first() -> None:
    problems = problems_of({"listen_port": "abc", "log_level": "loud", "http_server_options": {"write_timeout": -1}})
    assert [path for path, _ in problems] == [
        "$.listen_port",
        "$.log_level",
        "$.http_server_options.write_timeout",
    ]


@pytest.mark.parametrize(
    "document",
    [
        {"secret": 123456789},
        {"storage": {"password": 123456789}},
        {"storage": {"sentinel_password": 123456789}},
        {"security": {"private_certificate_encoding_secret": 123456789}},
    ],
)
def test_a_secret_value_is_never_echoed(document: dict[str, Any]) -> None:
    [(_, message)] = problems_of(document)
    assert "123456789" not in message
    assert "valid string" in message


def test_a_secret_is_not_in_the_repr() -> None:
    conf = validate({"secret": "s3cr3t", "storage": {"password": "pw-x"}})
    assert "s3cr3t" not in repr(conf)
    assert "pw-x" not in repr(conf.storage)


def test_a_long_value_is_not_echoed() -> None:
    [(_, message)] = problems_of({"listen_port": "x" * 100})
    assert "xxxx" not in message


def test_a_problem_under_an_env_override_is_blamed_on_the_variable() -> None:
    origins: dict[JsonPath, str] = {("ports_whitelist",): "TYK_GW_PORTWHITELIST"}
    assert problem_at(("ports_whitelist", "http", "ports", 0), "bad", file=CONF, origins=origins) == (
        ConfigProblem(None, "TYK_GW_PORTWHITELIST", "$.ports_whitelist.http.ports[0]: bad")
    )
    assert problem_at(("listen_port",), "bad", file=CONF, origins=origins) == ConfigProblem(
        CONF, "$.listen_port", "bad"
    )


def test_unknown_keys_give_one_warning_each() -> None:
    warnings = unknown_key_warnings(
        {"listn_port": 1, "http_server_options": {"foo": 1, "bar": 2}}, TykGatewayConf, file=CONF, origins={}
    )
    assert [str(warning) for warning in warnings] == [
        "tyk.conf: $.listn_port: unknown key, ignored",
        "tyk.conf: $.http_server_options.foo: unknown key, ignored",
        "tyk.conf: $.http_server_options.bar: unknown key, ignored",
    ]


# --- the field tree ---------------------------------------------------------------------------------


def nested(node: FieldNode) -> type[BaseModel]:
    assert node.model is not None
    return node.model


def test_field_tree_shapes_and_go_names() -> None:
    top = fields_of(TykGatewayConf)
    assert top["listen_port"].shape is Shape.INT
    assert top["proxy_default_timeout"].shape is Shape.FLOAT
    assert top["log_level"].shape is Shape.STR
    assert top["storage"].shape is Shape.OBJECT
    assert top["ports_whitelist"].shape is Shape.OBJECT_MAP
    assert top["ports_whitelist"].go_name == "PortWhiteList"
    assert top["listen_port"].go_name is None
    assert top["analytics_config"].shape is Shape.FREE_OBJECT
    assert top["proxy_ssl_ciphers"].shape is Shape.LIST
    assert top["proxy_ssl_ciphers"].item is Shape.STR
    assert top["secret"].is_secret
    assert not top["listen_port"].is_secret
    options = fields_of(nested(top["http_server_options"]))
    assert options["ssl_ciphers"].go_name == "Ciphers"
    assert options["certificates"].shape is Shape.OBJECT_LIST
    assert "global" in fields_of(nested(top["external_services"]))
    security = fields_of(nested(top["security"]))
    assert fields_of(nested(security["certificates"]))["upstream"].shape is Shape.MAP
    assert list(top)[:3] == ["listen_address", "listen_port", "control_api_hostname"]


def test_a_field_type_the_tree_cannot_describe_is_refused() -> None:
    class Unsupported(BaseModel):
        pair: tuple[int, int] = (0, 0)

    with pytest.raises(TypeError, match="pair: unsupported field type"):
        fields_of(Unsupported)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (("listen_port",), "listen_port"),
        (("external_services", "global", "http_proxy"), "http_proxy"),
        (("ports_whitelist", "http", "ranges", 0, "from"), "from"),
        (("http_server_options", "certificates", 2, "cert_file"), "cert_file"),
        (("storage", "password"), "password"),
    ],
)
def test_node_at_finds_the_field_a_path_ends_in(path: JsonPath, key: str) -> None:
    node = node_at(TykGatewayConf, path)
    assert node is not None
    assert node.json_key == key


@pytest.mark.parametrize("path", [("nope",), ("listen_port", "x"), ("storage", 0), ()])
def test_node_at_is_none_for_paths_that_name_no_field(path: JsonPath) -> None:
    assert node_at(TykGatewayConf, path) is None


def test_find_unknown_keys_descends_into_objects_lists_and_maps_only() -> None:
    document = {
        "x": {"deep": 1},
        "storage": {"hots": "a"},
        "http_server_options": {"certificates": [{"domain_name": "a"}, {"name": "b"}], "ssl_ciphers": None},
        "ports_whitelist": {"tls": {"port": [1], "ranges": [{"from": 1, "upto": 2}]}},
        "analytics_config": {"free": {"form": 1}},
        "uptime_tests": "not an object",
    }
    assert [format_json_path(path) for path in find_unknown_keys(document, TykGatewayConf)] == [
        "$.x",
        "$.storage.hots",
        "$.http_server_options.certificates[1].name",
        "$.ports_whitelist.tls.port",
        "$.ports_whitelist.tls.ranges[0].upto",
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "$"),
        (("a", "b", 0), "$.a.b[0]"),
        (("upstream", "*"), "$.upstream['*']"),
        (("m", "a.b", "it's"), "$.m['a.b']['it\\'s']"),
    ],
)
def test_format_json_path(path: JsonPath, text: str) -> None:
    assert format_json_path(path) == text


# --- translation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "read", "expected"),
    [
        ({}, lambda s: s.http_server.read_timeout, 120.0),
        ({"http_server_options": {"read_timeout": 0}}, lambda s: s.http_server.read_timeout, 120.0),
        ({"http_server_options": {"read_timeout": 5}}, lambda s: s.http_server.read_timeout, 5.0),
        ({}, lambda s: s.http_server.write_timeout, 120.0),
        ({"http_server_options": {"write_timeout": 9}}, lambda s: s.http_server.write_timeout, 9.0),
        ({}, lambda s: s.proxy_default_timeout, 30.0),
        ({"proxy_default_timeout": 0}, lambda s: s.proxy_default_timeout, 30.0),
        ({"proxy_default_timeout": 2.5}, lambda s: s.proxy_default_timeout, 2.5),
        ({}, lambda s: s.storage.kind, "memory"),
        ({"storage": {"type": "memory"}}, lambda s: s.storage.kind, "memory"),
        ({"storage": {"type": "redis"}}, lambda s: s.storage.kind, "redis"),
        ({}, lambda s: s.storage.timeout, 5.0),
        ({"storage": {"timeout": 2}}, lambda s: s.storage.timeout, 2.0),
        ({"storage": {"addrs": ["a:1", "b:2"]}}, lambda s: s.storage.addrs, ("a:1", "b:2")),
        ({}, lambda s: s.graceful_shutdown_timeout, 30.0),
        ({"graceful_shutdown_timeout_duration": 0}, lambda s: s.graceful_shutdown_timeout, 0.0),
        ({"health_check_endpoint_name": ""}, lambda s: s.health_check_endpoint_name, "hello"),
        ({"health_check_endpoint_name": "ping"}, lambda s: s.health_check_endpoint_name, "ping"),
        ({}, lambda s: s.app_path, CWD / "apps"),
        ({"app_path": "./defs/"}, lambda s: s.app_path, CWD / "defs"),
        ({"app_path": "/etc/tyk/apps"}, lambda s: s.app_path, Path("/etc/tyk/apps")),
        ({"secret": "s"}, lambda s: s.secret, "s"),
        (
            {"http_server_options": {"enable_websockets": True}},
            lambda s: s.http_server.enable_websockets,
            True,
        ),
        (
            {"http_server_options": {"max_request_body_size": 1024}},
            lambda s: s.http_server.max_request_body_size,
            1024,
        ),
        # uptime_tests (tyk-behaviour §3.6) and service_discovery (§3.5)
        ({}, lambda s: s.uptime, UptimeSettings()),
        ({"uptime_tests": {"disable": True}}, lambda s: s.uptime.enabled, False),
        ({"uptime_tests": {"poller_group": "eu"}}, lambda s: s.uptime.poller_group, "eu"),
        ({"uptime_tests": {"config": {"failure_trigger_sample_size": 0}}}, lambda s: s.uptime.sample_size, 3),
        ({"uptime_tests": {"config": {"failure_trigger_sample_size": 1}}}, lambda s: s.uptime.sample_size, 1),
        ({"uptime_tests": {"config": {"time_wait": 0}}}, lambda s: s.uptime.interval, 10.0),
        ({"uptime_tests": {"config": {"time_wait": 4}}}, lambda s: s.uptime.interval, 4.0),
        ({"uptime_tests": {"config": {"checker_pool_size": 0}}}, lambda s: s.uptime.concurrency, 0),
        ({"uptime_tests": {"config": {"checker_pool_size": 8}}}, lambda s: s.uptime.concurrency, 8),
        ({"uptime_tests": {"config": {"enable_uptime_analytics": True}}}, lambda s: s.uptime.analytics, True),
        ({}, lambda s: s.discovery_cache_timeout, 120.0),
        ({"service_discovery": {"default_cache_timeout": 0}}, lambda s: s.discovery_cache_timeout, 120.0),
        ({"service_discovery": {"default_cache_timeout": 30}}, lambda s: s.discovery_cache_timeout, 30.0),
    ],
)
def test_translation_resolves_defaults(document: dict[str, Any], read: Any, expected: object) -> None:
    assert read(translate(document)) == expected


def test_translation_copies_the_plain_fields() -> None:
    settings = translate(
        {
            "listen_address": "127.0.0.1",
            "listen_port": 9000,
            "control_api_hostname": "admin.local",
            "control_api_port": 9001,
            "log_level": "debug",
            "hostname": "gw.local",
            "enable_custom_domains": True,
            "http_server_options": {
                "skip_url_cleaning": True,
                "skip_target_path_escaping": True,
                "enable_strict_routes": True,
            },
            "storage": {"host": "redis", "port": 6380, "username": "u", "password": "p", "database": 2},
        }
    )
    assert settings.source == CONF
    assert (settings.listen_address, settings.listen_port) == ("127.0.0.1", 9000)
    assert (settings.control_api_hostname, settings.control_api_port) == ("admin.local", 9001)
    assert (settings.log_level, settings.hostname, settings.enable_custom_domains) == (
        "debug",
        "gw.local",
        True,
    )
    server = settings.http_server
    assert (server.skip_url_cleaning, server.skip_target_path_escaping, server.enable_strict_routes) == (
        True,
        True,
        True,
    )
    storage = settings.storage
    assert (storage.host, storage.port, storage.username, storage.password, storage.database) == (
        "redis",
        6380,
        "u",
        "p",
        2,
    )


def test_raw_is_the_validated_document_in_tyk_names() -> None:
    raw = translate(
        {
            "external_services": {"global": {"enabled": True}},
            "ports_whitelist": {"http": {"ranges": [{"from": 1, "to": 2}]}},
            "not_a_tyk_key": 1,
        }
    ).raw
    assert raw["external_services"]["global"]["enabled"] is True
    assert raw["ports_whitelist"]["http"]["ranges"] == [{"from": 1, "to": 2}]
    assert raw["listen_port"] == 8080  # defaults filled in
    assert "not_a_tyk_key" not in raw
