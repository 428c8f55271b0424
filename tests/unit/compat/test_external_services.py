"""`external_services` -> one ServiceProfile per service: the docs' examples, env names, mTLS, versions, defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from seed_external_services import GLOBAL_3128, OAUTH_3129, SEED_EXAMPLES

from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.load_gateway import LoadedGateway, load_gateway_settings
from bascule.compat.tyk.translate_external_services import (
    ExternalServicesTranslation,
    translate_external_services,
    translate_upstream_proxy,
)
from bascule.compat.tyk.translate_gateway import translate_gateway
from bascule.config.gateway import GatewaySettings
from bascule.config.outbound import PoolLimits, ProxyRoute, ServiceProfile, ServiceType, TlsClientSettings
from bascule.config.outbound_defaults import DEFAULTS, default_profiles
from bascule.core.proxy_route import choose_proxy
from bascule.errors import ConfigError, ConfigProblem

S = ServiceType
DEFAULT_TLS = TlsClientSettings()
ALL = tuple(ServiceType)


def load(tmp_path: Path, document: dict[str, Any], environ: dict[str, str] | None = None) -> LoadedGateway:
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps(document), encoding="utf-8")
    return load_gateway_settings(conf, environ or {})


def load_problems(tmp_path: Path, document: dict[str, Any], environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document, environ)
    return [str(problem) for problem in caught.value.problems]


def translate(document: dict[str, Any], environ: dict[str, str] | None = None) -> ExternalServicesTranslation:
    return translate_external_services(TykGatewayConf.model_validate(document), environ or {})


def services(block: dict[str, Any]) -> dict[str, Any]:
    return {"external_services": block}


@dataclass(frozen=True)
class View:
    """What the docs' "What this does" lists talk about: the proxies, the bypass list, TLS."""

    http: str | None
    https: str | None
    bypass: tuple[str, ...]
    tls: TlsClientSettings = DEFAULT_TLS


def view(profile: ServiceProfile) -> View:
    route = profile.proxy
    return View(
        route.http_proxy.redacted if route.http_proxy else None,
        route.https_proxy.redacted if route.https_proxy else None,
        tuple(entry.text for entry in route.bypass),
        profile.tls,
    )


def files(cert: str, key: str, ca: str | None = None) -> TlsClientSettings:
    return TlsClientSettings(Path(cert), Path(key), Path(ca) if ca else None)


# --- the seed's five example configurations -----------------------------------------------------------------

CORPORATE_VIEW = View(
    "http://proxy.company.com:8080", "https://proxy.company.com:8080", ("localhost", "127.0.0.1", ".company.internal")
)
EXAMPLE_1, EXAMPLE_2, EXAMPLE_3, EXAMPLE_4, EXAMPLE_5 = (services(SEED_EXAMPLES[n]) for n in "12345")

V1 = View("http://localhost:3128", "https://localhost:3128", ("localhost", "127.0.0.1", ".internal"))
V2 = View("http://localhost:3128", "https://localhost:3128", ("localhost", "127.0.0.1"))
V3 = View("http://localhost:3128", "https://localhost:3128", ("localhost", "127.0.0.1", "redis"))
Check = tuple[ServiceType, str, str, int, str | None]

