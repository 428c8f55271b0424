"""TYK_GW_* overrides: names from the field tree, both spellings, precedence and value forms."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from bascule.compat.tyk.env_overrides import (
    OMIT_CONFIG_FILE_VARIABLE,
    EnvLeaf,
    apply_env_overrides,
    env_leaves,
    env_names,
    omits_config_file,
)
from bascule.compat.tyk.env_values import GO_FALSE, GO_TRUE, parse_go_bool
from bascule.compat.tyk.field_tree import Shape
from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.errors import ConfigProblem

NAMES = env_names(TykGatewayConf)
LEAVES = env_leaves(TykGatewayConf)


def apply(environ: dict[str, str], document: dict[str, Any] | None = None) -> Any:
    return apply_env_overrides(document or {}, environ, TykGatewayConf)


def value_at(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


# --- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tyk_name", "documented_name", "path"),
    [
        ("TYK_GW_LISTENPORT", "TYK_GW_LISTEN_PORT", ("listen_port",)),
        ("TYK_GW_LISTENADDRESS", "TYK_GW_LISTEN_ADDRESS", ("listen_address",)),
        ("TYK_GW_APPPATH", "TYK_GW_APP_PATH", ("app_path",)),
        ("TYK_GW_LOGLEVEL", "TYK_GW_LOG_LEVEL", ("log_level",)),
        (
            "TYK_GW_HTTPSERVEROPTIONS_READTIMEOUT",
            "TYK_GW_HTTP_SERVER_OPTIONS_READ_TIMEOUT",
            ("http_server_options", "read_timeout"),
        ),
        (
            "TYK_GW_HTTPSERVEROPTIONS_USESSL",
            "TYK_GW_HTTP_SERVER_OPTIONS_USE_SSL",
            ("http_server_options", "use_ssl"),
        ),
        (
            "TYK_GW_HTTPSERVEROPTIONS_CIPHERS",
            "TYK_GW_HTTP_SERVER_OPTIONS_SSL_CIPHERS",
            ("http_server_options", "ssl_ciphers"),
        ),
        (
            "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE",
            "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE",
            ("external_services", "oauth", "mtls", "cert_file"),
        ),
        (
            "TYK_GW_EXTERNALSERVICES_GLOBAL_HTTPPROXY",
            "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY",
            ("external_services", "global", "http_proxy"),
        ),
        (
            "TYK_GW_EXTERNALSERVICES_WEBHOOKS_MTLS_CACERTIDS",
            "TYK_GW_EXTERNAL_SERVICES_WEBHOOKS_MTLS_CA_CERT_IDS",
            ("external_services", "webhooks", "mtls", "ca_cert_ids"),
        ),
        (
            "TYK_GW_STORAGE_MAXIDLE",
            "TYK_GW_STORAGE_OPTIMISATION_MAX_IDLE",
            ("storage", "optimisation_max_idle"),
        ),
        ("TYK_GW_STORAGE_USESSL", "TYK_GW_STORAGE_USE_SSL", ("storage", "use_ssl")),
        ("TYK_GW_PORTWHITELIST", "TYK_GW_PORTS_WHITELIST", ("ports_whitelist",)),
        ("TYK_GW_DISABLEPORTWHITELIST", "TYK_GW_DISABLE_PORTS_WHITELIST", ("disable_ports_whitelist",)),
        ("TYK_GW_PROXYSSLCIPHERSUITES", "TYK_GW_PROXY_SSL_CIPHERS", ("proxy_ssl_ciphers",)),
        ("TYK_GW_MAXIDLECONNS", "TYK_GW_MAX_IDLE_CONNECTIONS", ("max_idle_connections",)),
        (
            "TYK_GW_SECURITY_CERTIFICATES_API",
            "TYK_GW_SECURITY_CERTIFICATES_APIS",
            ("security", "certificates", "apis"),
        ),
        (
            "TYK_GW_UPTIMETESTS_CONFIG_FAILURETRIGGERSAMPLESIZE",
            "TYK_GW_UPTIME_TESTS_CONFIG_FAILURE_TRIGGER_SAMPLE_SIZE",
            ("uptime_tests", "config", "failure_trigger_sample_size"),
        ),
        (
            "TYK_GW_JWTSSLINSECURESKIPVERIFY",
            "TYK_GW_JWT_SSL_INSECURE_SKIP_VERIFY",
            ("jwt_ssl_insecure_skip_verify",),
        ),
    ],
)
def test_both_spellings_name_the_same_path(tyk_name: str, documented_name: str, path: tuple[str, ...]) -> None:
    assert NAMES[tyk_name] == path
    assert NAMES[documented_name] == path


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("TYK_GW_SECRET", ("secret",)),
        ("TYK_GW_HOSTNAME", ("hostname",)),
        ("TYK_GW_STORAGE_HOST", ("storage", "host")),
        ("TYK_GW_JWKS_CACHE_TIMEOUT", ("jwks", "cache", "timeout")),
    ],
)
def test_one_word_keys_have_one_name(name: str, path: tuple[str, ...]) -> None:
    [leaf] = [leaf for leaf in LEAVES if leaf.json_path == path]
    assert leaf.names == (name,)


def test_nested_objects_are_not_variables_but_lists_and_maps_of_objects_are() -> None:
    assert "TYK_GW_STORAGE" not in NAMES
    assert "TYK_GW_EXTERNALSERVICES_OAUTH" not in NAMES
    assert NAMES["TYK_GW_HTTPSERVEROPTIONS_CERTIFICATES"] == ("http_server_options", "certificates")
    assert NAMES["TYK_GW_ANALYTICSCONFIG"] == ("analytics_config",)
    assert not any(name.startswith("TYK_GW_PORTWHITELIST_") for name in NAMES)


# Every env variable printed on Tyk's External Services documentation page.
DOCUMENTED_ON_EXTERNAL_SERVICES_PAGE = [
    "TYK_GW_EXTERNAL_SERVICES_GLOBAL_BYPASS_PROXY",
    "TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED",
    "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTPS_PROXY",
    "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CA_FILE",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_INSECURE_SKIP_VERIFY",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_KEY_FILE",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_TLS_MIN_VERSION",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_BYPASS_PROXY",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_ENABLED",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTPS_PROXY",
    "TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY",
    "TYK_GW_LOGLEVEL",
]


@pytest.mark.parametrize("name", DOCUMENTED_ON_EXTERNAL_SERVICES_PAGE)
def test_every_name_the_docs_print_is_accepted(name: str) -> None:
    assert name in NAMES


def test_names_are_unique_per_path_and_prefixed() -> None:
    paths_by_name: dict[str, set[tuple[str, ...]]] = {}
    for leaf in LEAVES:
        for name in leaf.names:
            paths_by_name.setdefault(name, set()).add(leaf.json_path)
    assert all(len(paths) == 1 for paths in paths_by_name.values())
    assert all(name.startswith("TYK_GW_") for name in paths_by_name)
    assert len({leaf.json_path for leaf in LEAVES}) == len(LEAVES)


def test_a_model_whose_names_collide_is_refused() -> None:
    class Colliding(BaseModel):
        a_b: int = 0
        ab: int = 0

    with pytest.raises(ValueError, match="TYK_GW_AB would set both"):
        env_names(Colliding)


# --- the round trip property ------------------------------------------------------------------------

_PLAIN = st.text(st.characters(categories=["L", "N"], include_characters="-./_"), min_size=1, max_size=12)
_SCALARS: dict[Shape, st.SearchStrategy[Any]] = {
    Shape.BOOL: st.booleans(),
    Shape.INT: st.integers(min_value=0, max_value=65535),
    Shape.FLOAT: st.floats(min_value=0, max_value=1e6, allow_nan=False),
    Shape.STR: st.text(max_size=20),
}


def _value_and_text(leaf: EnvLeaf) -> st.SearchStrategy[tuple[Any, str]]:
    node = leaf.node
    if node.shape in _SCALARS:
        return _SCALARS[node.shape].map(lambda value: (value, _render(value)))
    if node.shape is Shape.LIST:
        return st.lists(_PLAIN).map(lambda items: (items, ",".join(items)))
    if node.shape is Shape.MAP:
        return st.dictionaries(_PLAIN, _PLAIN).map(
            lambda pairs: (pairs, ",".join(f"{key}:{value}" for key, value in pairs.items()))
        )
    if node.shape is Shape.OBJECT_LIST:
        return st.just(([], "[]"))
    return st.dictionaries(_PLAIN, st.integers()).map(lambda obj: (obj, json.dumps(obj)))


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


@st.composite
def _overrides(draw: st.DrawFn) -> tuple[EnvLeaf, str, Any, str]:
    leaf = draw(st.sampled_from(LEAVES))
    name = draw(st.sampled_from(leaf.names))
    value, text = draw(_value_and_text(leaf))
    return leaf, name, value, text


@given(_overrides())
def test_every_name_sets_exactly_its_one_path(override: tuple[EnvLeaf, str, Any, str]) -> None:
    leaf, name, value, text = override
    result = apply({name: text})
    assert NAMES[name] == leaf.json_path
    assert result.problems == ()
    assert result.warnings == ()
    assert dict(result.origins) == {leaf.json_path: name}
    assert value_at(result.document, leaf.json_path) == value
    keys: Any = result.document
    for key in leaf.json_path[:-1]:
        assert list(keys) == [key]
        keys = keys[key]
    assert list(keys) == [leaf.json_path[-1]]


SAMPLE_TEXT = {
    Shape.BOOL: ("true", True),
    Shape.INT: ("1", 1),
    Shape.FLOAT: ("1.5", 1.5),
    Shape.STR: ("x", "x"),
    Shape.LIST: ("a,b", ["a", "b"]),
    Shape.MAP: ("k:v", {"k": "v"}),
    Shape.OBJECT_LIST: ("[]", []),
    Shape.OBJECT_MAP: ("{}", {}),
    Shape.FREE_OBJECT: ("{}", {}),
}


def test_every_name_of_every_leaf_round_trips() -> None:
    for leaf in LEAVES:
        text, value = SAMPLE_TEXT[leaf.node.shape]
        for name in leaf.names:
            result = apply({name: text})
            assert dict(result.origins) == {leaf.json_path: name}
            assert value_at(result.document, leaf.json_path) == value


# --- precedence -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected", "ignored"),
    [
        ({}, 1000, []),
        ({"TYK_GW_LISTEN_PORT": "2000"}, 2000, []),
        ({"TYK_GW_LISTENPORT": "3000"}, 3000, []),
        ({"TYK_GW_LISTENPORT": "3000", "TYK_GW_LISTEN_PORT": "2000"}, 3000, ["TYK_GW_LISTEN_PORT"]),
        ({"TYK_GW_LISTENPORT": "3000", "TYK_GW_LISTEN_PORT": "3000"}, 3000, []),
    ],
)
def test_real_name_beats_documented_name_beats_file(environ: dict[str, str], expected: int, ignored: list[str]) -> None:
    result = apply(environ, {"listen_port": 1000})
    assert result.document["listen_port"] == expected
    assert [warning.json_path for warning in result.warnings] == ignored
    assert all("TYK_GW_LISTENPORT is also set" in warning.message for warning in result.warnings)


def test_an_override_replaces_objects_and_lists_whole() -> None:
    document = {
        "ports_whitelist": {"http": {"ports": [80]}},
        "http_server_options": {"ssl_ciphers": ["A", "B"]},
    }
    result = apply(
        {"TYK_GW_PORTWHITELIST": '{"tls": {"ports": [443]}}', "TYK_GW_HTTPSERVEROPTIONS_CIPHERS": "C"},
        document,
    )
    assert result.document["ports_whitelist"] == {"tls": {"ports": [443]}}
    assert result.document["http_server_options"]["ssl_ciphers"] == ["C"]


def test_the_input_document_is_not_modified() -> None:
    document = {"storage": {"host": "a"}}
    apply({"TYK_GW_STORAGE_HOST": "b", "TYK_GW_STORAGE_PORT": "1"}, document)
    assert document == {"storage": {"host": "a"}}


def test_an_override_fills_a_null_parent() -> None:
    result = apply({"TYK_GW_STORAGE_HOST": "redis"}, {"storage": None})
    assert result.document["storage"] == {"host": "redis"}


def test_an_override_under_a_non_object_is_left_to_validation() -> None:
    result = apply({"TYK_GW_STORAGE_HOST": "redis"}, {"storage": "oops"})
    assert result.document["storage"] == "oops"
    assert result.origins == {}


# --- value forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", sorted(GO_TRUE | GO_FALSE))
def test_go_bool_forms(text: str) -> None:
    assert parse_go_bool(text) is (text in GO_TRUE)
    assert apply({"TYK_GW_HTTPSERVEROPTIONS_USESSL": text}).document["http_server_options"]["use_ssl"] is (
        text in GO_TRUE
    )


@pytest.mark.parametrize("text", ["yes", "no", "on", "tRuE", "2", "", "truthy"])
def test_other_bool_forms_are_problems_naming_the_variable(text: str) -> None:
    result = apply({"TYK_GW_HTTP_SERVER_OPTIONS_USE_SSL": text})
    [problem] = result.problems
    assert problem.file is None
    assert problem.json_path == "TYK_GW_HTTP_SERVER_OPTIONS_USE_SSL"
    assert problem.message.startswith("$.http_server_options.use_ssl: invalid boolean")
    assert "http_server_options" not in result.document


@pytest.mark.parametrize(
    ("name", "text", "path", "expected"),
    [
        ("TYK_GW_LISTENPORT", "8081", ("listen_port",), 8081),
        ("TYK_GW_LISTENPORT", " 8081 ", ("listen_port",), 8081),
        ("TYK_GW_LISTENPORT", "0x1F90", ("listen_port",), 8080),
        ("TYK_GW_LISTENPORT", "010", ("listen_port",), 8),  # Go base 0: leading 0 is octal
        ("TYK_GW_LISTENPORT", "0o10", ("listen_port",), 8),
        ("TYK_GW_LISTENPORT", "1_000", ("listen_port",), 1000),
        ("TYK_GW_LISTENPORT", "0b101", ("listen_port",), 5),
        ("TYK_GW_STORAGE_USESSL", " true ", ("storage", "use_ssl"), True),
        ("TYK_GW_PROXYDEFAULTTIMEOUT", "2.5", ("proxy_default_timeout",), 2.5),
        ("TYK_GW_PROXYDEFAULTTIMEOUT", "3", ("proxy_default_timeout",), 3.0),
        ("TYK_GW_SECRET", " spaced ", ("secret",), " spaced "),
        ("TYK_GW_SECRET", "", ("secret",), ""),
        ("TYK_GW_STORAGE_ADDRS", "a:1, b:2,,c:3", ("storage", "addrs"), ["a:1", "b:2", "c:3"]),
        ("TYK_GW_STORAGE_ADDRS", "", ("storage", "addrs"), []),
        (
            "TYK_GW_SECURITY_CERTIFICATES_UPSTREAM",
            "*:/certs/default.pem,example.com:ab23",
            ("security", "certificates", "upstream"),
            {"*": "/certs/default.pem", "example.com": "ab23"},
        ),
        (
            "TYK_GW_SECURITY_PINNEDPUBLICKEYS",
            '{"api.com:443": "pin1,pin2"}',
            ("security", "pinned_public_keys"),
            {"api.com:443": "pin1,pin2"},
        ),
        (
            "TYK_GW_PORTWHITELIST",
            '{"http": {"ports": [80, 8080], "ranges": [{"from": 9000, "to": 9100}]}}',
            ("ports_whitelist",),
            {"http": {"ports": [80, 8080], "ranges": [{"from": 9000, "to": 9100}]}},
        ),
        (
            "TYK_GW_HTTPSERVEROPTIONS_CERTIFICATES",
            '[{"domain_name": "a.com", "cert_file": "a.pem", "key_file": "a.key"}]',
            ("http_server_options", "certificates"),
            [{"domain_name": "a.com", "cert_file": "a.pem", "key_file": "a.key"}],
        ),
        ("TYK_GW_ANALYTICSCONFIG", '{"type": "rpc"}', ("analytics_config",), {"type": "rpc"}),
    ],
)
def test_value_forms(name: str, text: str, path: tuple[str, ...], expected: object) -> None:
    result = apply({name: text})
    assert result.problems == ()
    assert value_at(result.document, path) == expected


@pytest.mark.parametrize(
    ("name", "text", "message_part"),
    [
        ("TYK_GW_LISTENPORT", "abc", "invalid integer 'abc'"),
        ("TYK_GW_LISTENPORT", "", "invalid integer ''"),
        ("TYK_GW_LISTENPORT", "80.5", "invalid integer"),
        ("TYK_GW_PROXYDEFAULTTIMEOUT", "soon", "invalid number 'soon'"),
        ("TYK_GW_PROXYDEFAULTTIMEOUT", "inf", "must be finite"),
        ("TYK_GW_PROXYDEFAULTTIMEOUT", "NaN", "must be finite"),
        ("TYK_GW_SECURITY_CERTIFICATES_UPSTREAM", "a:b:c", "invalid map item 'a:b:c'"),
        ("TYK_GW_SECURITY_CERTIFICATES_UPSTREAM", "lonely", "invalid map item 'lonely'"),
        ("TYK_GW_PORTWHITELIST", "{not json", "invalid JSON"),
        ("TYK_GW_PORTWHITELIST", "[]", "expected a JSON object, got array"),
        ("TYK_GW_HTTPSERVEROPTIONS_CERTIFICATES", "{}", "expected a JSON array, got object"),
        ("TYK_GW_ANALYTICSCONFIG", "NaN", "not a JSON value"),
    ],
)
def test_bad_values_are_problems_naming_the_variable(name: str, text: str, message_part: str) -> None:
    [problem] = apply({name: text}).problems
    assert (problem.file, problem.json_path) == (None, name)
    assert message_part in problem.message


def test_all_bad_values_are_reported() -> None:
    result = apply({"TYK_GW_LISTENPORT": "x", "TYK_GW_STORAGE_USESSL": "maybe", "TYK_GW_STORAGE_PORT": "7"})
    assert [problem.json_path for problem in result.problems] == [
        "TYK_GW_LISTENPORT",
        "TYK_GW_STORAGE_USESSL",
    ]
    assert result.document == {"storage": {"port": 7}}


# --- other variables --------------------------------------------------------------------------------


def test_unknown_tyk_gw_variables_warn_once_each_and_others_are_ignored() -> None:
    result = apply({"TYK_GW_ENABLEJSVM": "true", "TYK_GW_HTTPSERVEROPTIONS_USE_SSL": "1", "HOME": "/", "TYK_GWX": "1"})
    assert result.warnings == (
        ConfigProblem(None, "TYK_GW_ENABLEJSVM", "unknown variable, ignored"),
        ConfigProblem(None, "TYK_GW_HTTPSERVEROPTIONS_USE_SSL", "unknown variable, ignored"),
    )
    assert result.document == {}


@pytest.mark.parametrize(
    ("text", "omitted"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        (" true ", True),
        ("false", False),
        ("1", False),
        ("", False),
    ],
)
def test_omit_config_file_is_true_in_any_case_only(text: str, omitted: bool) -> None:
    assert omits_config_file({OMIT_CONFIG_FILE_VARIABLE: text}) is omitted
    assert omits_config_file({}) is False


@pytest.mark.parametrize(("text", "warned"), [("true", False), ("False", False), ("1", True), ("yes", True)])
def test_omit_config_file_with_another_value_warns(text: str, warned: bool) -> None:
    warnings = apply({OMIT_CONFIG_FILE_VARIABLE: text}).warnings
    assert [warning.json_path for warning in warnings] == ([OMIT_CONFIG_FILE_VARIABLE] if warned else [])
