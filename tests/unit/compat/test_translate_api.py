from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tyk_documents import DELETE, XT, with_changes

from bascule.compat.tyk.classic import ClassicApiDefinition
from bascule.compat.tyk.oas import OasApiDefinition
from bascule.compat.tyk.translate_api import ALL_WEIGHTS_ZERO, api_id_from_name, translate_api_definition
from bascule.config.apis import ApiSettings, WeightedTarget
from bascule.config.gateway import GatewaySettings
from bascule.config.upstream_checks import UpstreamChecks, UptimeCheck, UptimeTests
from bascule.errors import ConfigError

SOURCE = Path("/etc/tyk/apps/users.json")
GATEWAY = GatewaySettings()
CUSTOM_DOMAINS = GatewaySettings(enable_custom_domains=True)
OAS = "$.x-tyk-api-gateway"

# tyk-behaviour §2.2, the Classic "users" example (upstream certificates and events omitted)
USERS_CLASSIC: dict[str, Any] = {
    "name": "users",
    "api_id": "users",
    "org_id": "default",
    "active": True,
    "use_keyless": True,
    "version_data": {"not_versioned": True, "versions": {"Default": {"name": "Default"}}},
    "proxy": {
        "listen_path": "/users/",
        "strip_listen_path": True,
        "target_url": "http://users-1:8080/api",
        "enable_load_balancing": True,
        "target_list": ["http://users-1:8080/api", "http://users-1:8080/api", "http://users-2:8080/api"],
        "check_host_against_uptime_tests": True,
        "preserve_host_header": False,
        "disable_strip_slash": False,
        "transport": {"ssl_insecure_skip_verify": False, "ssl_ciphers": [], "ssl_min_version": 771},
    },
    "uptime_tests": {"check_list": [{"url": "http://users-1:8080/health"}], "config": {}},
}

# tyk-behaviour §2.6, the OAS "users" example (abridged further)
USERS_OAS: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "users", "version": "1.0.0"},
    "paths": {},
    "x-tyk-api-gateway": {
        "info": {"name": "users", "state": {"active": True}},
        "server": {"listenPath": {"value": "/users/", "strip": True}},
        "upstream": {
            "url": "http://users-1:8080/api",
            "loadBalancing": {
                "enabled": True,
                "skipUnavailableHosts": True,
                "targets": [
                    {"url": "http://users-1:8080/api", "weight": 2},
                    {"url": "http://users-2:8080/api", "weight": 1},
                ],
            },
            "preserveHostHeader": {"enabled": False},
        },
    },
}

# The seed's Users API: listen path /users/, upstream http://acme.service.com/user-service
SEED_CLASSIC: dict[str, Any] = {
    "api_id": "users",
    "name": "Users API",
    "active": True,
    "proxy": {"listen_path": "/users/", "target_url": "http://acme.service.com/user-service"},
}
SEED_OAS: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Users API", "version": "1.0.0"},
    "paths": {},
    "x-tyk-api-gateway": {
        "info": {"id": "users", "name": "Users API", "state": {"active": True}},
        "server": {"listenPath": {"value": "/users/"}},
        "upstream": {"url": "http://acme.service.com/user-service"},
    },
}


def translate(document: dict[str, Any], gateway: GatewaySettings = GATEWAY) -> ApiSettings:
    return translate_api_definition(document, gateway, SOURCE)


def problems_of(document: dict[str, Any], gateway: GatewaySettings = GATEWAY) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        translate(document, gateway)
    assert all(problem.file == SOURCE for problem in raised.value.problems)
    return [(problem.json_path, problem.message) for problem in raised.value.problems]


# --- Classic -----------------------------------------------------------------------------------------


def test_classic_users_example() -> None:
    api = translate(USERS_CLASSIC)
    assert api == ApiSettings(
        api_id="users",
        name="users",
        org_id="default",
        active=True,
        keyless=True,
        listen_path="/users/",
        strip_listen_path=True,
        target_url="http://users-1:8080/api",
        load_balancing=True,
        targets=(WeightedTarget("http://users-1:8080/api", 2), WeightedTarget("http://users-2:8080/api", 1)),
        checks=UpstreamChecks(
            uptime=UptimeTests(checks=(UptimeCheck("http://users-1:8080/health", "http", "users-1:8080"),)),
            skip_unavailable_hosts=True,
        ),
        format="classic",
        source=SOURCE,
    )
    assert api.definition is USERS_CLASSIC