# id, document, views (services not listed: `default_view`), calls -> the proxy they take (None: direct)
EXAMPLES: list[tuple[str, dict[str, Any], View, dict[ServiceType, View], list[Check]]] = [
    (
        "1 basic proxy setup",
        EXAMPLE_1,
        V1,  # all service types, the same global settings
        {},
        [
            (S.OAUTH, "https", "idp.example.com", 443, "https://localhost:3128"),
            (S.WEBHOOKS, "http", "hooks.example.com", 80, "http://localhost:3128"),
            (S.OAUTH, "https", "idp.internal", 443, None),  # any domain ending with .internal
            (S.HEALTH, "http", "localhost", 8080, None),
            (S.STORAGE, "redis", "127.0.0.1", 6379, None),
        ],
    ),
    (
        "2 oauth dedicated proxy and file mTLS",
        EXAMPLE_2,
        V2,  # global proxy for most services
        {
            S.OAUTH: View(
                "http://localhost:3129",
                "https://localhost:3129",
                ("localhost", "127.0.0.1"),  # per field: the global list still applies
                files(
                    "/etc/tyk/certs/oauth-client.crt", "/etc/tyk/certs/oauth-client.key", "/etc/tyk/certs/oauth-ca.crt"
                ),
            )
        },
        [
            (S.OAUTH, "https", "idp.example.com", 443, "https://localhost:3129"),
            (S.DISCOVERY, "https", "consul.example.com", 443, "https://localhost:3128"),
        ],
    ),
    (
        "3 mixed: storage inherits the global URLs with its own bypass list",
        EXAMPLE_3,
        V3,
        {
            S.STORAGE: View(
                "http://localhost:3128",
                "https://localhost:3128",
                ("localhost", "127.0.0.1", "redis.internal"),
                files("/etc/tyk/certs/redis-client.crt", "/etc/tyk/certs/redis-client.key"),
            ),
            S.WEBHOOKS: View("http://localhost:3130", "https://localhost:3130", ("localhost", "127.0.0.1", "redis")),
        },
        [
            (S.STORAGE, "redis", "redis.internal", 6379, None),
            (S.STORAGE, "redis", "redis", 6379, "https://localhost:3128"),  # its own list replaced "redis"
            (S.OAUTH, "https", "redis", 6379, None),
            (S.WEBHOOKS, "https", "hooks.example.com", 443, "https://localhost:3130"),
        ],
    ),
    (
        "4 production: webhooks enabled alone inherit the global proxy",
        EXAMPLE_4,
        CORPORATE_VIEW,
        {
            S.OAUTH: replace(
                CORPORATE_VIEW,
                tls=files(
                    "/etc/tyk/certs/oauth-client.crt",
                    "/etc/tyk/certs/oauth-client.key",
                    "/etc/tyk/certs/company-ca.crt",
                ),
            ),
            S.WEBHOOKS: replace(
                CORPORATE_VIEW,
                tls=files("/etc/tyk/certs/webhook-client.crt", "/etc/tyk/certs/webhook-client.key"),
            ),
        },
        [
            (S.WEBHOOKS, "https", "hooks.example.com", 443, "https://proxy.company.com:8080"),
            (S.OAUTH, "https", "idp.company.internal", 443, None),
            (S.OAUTH, "https", "idp.example.com", 443, "https://proxy.company.com:8080"),
        ],
    ),
    (
        "5 production certificate store",
        EXAMPLE_5,
        CORPORATE_VIEW,
        {
            S.OAUTH: replace(
                CORPORATE_VIEW,
                tls=TlsClientSettings(cert_id="oauth-client-prod", ca_cert_ids=("oauth-ca-prod", "intermediate-ca")),
            ),
            S.STORAGE: replace(
                CORPORATE_VIEW,
                tls=TlsClientSettings(cert_id="redis-client-prod", ca_cert_ids=("redis-ca-prod",)),
            ),
            S.WEBHOOKS: replace(
                CORPORATE_VIEW,
                tls=TlsClientSettings(cert_id="webhook-client-prod", ca_cert_ids=("webhook-ca-prod",)),
            ),
        },
        [(S.STORAGE, "redis", "redis.company.internal", 6379, None)],
    ),
]


@pytest.mark.parametrize(
    ("document", "default_view", "views", "checks"), [pytest.param(*row[1:], id=row[0]) for row in EXAMPLES]
)
def test_docs_examples_resolve_as_their_what_this_does_lists(
    tmp_path: Path,
    document: dict[str, Any],
    default_view: View,
    views: dict[ServiceType, View],
    checks: list[Check],
) -> None:
    loaded = load(tmp_path, document)
    profiles = loaded.settings.external_services
    assert loaded.warnings == ()
    assert {service: view(profiles[service]) for service in ALL} == {s: views.get(s, default_view) for s in ALL}
    assert all(profile.problems == () for profile in profiles.values())
    for service, scheme, host, port, expected in checks:
        chosen = choose_proxy(profiles[service].proxy, scheme, host, port)
        assert (chosen.redacted if chosen else None) == expected, (service, host)


