"""TLS listeners and upstream TLS: one row per rule of `bascule.compat.tyk.translate_tls`, for Classic, OAS
and tyk.conf, through `translate_api_definition` and `translate_gateway` so JSON paths are real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tyk_documents import XT, classic, oas, with_changes

from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.translate_api import translate_api_definition
from bascule.compat.tyk.translate_gateway import translate_gateway
from bascule.config.apis import ApiSettings
from bascule.config.gateway import GatewaySettings
from bascule.config.tls import (
    ClientCertificateAuth,
    HostCertificate,
    HostPins,
    ListenerTls,
    ServerCertificate,
    UpstreamTls,
)
from bascule.errors import ConfigError

SOURCE = Path("/etc/tyk/apps/users.json")
CONF = Path("/etc/tyk/tyk.conf")
UP = f"{XT}.upstream"
OAS_UP = f"$.{UP}"
GCM = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
CBC = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"

CLASSIC: dict[str, Any] = classic("https://users-1:8443/api")
OAS_DOC: dict[str, Any] = oas("https://users-1:8443/api")

# tyk.conf layer used by the layering rows
GATEWAY_CONF: dict[str, Any] = {
    "proxy_ssl_min_version": 770,
    "proxy_ssl_max_version": 772,
    "proxy_ssl_ciphers": [CBC],
    "security": {
        "certificates": {"upstream": {"*": "gw-default", "users-1:8443": "gw-exact"}, "apis": ["gw-client"]},
        "pinned_public_keys": {"*": "gw-pin"},
    },
}


def gateway_of(conf: dict[str, Any]) -> GatewaySettings:
    return translate_gateway(TykGatewayConf.model_validate(conf), source=CONF, cwd=Path("/"))


def classic(changes: dict[str, Any], gateway: GatewaySettings | None = None) -> ApiSettings:
    return translate_api_definition(with_changes(CLASSIC, changes), gateway or GatewaySettings(), SOURCE)


def oas(changes: dict[str, Any], gateway: GatewaySettings | None = None) -> ApiSettings:
    return translate_api_definition(with_changes(OAS_DOC, changes), gateway or GatewaySettings(), SOURCE)


def api_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        translate_api_definition(document, GatewaySettings(), SOURCE)
    return [(problem.json_path, problem.message) for problem in raised.value.problems]


def gateway_problems(conf: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        gateway_of(conf)
    assert all(problem.file == CONF for problem in raised.value.problems)
    return [(problem.json_path, problem.message) for problem in raised.value.problems]


# --- versions, ciphers and flags, one API layer over the default gateway ------------------------------------


@pytest.mark.parametrize(
    ("classic_changes", "oas_changes", "expected"),
    [
        # Versions: nothing set -> min 1.2, no max
        ({}, {}, UpstreamTls()),
        # Versions: Classic numbers / OAS strings; no forced 1.2 cap on max
        (
            {"proxy.transport": {"ssl_min_version": 771, "ssl_max_version": 772}},
            {f"{UP}.tlsTransport": {"minVersion": "1.2", "maxVersion": "1.3"}},
            UpstreamTls(min_version="1.2", max_version="1.3"),
        ),
        # Versions: a minimum below 1.2 is kept as written
        (
            {"proxy.transport": {"ssl_min_version": 769}},
            {f"{UP}.tlsTransport": {"minVersion": "1.0"}},
            UpstreamTls(min_version="1.0"),
        ),
        # Versions: 0 / "" unset
        (
            {"proxy.transport": {"ssl_min_version": 0, "ssl_max_version": 0}},
            {f"{UP}.tlsTransport": {"minVersion": "", "maxVersion": ""}},
            UpstreamTls(),
        ),
        # Ciphers: Go names kept as written (OpenSSL names accepted too)
        (
            {"proxy.transport": {"ssl_ciphers": [GCM, "ECDHE-RSA-AES128-SHA"]}},
            {f"{UP}.tlsTransport": {"ciphers": [GCM, "ECDHE-RSA-AES128-SHA"]}},
            UpstreamTls(ciphers=(GCM, "ECDHE-RSA-AES128-SHA")),
        ),
        # Layering: insecure_skip_verify and force_common_name_check from the API alone
        (
            {"proxy.transport": {"ssl_insecure_skip_verify": True, "ssl_force_common_name_check": True}},
            {f"{UP}.tlsTransport": {"insecureSkipVerify": True, "forceCommonNameCheck": True}},
            UpstreamTls(insecure_skip_verify=True, force_common_name_check=True),
        ),
        # Upstream proxy: http(s) URL; OAS `enabled` ignored, as in Tyk
        (
            {"proxy.transport": {"proxy_url": "http://squid:3128"}},
            {f"{UP}.proxy": {"enabled": False, "url": "http://squid:3128"}},
            UpstreamTls(proxy_url="http://squid:3128"),
        ),
        # Upstream client certificates: the API's map, in order
        (
            {"upstream_certificates": {"*.internal": "cert-id", "users-1:8443": "/etc/tyk/u1.pem"}},
            {
                f"{UP}.mutualTLS": {
                    "enabled": True,
                    "domainToCertificateMapping": [
                        {"domain": "*.internal", "certificate": "cert-id"},
                        {"domain": "users-1:8443", "certificate": "/etc/tyk/u1.pem"},
                    ],
                }
            },
            UpstreamTls(
                client_certificates=(
                    HostCertificate("*.internal", "cert-id"),
                    HostCertificate("users-1:8443", "/etc/tyk/u1.pem"),
                )
            ),
        ),
        # Pins: Classic comma-separated (spaces and empties dropped), OAS lists
        (
            {"pinned_public_keys": {"users-1": "key1, key2,", "*": "fallback"}},
            {
                f"{UP}.certificatePinning": {
                    "enabled": True,
                    "domainToPublicKeysMapping": [
                        {"domain": "users-1", "publicKeys": ["key1", "key2"]},
                        {"domain": "*", "publicKeys": ["fallback"]},
                    ],
                }
            },
            UpstreamTls(pins=(HostPins("users-1", ("key1", "key2")), HostPins("*", ("fallback",)))),
        ),
        # OAS blocks present but disabled: nothing read from them
        (
            {"upstream_certificates_disabled": True, "upstream_certificates": {"*": "ignored"}},
            {
                f"{UP}.mutualTLS": {
                    "enabled": False,
                    "domainToCertificateMapping": [{"domain": "*", "certificate": "ignored"}],
                }
            },
            UpstreamTls(),
        ),
    ],
)
def test_api_upstream_tls(classic_changes: dict[str, Any], oas_changes: dict[str, Any], expected: UpstreamTls) -> None:
    assert classic(classic_changes).upstream_tls == expected
    assert oas(oas_changes).upstream_tls == expected


# --- layering over a gateway ----------------------------------------------------------------------------

GW_CERTS = (
    HostCertificate("*", "gw-default", from_gateway=True),
    HostCertificate("users-1:8443", "gw-exact", from_gateway=True),
)
GW_PINS = (HostPins("*", ("gw-pin",), from_gateway=True),)


def test_gateway_upstream_tls() -> None:
    assert gateway_of(GATEWAY_CONF).upstream_tls == UpstreamTls(
        min_version="1.1", max_version="1.3", ciphers=(CBC,), client_certificates=GW_CERTS, pins=GW_PINS
    )


def test_gateway_upstream_defaults_and_flags() -> None:
    # Versions: unset gateway minimum is 1.2; flags as written
    settings = gateway_of({"proxy_ssl_insecure_skip_verify": True, "ssl_force_common_name_check": True})
    assert settings.upstream_tls == UpstreamTls(insecure_skip_verify=True, force_common_name_check=True)
    assert settings.listener_tls is None


@pytest.mark.parametrize(
    ("classic_changes", "oas_changes", "expected"),
    [
        # Layering: an API that sets nothing inherits everything
        (
            {},
            {},
            UpstreamTls(
                min_version="1.1", max_version="1.3", ciphers=(CBC,), client_certificates=GW_CERTS, pins=GW_PINS
            ),
        ),
        # Layering: API versions and a non-empty cipher list replace the gateway's
        (
            {"proxy.transport": {"ssl_min_version": 771, "ssl_max_version": 771, "ssl_ciphers": [GCM]}},
            {f"{UP}.tlsTransport": {"minVersion": "1.2", "maxVersion": "1.2", "ciphers": [GCM]}},
            UpstreamTls(
                min_version="1.2", max_version="1.2", ciphers=(GCM,), client_certificates=GW_CERTS, pins=GW_PINS
            ),
        ),
        # Upstream client certificates / pins: gateway entries first, then the API's
        (
            {"upstream_certificates": {"*": "api-default"}, "pinned_public_keys": {"users-1": "api-pin"}},
            {
                f"{UP}.mutualTLS": {
                    "enabled": True,
                    "domainToCertificateMapping": [{"domain": "*", "certificate": "api-default"}],
                },
                f"{UP}.certificatePinning": {
                    "enabled": True,
                    "domainToPublicKeysMapping": [{"domain": "users-1", "publicKeys": ["api-pin"]}],
                },
            },
            UpstreamTls(
                min_version="1.1",
                max_version="1.3",
                ciphers=(CBC,),
                client_certificates=(*GW_CERTS, HostCertificate("*", "api-default")),
                pins=(*GW_PINS, HostPins("users-1", ("api-pin",))),
            ),
        ),
        # Disabled (Classic flag / OAS enabled false): no client certificate and no pin at all (§5 case 53, 57)
        (
            {"upstream_certificates_disabled": True, "certificate_pinning_disabled": True},
            {
                f"{UP}.mutualTLS": {"enabled": False},
                f"{UP}.certificatePinning": {"enabled": False},
            },
            UpstreamTls(min_version="1.1", max_version="1.3", ciphers=(CBC,)),
        ),
    ],
)
def test_api_over_gateway(classic_changes: dict[str, Any], oas_changes: dict[str, Any], expected: UpstreamTls) -> None:
    gateway = gateway_of(GATEWAY_CONF)
    assert classic(classic_changes, gateway).upstream_tls == expected
    assert oas(oas_changes, gateway).upstream_tls == expected


def test_flags_are_gateway_or_api() -> None:
    gateway = gateway_of({"proxy_ssl_insecure_skip_verify": True, "ssl_force_common_name_check": True})
    off = {"ssl_insecure_skip_verify": False, "ssl_force_common_name_check": False}
    tls = classic({"proxy.transport": off}, gateway).upstream_tls
    assert tls.insecure_skip_verify and tls.force_common_name_check


# --- problems -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"proxy.transport": {"ssl_min_version": 768}}, "$.proxy.transport.ssl_min_version", "not one of 769"),
        ({"proxy.transport": {"ssl_max_version": 1}}, "$.proxy.transport.ssl_max_version", "not one of 769"),
        (
            {"proxy.transport": {"ssl_min_version": 772, "ssl_max_version": 771}},
            "$.proxy.transport.ssl_max_version",
            "below the minimum 1.3",
        ),
        ({"proxy.transport": {"ssl_min_version": "771"}}, "$.proxy.transport.ssl_min_version", "valid integer"),
        ({"proxy.transport": {"ssl_ciphers": [GCM, "RC5"]}}, "$.proxy.transport.ssl_ciphers[1]", "unknown cipher"),
        ({"proxy.transport": {"proxy_url": "squid:3128"}}, "$.proxy.transport.proxy_url", "not an absolute"),
        ({"proxy.transport": {"proxy_url": "socks5://p:1080"}}, "$.proxy.transport.proxy_url", "not an absolute"),
        ({"upstream_certificates": {"a.*.com": "id"}}, "$.upstream_certificates['a.*.com']", "first label"),
        ({"upstream_certificates": {"*": " "}}, "$.upstream_certificates['*']", "reference is empty"),
        ({"pinned_public_keys": {"users-1:8443": "k"}}, "$.pinned_public_keys['users-1:8443']", "has a port"),
        ({"pinned_public_keys": {"users-1": " , "}}, "$.pinned_public_keys['users-1']", "no public keys"),
        ({"certificates": [""]}, "$.certificates[0]", "reference is empty"),
    ],
)
def test_classic_problems(changes: dict[str, Any], path: str, message: str) -> None:
    problems = api_problems(with_changes(CLASSIC, changes))
    assert len(problems) == 1, problems
    assert problems[0][0] == path
    assert message in problems[0][1]


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({f"{UP}.tlsTransport": {"minVersion": "1.4"}}, f"{OAS_UP}.tlsTransport.minVersion", "not one of"),
        ({f"{UP}.tlsTransport": {"maxVersion": "771"}}, f"{OAS_UP}.tlsTransport.maxVersion", "not one of"),
        ({f"{UP}.tlsTransport": {"ciphers": ["nope"]}}, f"{OAS_UP}.tlsTransport.ciphers[0]", "unknown cipher"),
        ({f"{UP}.proxy": {"enabled": True, "url": "ftp://x"}}, f"{OAS_UP}.proxy.url", "not an absolute"),
        (
            {
                f"{UP}.mutualTLS": {
                    "enabled": True,
                    "domainToCertificateMapping": [{"domain": "*:1", "certificate": "c"}],
                }
            },
            f"{OAS_UP}.mutualTLS.domainToCertificateMapping[0].domain",
            "takes no port",
        ),
        (
            {
                f"{UP}.certificatePinning": {
                    "enabled": True,
                    "domainToPublicKeysMapping": [{"domain": "h", "publicKeys": []}],
                }
            },
            f"{OAS_UP}.certificatePinning.domainToPublicKeysMapping[0].publicKeys",
            "no public keys",
        ),
        ({f"{UP}.mutualTLS": {"domainToCertificateMapping": []}}, f"{OAS_UP}.mutualTLS.enabled", "required"),
    ],
)
def test_oas_problems(changes: dict[str, Any], path: str, message: str) -> None:
    problems = api_problems(with_changes(OAS_DOC, changes))
    assert len(problems) == 1, problems
    assert problems[0][0] == path
    assert message in problems[0][1]


@pytest.mark.parametrize(
    ("conf", "path", "message"),
    [
        ({"proxy_ssl_min_version": 700}, "$.proxy_ssl_min_version", "not one of 769"),
        ({"proxy_ssl_min_version": 772, "proxy_ssl_max_version": 771}, "$.proxy_ssl_max_version", "below"),
        ({"proxy_ssl_ciphers": ["TLS_NOPE"]}, "$.proxy_ssl_ciphers[0]", "unknown cipher"),
        (
            {"security": {"certificates": {"upstream": {"*.": "c"}}}},
            "$.security.certificates.upstream['*.']",
            "empty label",
        ),
        ({"security": {"pinned_public_keys": {"h:1": "k"}}}, "$.security.pinned_public_keys['h:1']", "has a port"),
        (
            {"http_server_options": {"use_ssl": True, "max_version": 5}},
            "$.http_server_options.max_version",
            "not one of 769",
        ),
        (
            {"http_server_options": {"use_ssl": True, "ssl_ciphers": ["x"]}},
            "$.http_server_options.ssl_ciphers[0]",
            "unknown cipher",
        ),
        (
            {"http_server_options": {"use_ssl": True, "certificates": [{"domain_name": "a", "key_file": "k"}]}},
            "$.http_server_options.certificates[0].cert_file",
            "required",
        ),
    ],
)
def test_gateway_problems(conf: dict[str, Any], path: str, message: str) -> None:
    problems = gateway_problems(conf)
    assert len(problems) == 1, problems
    assert problems[0][0] == path
    assert message in problems[0][1]


# --- listener --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # use_ssl false -> plain listeners (the other keys are not read)
        ({"use_ssl": False, "min_version": 5}, None),
        # use_ssl without any certificate is allowed (API certificates may provide them); default min 1.2
        ({"use_ssl": True}, ListenerTls()),
        # certificates[] then ssl_certificates, versions, ciphers, enable_http2
        (
            {
                "use_ssl": True,
                "certificates": [{"domain_name": "API.example.com", "cert_file": "/c.pem", "key_file": "/k.pem"}],
                "ssl_certificates": ["store-id", "/etc/tyk/combined.pem"],
                "min_version": 772,
                "max_version": 772,
                "ssl_ciphers": [GCM],
                "enable_http2": True,
            },
            ListenerTls(
                certificates=(
                    ServerCertificate("/c.pem", "/k.pem", "api.example.com"),
                    ServerCertificate("store-id"),
                    ServerCertificate("/etc/tyk/combined.pem"),
                ),
                min_version="1.3",
                max_version="1.3",
                ciphers=(GCM,),
                enable_http2=True,
            ),
        ),
    ],
)
def test_listener_tls(options: dict[str, Any], expected: ListenerTls | None) -> None:
    assert gateway_of({"http_server_options": options}).listener_tls == expected


# --- server certificates and client-certificate auth ----------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "served"),
    [
        ({"certificates": ["id-1", "/etc/tyk/api.pem"]}, ("id-1", "/etc/tyk/api.pem")),
        ({"certificates": ["id-1"], "domain_disabled": True}, ()),
    ],
)
def test_classic_server_certificates(changes: dict[str, Any], served: tuple[str, ...]) -> None:
    assert classic(changes).server_certificates == served


@pytest.mark.parametrize(
    ("custom_domain", "served"),
    [
        ({"enabled": True, "name": "api.example.com", "certificates": ["id-1"]}, ("id-1",)),
        ({"enabled": False, "name": "api.example.com", "certificates": ["id-1"]}, ()),
    ],
)
def test_oas_server_certificates(custom_domain: dict[str, Any], served: tuple[str, ...]) -> None:
    assert oas({f"{XT}.server.customDomain": custom_domain}).server_certificates == served


@pytest.mark.parametrize(
    ("classic_changes", "oas_changes", "expected"),
    [
        # off -> None
        (
            {"client_certificates": ["c1"]},
            {f"{XT}.server.clientCertificates": {"enabled": False, "allowlist": ["c1"]}},
            None,
        ),
        ({}, {}, None),
        # on -> the API's list, then the gateway's `security.certificates.apis`
        (
            {"use_mutual_tls_auth": True, "client_certificates": ["c1"]},
            {f"{XT}.server.clientCertificates": {"enabled": True, "allowlist": ["c1"]}},
            ClientCertificateAuth(allowed=("c1", "gw-client")),
        ),
    ],
)
def test_client_certificate_auth(
    classic_changes: dict[str, Any], oas_changes: dict[str, Any], expected: ClientCertificateAuth | None
) -> None:
    gateway = gateway_of(GATEWAY_CONF)
    assert classic(classic_changes, gateway).client_certificate_auth == expected
    assert oas(oas_changes, gateway).client_certificate_auth == expected