@pytest.mark.parametrize("strip", [True, False])
def test_seed_users_api(strip: bool) -> None:
    classic = translate(with_changes(SEED_CLASSIC, {"proxy.strip_listen_path": strip}))
    oas = translate(with_changes(SEED_OAS, {f"{XT}.server.listenPath.strip": strip}))
    for api in (classic, oas):
        assert (api.api_id, api.listen_path, api.target_url) == (
            "users",
            "/users/",
            "http://acme.service.com/user-service",
        )
        assert api.strip_listen_path is strip
        assert api.load_balancing is False
        assert api.targets == ()
    assert (classic.format, oas.format) == ("classic", "oas")


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"proxy.listen_path": "users"}, "listen_path", "/users"),
        ({"proxy.listen_path": "/foo/../bar/"}, "listen_path", "/bar/"),
        ({"proxy.listen_path": ""}, "listen_path", "/"),
        ({"active": False}, "active", False),
        ({"active": DELETE}, "active", False),
        ({"use_keyless": False}, "keyless", False),
        ({"proxy.preserve_host_header": True}, "preserve_host_header", True),
        ({"proxy.disable_strip_slash": True}, "preserve_trailing_slash", True),
        ({"protocol": "h2c", "listen_port": 6666}, "protocol", "h2c"),
        ({"protocol": "h2c", "listen_port": 6666}, "listen_port", 6666),
        ({"org_id": DELETE}, "org_id", ""),
        # Go semantics: null leaves the zero value
        ({"proxy.listen_path": None, "org_id": None}, "listen_path", "/"),
        ({"use_keyless": None}, "keyless", False),
        # TCP/TLS: a target_url without :// gets the protocol as scheme (§5 case 64)
        ({"protocol": "tcp", "proxy.target_url": "127.0.0.1:6379"}, "target_url", "tcp://127.0.0.1:6379"),
        ({"protocol": "tls", "proxy.target_url": "tls://10.0.0.5:6379"}, "target_url", "tls://10.0.0.5:6379"),
        ({"proxy.target_url": "h2c://grpc-backend:50051"}, "target_url", "h2c://grpc-backend:50051"),
        ({"proxy.target_url": "wss://socket:443/ws"}, "target_url", "wss://socket:443/ws"),
    ],
)
def test_classic_fields(changes: dict[str, Any], field: str, expected: object) -> None:
    assert getattr(translate(with_changes(SEED_CLASSIC, changes)), field) == expected


@pytest.mark.parametrize(
    ("target_list", "protocol", "expected"),
    [
        (["A", "A", "B"], "", [("http://A", 2), ("http://B", 1)]),
        (["http://b", "http://a", "http://b"], "", [("http://b", 2), ("http://a", 1)]),
        # §5 case 74: 5 x one + 2 x three
        (["http://one"] * 5 + ["http://three"] * 2, "", [("http://one", 5), ("http://three", 2)]),
        # §5 case 42: entries without :// get the API protocol, or http; they are trimmed
        (["httpbin.org"], "", [("http://httpbin.org", 1)]),
        (["httpbin.org:2000"], "tls", [("tls://httpbin.org:2000", 1)]),
        (["192.168.1.1:443 "], "https", [("https://192.168.1.1:443", 1)]),
        (["h2c://httpbin.org"], "h2c", [("h2c://httpbin.org", 1)]),
        # the same upstream written two ways counts once, twice
        (["httpbin.org", "http://httpbin.org"], "", [("http://httpbin.org", 2)]),
    ],
)
def test_classic_target_list_weights(target_list: list[str], protocol: str, expected: list[tuple[str, int]]) -> None:
    document = with_changes(
        SEED_CLASSIC,
        {"protocol": protocol, "proxy.enable_load_balancing": True, "proxy.target_list": target_list},
    )
    if protocol == "tls":
        document["proxy"]["target_url"] = "tls://httpbin.org:2000"
    api = translate(document)
    assert api.load_balancing is True
    assert [(target.url, target.weight) for target in api.targets] == expected


def test_classic_target_list_ignored_without_load_balancing() -> None:
    api = translate(with_changes(SEED_CLASSIC, {"proxy.target_list": ["http://a", "not a url"]}))
    assert (api.load_balancing, api.targets) == (False, ())