def test_example_2_certificate_store_variant(tmp_path: Path) -> None:
    document = services(
        {
            "global": {**GLOBAL_3128, "bypass_proxy": "localhost,127.0.0.1"},
            "oauth": {
                "proxy": OAUTH_3129,
                "mtls": {
                    "enabled": True,
                    "cert_id": "oauth-client-cert",
                    "ca_cert_ids": ["oauth-ca-cert"],
                    "tls_min_version": "1.2",
                },
            },
        }
    )
    oauth = load(tmp_path, document).settings.external_services[S.OAUTH]
    assert view(oauth) == View(
        "http://localhost:3129",
        "https://localhost:3129",
        ("localhost", "127.0.0.1"),
        TlsClientSettings(cert_id="oauth-client-cert", ca_cert_ids=("oauth-ca-cert",)),
    )
    assert oauth.tls.has_client_certificate


def test_docs_migration_example_before_and_after_resolve_alike(tmp_path: Path) -> None:
    before = {"http_proxy": "http://localhost:3128", "jwt_ssl_insecure_skip_verify": True}
    after = services(
        {
            "global": {"enabled": True, "http_proxy": "http://localhost:3128"},
            "oauth": {"mtls": {"enabled": True, "insecure_skip_verify": True}},
        }
    )
    old = load(tmp_path, before).settings.external_services
    new = load(tmp_path, after).settings.external_services
    for service in ALL:
        assert view(old[service]) == view(new[service])
        assert choose_proxy(new[service].proxy, "https", "api.example.com", 443) is not None
    assert old[S.OAUTH].tls.insecure_skip_verify and new[S.OAUTH].tls.insecure_skip_verify
    assert (old[S.OAUTH].origins["http_proxy"], new[S.OAUTH].origins["http_proxy"]) == ("legacy", "global")
    assert (old[S.OAUTH].origins["insecure_skip_verify"], new[S.OAUTH].origins["insecure_skip_verify"]) == (
        "legacy",
        "service",
    )


# --- environment variables --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(
            (
                "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_ENABLED",
                "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE",
                "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_KEY_FILE",
            ),
            id="documented spelling",
        ),
        pytest.param(
            (
                "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_ENABLED",
                "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE",
                "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_KEYFILE",
            ),
            id="Tyk's spelling",
        ),
    ],
)
def test_both_env_spellings_configure_oauth_mtls(names: tuple[str, str, str]) -> None:
    environ = dict(
        zip(names, ("true", "/etc/tyk/certs/oauth-client.crt", "/etc/tyk/certs/oauth-client.key"), strict=True)
    )
    loaded = load_gateway_settings(None, environ)
    assert loaded.warnings == ()
    tls = loaded.settings.external_services[S.OAUTH].tls
    assert (tls.cert_file, tls.key_file) == (
        Path("/etc/tyk/certs/oauth-client.crt"),
        Path("/etc/tyk/certs/oauth-client.key"),
    )


@pytest.mark.parametrize(
    "prefix", ["TYK_GW_EXTERNALSERVICES_WEBHOOKS_MTLS_", "TYK_GW_EXTERNAL_SERVICES_WEBHOOKS_MTLS_"], ids=["Tyk", "docs"]
)
def test_ca_cert_ids_from_the_environment_are_comma_separated(prefix: str) -> None:
    ids = "CACERTIDS" if prefix.startswith("TYK_GW_EXTERNALSERVICES") else "CA_CERT_IDS"
    environ = {f"{prefix}ENABLED": "true", f"{prefix}{ids}": "webhook-ca-prod,intermediate-ca"}
    tls = load_gateway_settings(None, environ).settings.external_services[S.WEBHOOKS].tls
    assert tls.ca_cert_ids == ("webhook-ca-prod", "intermediate-ca")


def test_docs_global_env_example_proxies_every_service() -> None:
    environ = {
        "TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED": "true",
        "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY": "http://proxy.example.com:8080",
        "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTPS_PROXY": "https://proxy.example.com:8080",
        "TYK_GW_EXTERNAL_SERVICES_GLOBAL_BYPASS_PROXY": "localhost,127.0.0.1,.internal,*.local",
    }
    profiles = load_gateway_settings(None, environ).settings.external_services
    expected = View(
        "http://proxy.example.com:8080",
        "https://proxy.example.com:8080",
        ("localhost", "127.0.0.1", ".internal", "*.local"),
    )
    assert {view(profile) for profile in profiles.values()} == {expected}
    assert {profile.origins["https_proxy"] for profile in profiles.values()} == {"global"}


def test_docs_quick_start_without_enabled_uses_no_proxy_and_warns() -> None:
    environ = {
        "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY": "http://localhost:4000",
        "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTPS_PROXY": "https://localhost:4000",
    }
    loaded = load_gateway_settings(None, environ)
    assert all(profile.proxy.http_proxy is None for profile in loaded.settings.external_services.values())
    assert loaded.warnings == (
        "<config>: TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY: "
        "$.external_services.global.http_proxy: ignored: external_services.global.enabled is false",
        "<config>: TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTPS_PROXY: "
        "$.external_services.global.https_proxy: ignored: external_services.global.enabled is false",
    )


def test_process_proxy_variables_apply_in_env_mode_only() -> None:
    environ = {"HTTPS_PROXY": "http://corp:3128", "NO_PROXY": "example.com,bad entry"}
    env_mode = load_gateway_settings(None, {**environ, "TYK_GW_EXTERNALSERVICES_HEALTH_PROXY_ENABLED": "true"})
    health = env_mode.settings.external_services[S.HEALTH]
    assert view(health) == View(None, "http://corp:3128", ("example.com", ".example.com"))  # Go's NO_PROXY meaning
    assert health.proxy.loopback_never_proxied
    assert choose_proxy(health.proxy, "https", "127.0.0.1", 443) is None
    assert env_mode.warnings == (
        '<config>: NO_PROXY: health: bypass_proxy entry "bad entry" ignored: '
        "not a host, IP address, CIDR network, .suffix or *.suffix",
    )
    others = load_gateway_settings(None, environ).settings.external_services
    assert all(view(profile) == View(None, None, ()) for profile in others.values())


# --- mTLS validation (DECISIONS §9) -------------------------------------------------------------------------

BOTH_FILES = "both cert_file and key_file must be specified for file-based configuration"
NOTHING = "mTLS enabled but no certificate configuration provided"
STORE_WINS = "cert_id and cert_file/key_file are both set: the certificate store wins, the files are ignored"
CA_STORE_WINS = "ca_cert_ids and ca_file are both set: the certificate store wins, ca_file is ignored"
INSECURE = "insecure_skip_verify is on: the service's certificate is not verified"


# mtls block of `webhooks`, expected TLS, problem (after "invalid mTLS configuration: "), warnings
@pytest.mark.parametrize(
    ("mtls", "tls", "problem", "warnings"),
    [
        pytest.param({"enabled": True, "cert_file": "c.pem"}, None, BOTH_FILES, [], id="cert_file alone"),
        pytest.param({"enabled": True, "key_file": "k.pem"}, None, BOTH_FILES, [], id="key_file alone"),
        pytest.param({"enabled": True}, None, NOTHING, [], id="enabled with nothing"),
        pytest.param(
            {"enabled": True, "cert_file": "c.pem", "key_file": "k.pem"},
            TlsClientSettings(Path("c.pem"), Path("k.pem")),
            None,
            [],
            id="client certificate from files",
        ),
        pytest.param(
            {"enabled": True, "ca_file": "ca.pem"},
            TlsClientSettings(ca_file=Path("ca.pem")),
            None,
            [],
            id="CA file only",
        ),
        pytest.param(
            {"enabled": True, "ca_cert_ids": ["ca1"]},
            TlsClientSettings(ca_cert_ids=("ca1",)),
            None,
            [],
            id="CA ids only",
        ),
        pytest.param(
            {"enabled": True, "cert_id": "id1", "cert_file": "c.pem", "key_file": "k.pem"},
            TlsClientSettings(cert_id="id1"),
            None,
            [STORE_WINS],
            id="store wins over files",
        ),
        pytest.param(
            {"enabled": True, "cert_id": "id1", "cert_file": "c.pem"},
            TlsClientSettings(cert_id="id1"),
            None,
            [STORE_WINS],
            id="store wins over half a pair",
        ),
        pytest.param(
            {"enabled": True, "ca_cert_ids": ["ca1"], "ca_file": "ca.pem"},
            TlsClientSettings(ca_cert_ids=("ca1",)),
            None,
            [CA_STORE_WINS],
            id="CA store wins over ca_file",
        ),
        pytest.param(
            {"enabled": True, "insecure_skip_verify": True},
            TlsClientSettings(insecure_skip_verify=True),
            None,
            [INSECURE],
            id="insecure only (docs' migration example)",
        ),
        pytest.param(
            {"enabled": True, "tls_min_version": "1.3"},
            TlsClientSettings(min_version="1.3"),
            None,
            [],
            id="versions only",
        ),
        pytest.param(
            {"enabled": False, "cert_file": "c.pem", "insecure_skip_verify": True, "tls_min_version": "1.3"},
            TlsClientSettings(),
            None,
            [],
            id="disabled block is not read",
        ),
    ],
)
def test_mtls_blocks(
    mtls: dict[str, Any], tls: TlsClientSettings | None, problem: str | None, warnings: list[str]
) -> None:
    result = translate(services({"webhooks": {"mtls": mtls}}))
    profile = result.profiles[S.WEBHOOKS]
    if problem is None:
        assert (profile.tls, profile.problems, result.problems) == (tls, (), ())
    else:
        cause = f"failed to configure TLS: invalid mTLS configuration: {problem}"
        assert profile.problems == (f"webhooks: {cause}",)
        assert [(f.services, f.json_path, f.message) for f in result.problems] == [
            ((S.WEBHOOKS,), ("external_services", "webhooks", "mtls"), cause)
        ]
    assert [f.message for f in result.warnings] == warnings