@pytest.mark.parametrize(
    ("gateway", "changes", "expected"),
    [
        (CUSTOM_DOMAINS, {"domain": "api.example.com"}, "api.example.com"),
        (CUSTOM_DOMAINS, {"domain": "api.example.com", "domain_disabled": True}, ""),
        (GATEWAY, {"domain": "api.example.com"}, ""),
        (CUSTOM_DOMAINS, {}, ""),
    ],
)
def test_classic_custom_domain(gateway: GatewaySettings, changes: dict[str, Any], expected: str) -> None:
    assert translate(with_changes(SEED_CLASSIC, changes), gateway).domain == expected


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"proxy.target_url": DELETE}, "$.proxy.target_url", "the upstream URL is required"),
        ({"proxy.target_url": ""}, "$.proxy.target_url", "the upstream URL is required"),
        ({"proxy": DELETE}, "$.proxy.target_url", "the upstream URL is required"),
        ({"api_id": DELETE}, "$.api_id", "api_id is required"),
        ({"api_id": "  "}, "$.api_id", "api_id is required"),
        ({"proxy.target_url": "ftp://files"}, "$.proxy.target_url", "unsupported scheme 'ftp'"),
        ({"proxy.target_url": "httpbin.org"}, "$.proxy.target_url", "has no scheme"),
        ({"proxy.target_url": "localhost:8080"}, "$.proxy.target_url", "has no scheme"),
        ({"proxy.target_url": "http://"}, "$.proxy.target_url", "has no host"),
        ({"proxy.target_url": "http://:8080/x"}, "$.proxy.target_url", "has no host"),
        ({"proxy.target_url": "http://host:99999"}, "$.proxy.target_url", "invalid port"),
        ({"proxy.target_url": "http://[::1"}, "$.proxy.target_url", "is not valid: Invalid IPv6 URL"),
        ({"proxy.target_url": " http://host"}, "$.proxy.target_url", "whitespace or control characters"),
        ({"proxy.target_url": "http://ho\tst"}, "$.proxy.target_url", "whitespace or control characters"),
        ({"protocol": "tcp", "proxy.target_url": "127.0.0.1"}, "$.proxy.target_url", "needs a port"),
        (
            {"proxy.listen_path": "env://USERS_PATH"},
            "$.proxy.listen_path",
            "not supported in listen paths yet",
        ),
        ({"active": "true"}, "$.active", "Input should be a valid boolean"),
        ({"listen_port": 70000}, "$.listen_port", "less than or equal to 65535"),
        ({"listen_port": 80.5}, "$.listen_port", "Input should be a valid integer"),
        ({"protocol": "udp"}, "$.protocol", "Input should be"),
        ({"proxy.target_list": [1]}, "$.proxy.target_list[0]", "Input should be a valid string"),
        ({"proxy": "http://x"}, "$.proxy", "valid dictionary"),
        ({"proxy.transport": []}, "$.proxy.transport", "valid dictionary"),
        # §5 case 75: load balancing on, nothing to balance over
        ({"proxy.enable_load_balancing": True}, "$.proxy.target_list", ALL_WEIGHTS_ZERO),
        (
            {"proxy.enable_load_balancing": True, "proxy.target_list": ["http://a", "ftp://b"]},
            "$.proxy.target_list[1]",
            "unsupported scheme 'ftp'",
        ),
    ],
)
def test_classic_problems(changes: dict[str, Any], path: str, message: str) -> None:
    problems = problems_of(with_changes(SEED_CLASSIC, changes))
    assert len(problems) == 1, problems
    assert problems[0][0] == path
    assert message in problems[0][1]


def test_classic_all_weights_zero_has_tyks_exact_text() -> None:
    document = with_changes(SEED_CLASSIC, {"proxy.enable_load_balancing": True, "proxy.target_list": []})
    assert problems_of(document) == [
        (
            "$.proxy.target_list",
            "all load balancing targets have weight 0, at least one target must have weight > 0",
        )
    ]


def test_classic_reports_every_problem_at_once() -> None:
    document = with_changes(SEED_CLASSIC, {"api_id": "", "proxy.target_url": "ftp://x", "proxy.listen_path": "env://P"})
    assert [path for path, _ in problems_of(document)] == [
        "$.api_id",
        "$.proxy.listen_path",
        "$.proxy.target_url",
    ]