def test_mtls_problem_is_a_config_error_naming_service_and_cause(tmp_path: Path) -> None:
    document = services({"oauth": {"mtls": {"enabled": True, "cert_file": "/etc/tyk/certs/oauth-client.crt"}}})
    assert load_problems(tmp_path, document) == [
        f"{tmp_path / 'tyk.conf'}: $.external_services.oauth.mtls: oauth: failed to configure TLS: "
        f"invalid mTLS configuration: {BOTH_FILES}"
    ]


def test_without_the_loader_a_broken_service_fails_closed_and_the_others_load() -> None:
    conf = TykGatewayConf.model_validate(services({"oauth": {"mtls": {"enabled": True, "key_file": "k.pem"}}}))
    profiles = translate_gateway(conf, source=None, cwd=Path("/")).external_services
    assert profiles[S.OAUTH].problems
    assert all(not profiles[service].problems for service in ALL if service is not S.OAUTH)


# --- TLS versions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ({}, ("1.2", "1.3")),
        ({"tls_min_version": "1.0"}, ("1.0", "1.3")),
        ({"tls_min_version": "1.1", "tls_max_version": "1.2"}, ("1.1", "1.2")),
        ({"tls_min_version": "1.3"}, ("1.3", "1.3")),
        ({"tls_max_version": "1.1"}, ("1.1", "1.1")),  # the default min drops to a lower written max
        ({"tls_min_version": "1.2", "tls_max_version": "1.2"}, ("1.2", "1.2")),
    ],
)
@pytest.mark.parametrize("service", ALL)
def test_tls_versions_for_every_service(
    service: ServiceType, written: dict[str, str], expected: tuple[str, str]
) -> None:
    profile = translate(
        services({service.value: {"mtls": {"enabled": True, "ca_file": "ca.pem", **written}}})
    ).profiles[service]
    assert (profile.tls.min_version, profile.tls.max_version) == expected
    assert profile.problems == ()


def test_min_above_max_is_a_problem(tmp_path: Path) -> None:
    document = services(
        {
            "storage": {
                "mtls": {"enabled": True, "ca_file": "ca.pem", "tls_min_version": "1.3", "tls_max_version": "1.2"}
            }
        }
    )
    assert load_problems(tmp_path, document) == [
        f"{tmp_path / 'tyk.conf'}: $.external_services.storage.mtls: storage: failed to configure TLS: "
        'invalid mTLS configuration: tls_min_version "1.3" is above tls_max_version "1.2"'
    ]


@pytest.mark.parametrize("version", ["1.4", "TLS1.2", "1", "1.2 "])
def test_unknown_tls_versions_are_config_errors_in_file_and_env(tmp_path: Path, version: str) -> None:
    in_file = load_problems(tmp_path, services({"oauth": {"mtls": {"enabled": True, "tls_min_version": version}}}))
    assert len(in_file) == 1
    assert in_file[0].startswith(f"{tmp_path / 'tyk.conf'}: $.external_services.oauth.mtls.tls_min_version: ")
    variable = "TYK_GW_EXTERNALSERVICES_STORAGE_MTLS_TLSMAXVERSION"
    from_env = load_problems(tmp_path, {}, {variable: version})
    assert len(from_env) == 1
    assert from_env[0].startswith(f"<config>: {variable}: $.external_services.storage.mtls.tls_max_version: ")


# --- insecure_skip_verify (DECISIONS §6, §9) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "service", "insecure", "origin"),
    [
        pytest.param({}, S.OAUTH, False, "default", id="nothing"),
        pytest.param({"jwt_ssl_insecure_skip_verify": True}, S.OAUTH, True, "legacy", id="legacy key alone"),
        pytest.param(
            {"jwt_ssl_insecure_skip_verify": True, **services({"oauth": {"mtls": {"enabled": True, "ca_file": "c"}}})},
            S.OAUTH,
            True,
            "legacy",
            id="legacy key when the new one is unset",
        ),
        pytest.param(
            {
                "jwt_ssl_insecure_skip_verify": True,
                **services({"oauth": {"mtls": {"enabled": True, "ca_file": "c", "insecure_skip_verify": False}}}),
            },
            S.OAUTH,
            False,
            "service",
            id="new key wins over legacy",
        ),
        pytest.param({"jwt_ssl_insecure_skip_verify": True}, S.WEBHOOKS, False, "default", id="legacy is oauth's only"),
        pytest.param(
            services({"health": {"mtls": {"enabled": True, "insecure_skip_verify": True}}}),
            S.HEALTH,
            True,
            "service",
            id="any service",
        ),
    ],
)
def test_insecure_skip_verify(document: dict[str, Any], service: ServiceType, insecure: bool, origin: str) -> None:
    result = translate(document)
    profile = result.profiles[service]
    assert (profile.tls.insecure_skip_verify, profile.origins["insecure_skip_verify"]) == (insecure, origin)
    warned = [f.services for f in result.warnings if f.message == INSECURE and service in f.services]
    assert warned == ([(service,)] if insecure else [])


def test_one_insecure_warning_per_service(tmp_path: Path) -> None:
    block = {"mtls": {"enabled": True, "insecure_skip_verify": True}}
    loaded = load(tmp_path, {**services({"oauth": block, "webhooks": block}), "jwt_ssl_insecure_skip_verify": True})
    assert loaded.warnings == tuple(
        f"{tmp_path / 'tyk.conf'}: $.external_services.{name}.mtls.insecure_skip_verify: {name}: {INSECURE}"
        for name in ("oauth", "webhooks")
    )


# --- storage falls back to the legacy storage.* TLS fields (DECISIONS §11) ----------------------------------

LEGACY_STORAGE = {
    "use_ssl": True,
    "cert_file": "redis.crt",
    "key_file": "redis.key",
    "ca_file": "redis-ca.crt",
    "tls_min_version": "1.3",
    "ssl_insecure_skip_verify": True,
}


@pytest.mark.parametrize(
    ("document", "tls", "origin"),
    [
        pytest.param(
            {"storage": LEGACY_STORAGE},
            TlsClientSettings(
                Path("redis.crt"), Path("redis.key"), Path("redis-ca.crt"), insecure_skip_verify=True, min_version="1.3"
            ),
            "legacy",
            id="legacy fields when storage.mtls is off",
        ),
        pytest.param(
            {"storage": {**LEGACY_STORAGE, "use_ssl": False}}, TlsClientSettings(), "default", id="no use_ssl"
        ),
        pytest.param(
            {"storage": LEGACY_STORAGE, **services({"storage": {"mtls": {"enabled": True, "cert_id": "r"}}})},
            TlsClientSettings(cert_id="r"),
            "service",
            id="external_services wins",
        ),
    ],
)
def test_storage_tls_falls_back_to_legacy_fields(document: dict[str, Any], tls: TlsClientSettings, origin: str) -> None:
    profile = translate(document).profiles[S.STORAGE]
    assert (profile.tls, profile.origins["tls"]) == (tls, origin)


def test_legacy_storage_half_pair_is_a_problem() -> None:
    result = translate({"storage": {"use_ssl": True, "cert_file": "redis.crt"}})
    assert [(f.json_path, f.message) for f in result.problems] == [
        (("storage",), f"failed to configure TLS: invalid mTLS configuration: {BOTH_FILES}")
    ]