def test_classic_model_keeps_unknown_fields() -> None:
    model = ClassicApiDefinition.model_validate(USERS_CLASSIC)
    assert model.model_extra is not None
    assert model.model_extra["version_data"] == USERS_CLASSIC["version_data"]
    assert model.proxy.transport["ssl_min_version"] == 771
    assert model.proxy.check_host_against_uptime_tests is True


def test_classic_null_proxy_is_an_empty_proxy() -> None:
    assert problems_of(with_changes(SEED_CLASSIC, {"proxy": None})) == [
        ("$.proxy.target_url", "the upstream URL is required")
    ]


def test_oas_model_keeps_unknown_fields() -> None:
    document = with_changes(
        USERS_OAS,
        {f"{XT}.middleware": {"global": {"cors": {"enabled": True}}}, f"{XT}.info.expiration": "2030-01-01"},
    )
    model = OasApiDefinition.model_validate(document).x_tyk_api_gateway
    assert model.model_extra == {"middleware": {"global": {"cors": {"enabled": True}}}}
    assert model.info.model_extra == {"expiration": "2030-01-01"}
    assert model.upstream.load_balancing is not None
    assert model.upstream.load_balancing.skip_unavailable_hosts is True


# --- OAS ---------------------------------------------------------------------------------------------


def test_oas_users_example() -> None:
    api = translate(USERS_OAS)
    assert api == ApiSettings(
        api_id="users",
        name="users",
        org_id="",
        active=True,
        keyless=True,
        listen_path="/users/",
        strip_listen_path=True,
        target_url="http://users-1:8080/api",
        load_balancing=True,
        targets=(WeightedTarget("http://users-1:8080/api", 2), WeightedTarget("http://users-2:8080/api", 1)),
        checks=UpstreamChecks(skip_unavailable_hosts=True),
        format="oas",
        source=SOURCE,
    )
    assert api.definition is USERS_OAS


def test_document_with_the_extension_is_oas_even_with_classic_keys() -> None:
    document = with_changes(SEED_OAS, {"api_id": "classic-id", "proxy": {"target_url": "http://other"}})
    api = translate(document)
    assert (api.format, api.api_id, api.target_url) == (
        "oas",
        "users",
        "http://acme.service.com/user-service",
    )


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({f"{XT}.info.id": DELETE, f"{XT}.info.name": "Users API v2"}, "api_id", "users-api-v2"),
        ({f"{XT}.info.id": "", f"{XT}.info.name": "users"}, "api_id", "users"),
        ({f"{XT}.info.orgId": "acme", f"{XT}.info.dbId": "65a1"}, "org_id", "acme"),
        ({f"{XT}.info.state.active": False}, "active", False),
        ({f"{XT}.server.listenPath.value": "users"}, "listen_path", "/users"),
        ({f"{XT}.server.listenPath.value": "//foo//bar"}, "listen_path", "/foo/bar"),
        ({f"{XT}.server.listenPath.strip": DELETE}, "strip_listen_path", False),
        ({f"{XT}.server.authentication": {"enabled": True, "securitySchemes": {}}}, "keyless", False),
        ({f"{XT}.server.authentication": {"enabled": False}}, "keyless", True),
        ({f"{XT}.upstream.preserveHostHeader": {"enabled": True}}, "preserve_host_header", True),
        ({f"{XT}.upstream.preserveTrailingSlash": {"enabled": True}}, "preserve_trailing_slash", True),
        ({f"{XT}.upstream.preserveTrailingSlash": {"enabled": False}}, "preserve_trailing_slash", False),
        ({f"{XT}.server.protocol": "h2c", f"{XT}.server.port": 6666}, "protocol", "h2c"),
        ({f"{XT}.server.protocol": "h2c", f"{XT}.server.port": 6666}, "listen_port", 6666),
        ({f"{XT}.server.protocol": DELETE}, "protocol", ""),
    ],
)
def test_oas_fields(changes: dict[str, Any], field: str, expected: object) -> None:
    assert getattr(translate(with_changes(SEED_OAS, changes)), field) == expected


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        # §5 case 74: weights 5/0/2; the weight-0 target is kept but never picked
        (
            [
                {"url": "http://one", "weight": 5},
                {"url": "http://two", "weight": 0},
                {"url": "http://three", "weight": 2},
            ],
            [("http://one", 5), ("http://two", 0), ("http://three", 2)],
        ),
        # the seed: 9 to production, 1 to beta
        (
            [{"url": "http://10.0.0.1", "weight": 9}, {"url": "http://10.0.0.2", "weight": 1}],
            [("http://10.0.0.1", 9), ("http://10.0.0.2", 1)],
        ),
        # a missing weight is 0 (documented default)
        ([{"url": "http://a", "weight": 1}, {"url": "http://b"}], [("http://a", 1), ("http://b", 0)]),
        # the same URL twice: weights add up, first position kept
        (
            [
                {"url": "http://a", "weight": 1},
                {"url": "http://b", "weight": 1},
                {"url": "http://a", "weight": 2},
            ],
            [("http://a", 3), ("http://b", 1)],
        ),
        # without :// the scheme is the API protocol or http (§5 case 42)
        ([{"url": " 10.0.0.1:8080 ", "weight": 1}], [("http://10.0.0.1:8080", 1)]),
    ],
)
def test_oas_load_balancing_weights(targets: list[dict[str, Any]], expected: list[tuple[str, int]]) -> None:
    document = with_changes(SEED_OAS, {f"{XT}.upstream.loadBalancing": {"enabled": True, "targets": targets}})
    api = translate(document)
    assert api.load_balancing is True
    assert [(target.url, target.weight) for target in api.targets] == expected