# --- pools and timeouts (docs' tables; DECISIONS §13) -------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "pool", "timeout"),
    [
        (S.OAUTH, PoolLimits(50, 10, 30.0, 10.0), 15.0),
        (S.WEBHOOKS, PoolLimits(50, 10, 30.0, 10.0), 30.0),
        (S.HEALTH, PoolLimits(20, 5, 15.0, 5.0), 10.0),
        (S.DISCOVERY, PoolLimits(30, 5, 20.0, 5.0), 10.0),
        (S.STORAGE, PoolLimits(50, 15, 90.0, 15.0), 20.0),
    ],
)
def test_defaults_table(service: ServiceType, pool: PoolLimits, timeout: float) -> None:
    profile = translate({}).profiles[service]
    assert (DEFAULTS[service].pool, DEFAULTS[service].timeout) == (pool, timeout)
    assert (profile.pool, profile.timeout) == (pool, timeout)
    assert (profile.origins["pool"], profile.origins["timeout"]) == ("default", "default")


def test_an_empty_conf_gives_the_default_profiles() -> None:
    assert set(DEFAULTS) == set(ServiceType)
    assert translate({}).profiles == default_profiles() == GatewaySettings().external_services
    assert translate_gateway(TykGatewayConf(), source=None, cwd=Path("/")).external_services == default_profiles()
    assert all(view(profile) == View(None, None, ()) for profile in default_profiles().values())


def test_pool_and_timeout_overrides_are_per_field(tmp_path: Path) -> None:
    document = services(
        {"health": {"timeout": 2.5, "pool": {"max_idle_per_host": 2}}, "webhooks": {"pool": {"idle_timeout": 5}}}
    )
    profiles = load(tmp_path, document).settings.external_services
    assert (profiles[S.HEALTH].pool, profiles[S.HEALTH].timeout) == (PoolLimits(20, 2, 15.0, 5.0), 2.5)
    assert (profiles[S.HEALTH].origins["pool"], profiles[S.HEALTH].origins["timeout"]) == ("service", "service")
    assert (profiles[S.WEBHOOKS].pool, profiles[S.WEBHOOKS].timeout) == (PoolLimits(50, 10, 5.0, 10.0), 30.0)
    assert profiles[S.OAUTH].pool == DEFAULTS[S.OAUTH].pool


@pytest.mark.parametrize(
    "environ",
    [
        {"TYK_GW_EXTERNALSERVICES_DISCOVERY_TIMEOUT": "3", "TYK_GW_EXTERNALSERVICES_DISCOVERY_POOL_MAXIDLE": "7"},
        {"TYK_GW_EXTERNAL_SERVICES_DISCOVERY_TIMEOUT": "3", "TYK_GW_EXTERNAL_SERVICES_DISCOVERY_POOL_MAX_IDLE": "7"},
    ],
)
def test_pool_and_timeout_overrides_from_the_environment(environ: dict[str, str]) -> None:
    discovery = load_gateway_settings(None, environ).settings.external_services[S.DISCOVERY]
    assert (discovery.timeout, discovery.pool.max_idle) == (3.0, 7)


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ({"timeout": -1}, "$.external_services.oauth.timeout"),
        ({"pool": {"max_idle": -1}}, "$.external_services.oauth.pool.max_idle"),
        ({"pool": {"idle_timeout": "30s"}}, "$.external_services.oauth.pool.idle_timeout"),
    ],
)
def test_bad_pool_or_timeout_values_are_config_errors(tmp_path: Path, block: dict[str, Any], path: str) -> None:
    problems = load_problems(tmp_path, services({"oauth": block}))
    assert [problem.split(": ")[1] for problem in problems] == [path]


# --- bad proxy URLs and bypass entries (DECISIONS §10) -------------------------------------------------------

BAD_URL = "http://alice:s3cr3t@badproxy:wrong_port"
BAD_URL_CAUSE = (
    'failed to configure proxy: invalid HTTP proxy URL: parse "http://***@badproxy:wrong_port": '
    'invalid port "wrong_port" after host'
)