@pytest.mark.parametrize(
    ("targets", "expected_url"),
    [
        ([{"url": "http://a", "weight": 1}], "http://a"),
        ([{"url": "http://a", "weight": 0}, {"url": "http://b", "weight": 3}], "http://b"),
    ],
)
def test_oas_without_url_uses_first_weighted_target(targets: list[dict[str, Any]], expected_url: str) -> None:
    document = with_changes(
        SEED_OAS,
        {
            f"{XT}.upstream.url": DELETE,
            f"{XT}.upstream.loadBalancing": {"enabled": True, "targets": targets},
        },
    )
    assert translate(document).target_url == expected_url


def test_oas_load_balancing_disabled_has_no_targets() -> None:
    lb = {"enabled": False, "targets": [{"url": "http://a", "weight": 1}]}
    api = translate(with_changes(SEED_OAS, {f"{XT}.upstream.loadBalancing": lb}))
    assert (api.load_balancing, api.targets) == (False, ())


@pytest.mark.parametrize(
    ("gateway", "custom_domain", "expected"),
    [
        (CUSTOM_DOMAINS, {"enabled": True, "name": "api.example.com"}, "api.example.com"),
        (CUSTOM_DOMAINS, {"enabled": False, "name": "api.example.com"}, ""),
        (GATEWAY, {"enabled": True, "name": "api.example.com"}, ""),
        (CUSTOM_DOMAINS, None, ""),
    ],
)
def test_oas_custom_domain(gateway: GatewaySettings, custom_domain: dict[str, Any] | None, expected: str) -> None:
    changes = {} if custom_domain is None else {f"{XT}.server.customDomain": custom_domain}
    assert translate(with_changes(SEED_OAS, changes), gateway).domain == expected


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({f"{XT}.upstream.url": DELETE}, f"{OAS}.upstream", "upstream requires url or loadBalancing"),
        (
            {f"{XT}.upstream.url": ""},
            f"{OAS}.upstream.url",
            "url is required unless loadBalancing is enabled",
        ),
        (
            {f"{XT}.upstream.url": DELETE, f"{XT}.upstream.loadBalancing": {"enabled": False}},
            f"{OAS}.upstream.url",
            "url is required unless loadBalancing is enabled",
        ),
        ({f"{XT}.upstream.url": "users-1:8080"}, f"{OAS}.upstream.url", "has no scheme"),
        ({f"{XT}.upstream.url": "tcp://db"}, f"{OAS}.upstream.url", "needs a port"),
        (
            {f"{XT}.upstream.loadBalancing": {"targets": []}},
            f"{OAS}.upstream.loadBalancing.enabled",
            "Field required",
        ),
        (
            {
                f"{XT}.upstream.loadBalancing": {
                    "enabled": True,
                    "targets": [{"url": "gopher://x", "weight": 1}],
                }
            },
            f"{OAS}.upstream.loadBalancing.targets[0].url",
            "unsupported scheme 'gopher'",
        ),
        (
            {
                f"{XT}.upstream.loadBalancing": {
                    "enabled": True,
                    "targets": [{"url": "http://a", "weight": -1}],
                }
            },
            f"{OAS}.upstream.loadBalancing.targets[0].weight",
            "greater than or equal to 0",
        ),
        (
            {f"{XT}.upstream.loadBalancing": {"enabled": True, "targets": [{"weight": 1}]}},
            f"{OAS}.upstream.loadBalancing.targets[0].url",
            "Field required",
        ),
        # §5 case 75 and its OAS twin: all weights 0, or no targets
        (
            {f"{XT}.upstream.loadBalancing": {"enabled": True, "targets": []}},
            f"{OAS}.upstream.loadBalancing.targets",
            ALL_WEIGHTS_ZERO,
        ),
        (
            {
                f"{XT}.upstream.loadBalancing": {
                    "enabled": True,
                    "targets": [{"url": "http://a", "weight": 0}],
                }
            },
            f"{OAS}.upstream.loadBalancing.targets",
            ALL_WEIGHTS_ZERO,
        ),
        (
            {
                f"{XT}.upstream.url": DELETE,
                f"{XT}.upstream.loadBalancing": {"enabled": True, "targets": [{"url": "http://a"}]},
            },
            f"{OAS}.upstream.loadBalancing.targets",
            ALL_WEIGHTS_ZERO,
        ),
        ({f"{XT}.server.listenPath": DELETE}, f"{OAS}.server.listenPath", "Field required"),
        ({f"{XT}.server.listenPath.value": DELETE}, f"{OAS}.server.listenPath.value", "Field required"),
        ({f"{XT}.server.listenPath.value": "  "}, f"{OAS}.server.listenPath.value", "must not be blank"),
        ({f"{XT}.server.listenPath.value": "env://P"}, f"{OAS}.server.listenPath.value", "not supported"),
        ({f"{XT}.server.protocol": "tcp"}, f"{OAS}.server.protocol", "Input should be"),
        ({f"{XT}.server.port": 0}, f"{OAS}.server.port", "greater than or equal to 1"),
        (
            {f"{XT}.server.customDomain": {"enabled": True}},
            f"{OAS}.server.customDomain.name",
            "Field required",
        ),
        (
            {f"{XT}.server.authentication": {"securitySchemes": {}}},
            f"{OAS}.server.authentication",
            "authentication.enabled is required and must be a boolean",
        ),
        (
            {f"{XT}.upstream.preserveHostHeader": {}},
            f"{OAS}.upstream.preserveHostHeader.enabled",
            "Field required",
        ),
        ({f"{XT}.info.name": DELETE}, f"{OAS}.info.name", "Field required"),
        ({f"{XT}.info.name": " "}, f"{OAS}.info.name", "must not be blank"),
        (
            {f"{XT}.info.id": DELETE, f"{XT}.info.name": "!!!"},
            f"{OAS}.info.id",
            "cannot be derived from info.name",
        ),
        ({f"{XT}.info.state": DELETE}, f"{OAS}.info.state", "Field required"),
        ({f"{XT}.info.state.active": "yes"}, f"{OAS}.info.state.active", "Input should be a valid boolean"),
        ({f"{XT}.upstream": DELETE}, f"{OAS}.upstream", "Field required"),
        ({"openapi": DELETE}, "$.openapi", "Field required"),
        ({"info": DELETE}, "$.info", "Field required"),
        ({XT: "yes"}, OAS, "valid dictionary"),
    ],
)
def test_oas_problems(changes: dict[str, Any], path: str, message: str) -> None:
    problems = problems_of(with_changes(SEED_OAS, changes))
    assert len(problems) == 1, problems
    assert problems[0][0] == path
    assert message in problems[0][1]


def test_oas_reports_every_problem_at_once() -> None:
    document = with_changes(
        SEED_OAS,
        {f"{XT}.info.state": DELETE, f"{XT}.server.listenPath.value": " ", f"{XT}.server.port": 0},
    )
    assert sorted(path for path, _ in problems_of(document)) == [
        f"{OAS}.info.state",
        f"{OAS}.server.listenPath.value",
        f"{OAS}.server.port",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("users", "users"),
        ("Users API v2", "users-api-v2"),
        ("  Pets / Store!  ", "pets-store"),
        ("a.b_c-d", "a.b_c-d"),
        ("Ünïcode", "n-code"),
        ("!!!", ""),
    ],
)
def test_api_id_from_name(name: str, expected: str) -> None:
    assert api_id_from_name(name) == expected