def test_a_bad_global_url_names_every_service_using_it_without_the_password(tmp_path: Path) -> None:
    document = services({"global": {"enabled": True, "http_proxy": BAD_URL}, "oauth": {"proxy": {"http_proxy": "p:1"}}})
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document)
    assert [str(problem) for problem in caught.value.problems] == [
        f"{tmp_path / 'tyk.conf'}: $.external_services.global.http_proxy: "
        f"storage, webhooks, health, discovery: {BAD_URL_CAUSE}"
    ]
    assert "s3cr3t" not in str(caught.value)


def test_a_bad_service_url_fails_that_service_closed() -> None:
    result = translate(services({"webhooks": {"proxy": {"https_proxy": "socks5://alice:s3cr3t@p:1080"}}}))
    cause = 'failed to configure proxy: invalid HTTPS proxy URL: parse "socks5://***@p:1080": unsupported proxy scheme'
    assert result.profiles[S.WEBHOOKS].problems[0].startswith(f"webhooks: {cause}")
    assert [f.json_path for f in result.problems] == [("external_services", "webhooks", "proxy", "https_proxy")]
    assert all(not result.profiles[s].problems for s in ALL if s is not S.WEBHOOKS)
    assert "s3cr3t" not in repr(result)


@pytest.mark.parametrize(
    ("document", "environ", "blamed"),
    [
        pytest.param({"http_proxy": BAD_URL}, {}, "TYK_CONF: $.http_proxy", id="legacy key"),
        pytest.param({}, {"TYK_GW_HTTPPROXY": BAD_URL}, "<config>: TYK_GW_HTTPPROXY: $.http_proxy", id="legacy by env"),
        pytest.param(
            services({"global": {"enabled": True}}), {"HTTP_PROXY": BAD_URL}, "<config>: HTTP_PROXY", id="HTTP_PROXY"
        ),
        pytest.param(
            {},
            {"TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED": "true", "TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY": BAD_URL},
            "<config>: TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY: $.external_services.global.http_proxy",
            id="TYK_GW variable",
        ),
    ],
)
def test_bad_urls_are_blamed_where_they_were_written(
    tmp_path: Path, document: dict[str, Any], environ: dict[str, str], blamed: str
) -> None:
    problems = load_problems(tmp_path, document, environ)
    expected = f"{blamed}: oauth, storage, webhooks, health, discovery: {BAD_URL_CAUSE}"
    assert problems == [expected.replace("TYK_CONF", str(tmp_path / "tyk.conf"))]


def test_bad_bypass_entries_in_tyk_conf_are_problems() -> None:
    result = translate(services({"global": {"enabled": True, "http_proxy": "p:1", "bypass_proxy": "ok.local,a*b,h:x"}}))
    assert [f.message for f in result.problems if f.services == (S.OAUTH,)] == [
        'failed to configure proxy: invalid bypass entry "a*b": '
        "not a host, IP address, CIDR network, .suffix or *.suffix",
        'failed to configure proxy: invalid bypass entry "h:x": invalid port "x"',
    ]
    assert {problem.json_path for problem in result.problems} == {("external_services", "global", "bypass_proxy")}


def test_blame_groups_services_and_keeps_config_problem_shape(tmp_path: Path) -> None:
    document = services({"global": {"enabled": True, "https_proxy": BAD_URL}})
    problems = load_problems(tmp_path, document)
    assert len(problems) == 1
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, document)
    problem = caught.value.problems[0]
    assert isinstance(problem, ConfigProblem)
    assert problem.json_path == "$.external_services.global.https_proxy"


def test_upstream_proxies_come_from_the_environment_with_gos_rules() -> None:
    route, findings = translate_upstream_proxy(
        {"HTTPS_PROXY": "http://user:pw@proxy.corp:3128", "no_proxy": "internal.example,.svc", "HTTP_PROXY": ""}
    )
    assert route.https_proxy is not None and (route.https_proxy.host, route.https_proxy.port) == ("proxy.corp", 3128)
    assert route.http_proxy is None
    assert route.loopback_never_proxied
    assert [entry.text for entry in route.bypass] == ["internal.example", ".internal.example", ".svc"]
    assert findings == []
    assert translate_upstream_proxy({})[0] == ProxyRoute()
    bad, problems = translate_upstream_proxy({"HTTPS_PROXY": "ftp://nope"})
    assert bad.https_proxy is None and problems
