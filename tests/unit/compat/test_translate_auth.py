"""JWT, external OAuth and forwarded claims: one row per rule of `bascule.compat.tyk.translate_auth`,
through `translate_api_definition` so JSON paths are real."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tyk_documents import XT, classic, oas, with_changes

from bascule.compat.tyk.translate_api import translate_api_definition
from bascule.config.auth import ApiAuth, Introspection, JwksSource, JwtAuth
from bascule.config.gateway import GatewaySettings
from bascule.errors import ConfigError

SOURCE = Path("/etc/tyk/apps/users.json")
OAS = f"$.{XT}"
SCHEMES = f"{OAS}.server.authentication.securitySchemes"
JWKS = "https://idp.example/.well-known/jwks.json"
PEM = b"-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"
CLAIM_HEADERS = {"X-User": "$tyk_context.jwt_claims_sub", "X-Static": "yes", "X-Tenant": "$tyk_context.jwt_claims_tid"}

CLASSIC: dict[str, Any] = classic("http://users-1:8080/api")
CLASSIC_JWT: dict[str, Any] = {**CLASSIC, "enable_jwt": True, "jwt_signing_method": "rsa", "jwt_source": JWKS}
OAS_DOC: dict[str, Any] = oas("http://users-1:8080/api")
OAS_JWT_SCHEME: dict[str, Any] = {"enabled": True, "signingMethod": "rsa", "source": JWKS}
INTROSPECTION: dict[str, Any] = {
    "enabled": True,
    "url": "https://idp.example/introspect",
    "client_id": "gateway",
    "client_secret": "s3cret",
    "identity_base_field": "username",
    "cache": {"enabled": True, "timeout": 60},
}
OAS_INTROSPECTION: dict[str, Any] = {
    "enabled": True,
    "url": "https://idp.example/introspect",
    "clientId": "gateway",
    "clientSecret": "s3cret",
    "identityBaseField": "username",
    "cache": {"enabled": True, "timeout": 60},
}
INTROSPECTED = Introspection(
    url="https://idp.example/introspect",
    client_id="gateway",
    client_secret="s3cret",
    identity_base_field="username",
    cache_timeout=60.0,
)
RSA_JWKS = JwtAuth(signing_method="rsa", jwks=(JwksSource(JWKS),))


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def oas_with_schemes(schemes: dict[str, Any], **changes: Any) -> dict[str, Any]:
    auth = {f"{XT}.server.authentication": {"enabled": True, "securitySchemes": schemes}}
    return with_changes(OAS_DOC, {**auth, **changes})


def auth_of(document: dict[str, Any]) -> ApiAuth:
    return translate_api_definition(document, GatewaySettings(), SOURCE).auth


def problems_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        translate_api_definition(document, GatewaySettings(), SOURCE)
    return [(problem.json_path, problem.message) for problem in raised.value.problems]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(CLASSIC, ApiAuth(), id="classic-no-auth-fails-closed"),
        pytest.param({**CLASSIC_JWT, "use_keyless": True}, ApiAuth(), id="classic-keyless-wins"),
        pytest.param(CLASSIC_JWT, ApiAuth(jwt=RSA_JWKS), id="classic-jwt-url"),
        pytest.param(
            {**CLASSIC_JWT, "jwt_source": "HTTPS://idp.example/jwks"},
            ApiAuth(jwt=JwtAuth("rsa", jwks=(JwksSource("HTTPS://idp.example/jwks"),))),
            id="classic-jwt-url-scheme-any-case",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_source": b64(JWKS + "\n")}, ApiAuth(jwt=RSA_JWKS), id="classic-jwt-base64-url"
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_signing_method": "hmac", "jwt_source": b64("topsecret")},
            ApiAuth(jwt=JwtAuth("hmac", static_key=b"topsecret")),
            id="classic-jwt-base64-secret",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_signing_method": "ECDSA", "jwt_source": b64(PEM)},
            ApiAuth(jwt=JwtAuth("ecdsa", static_key=PEM)),
            id="classic-jwt-base64-pem-method-any-case",
        ),
        pytest.param(
            {
                **CLASSIC_JWT,
                "jwt_identity_base_field": "email",
                "jwt_skip_kid": True,
                "jwt_expires_at_validation_skew": 5,
                "jwt_issued_at_validation_skew": 6,
                "jwt_not_before_validation_skew": 7,
                "auth": {"auth_header_name": "X-Token"},
            },
            ApiAuth(
                jwt=JwtAuth(
                    "rsa",
                    jwks=(JwksSource(JWKS),),
                    header="X-Token",
                    identity_base_field="email",
                    skip_kid=True,
                    expires_at_skew=5.0,
                    issued_at_skew=6.0,
                    not_before_skew=7.0,
                )
            ),
            id="classic-jwt-fields",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_identit_base_field": "uid"},
            ApiAuth(jwt=JwtAuth("rsa", jwks=(JwksSource(JWKS),), identity_base_field="uid")),
            id="classic-jwt-misspelt-identity-field",
        ),
        pytest.param(
            {
                **CLASSIC_JWT,
                "auth": {"auth_header_name": "X-Token"},
                "auth_configs": {"jwt": {"auth_header_name": "X-Jwt"}, "authToken": {"auth_header_name": "X-Key"}},
            },
            ApiAuth(jwt=JwtAuth("rsa", jwks=(JwksSource(JWKS),), header="X-Jwt")),
            id="classic-auth-configs-jwt-header-wins",
        ),
        pytest.param({**CLASSIC_JWT, "jwt_jwks_uris": []}, ApiAuth(jwt=RSA_JWKS), id="classic-empty-jwks-uris-allowed"),
        pytest.param(
            {**CLASSIC, "external_oauth": {"enabled": True, "providers": [{"introspection": INTROSPECTION}]}},
            ApiAuth(introspection=INTROSPECTED),
            id="classic-introspection",
        ),
        pytest.param(
            {
                **CLASSIC,
                "auth": {"auth_header_name": "X-Token"},
                "auth_configs": {"externalOAuth": {"auth_header_name": "X-OAuth"}},
                "external_oauth": {
                    "enabled": True,
                    "providers": [
                        {"introspection": {**INTROSPECTION, "enabled": False, "url": "nonsense"}},
                        {"introspection": {**INTROSPECTION, "cache": {"enabled": False, "timeout": 60}}},
                    ],
                },
            },
            ApiAuth(
                introspection=Introspection(
                    "https://idp.example/introspect", "gateway", "s3cret", "username", 0.0, header="X-OAuth"
                )
            ),
            id="classic-introspection-first-enabled-cache-off-header",
        ),
        pytest.param(
            {**CLASSIC, "external_oauth": {"enabled": False, "providers": [{"introspection": INTROSPECTION}]}},
            ApiAuth(),
            id="classic-external-oauth-disabled",
        ),
        pytest.param(
            {
                **CLASSIC,
                "external_oauth": {
                    "enabled": True,
                    "providers": [
                        {
                            "jwt": {
                                "enabled": True,
                                "signing_method": "hmac",
                                "source": b64("secret"),
                                "identity_base_field": "sub",
                                "expires_at_validation_skew": 3,
                            }
                        }
                    ],
                },
            },
            ApiAuth(jwt=JwtAuth("hmac", static_key=b"secret", identity_base_field="sub", expires_at_skew=3.0)),
            id="classic-external-oauth-jwt-provider",
        ),
        pytest.param(
            {
                **CLASSIC_JWT,
                "version_data": {"not_versioned": True, "versions": {"Default": {"global_headers": CLAIM_HEADERS}}},
            },
            ApiAuth(jwt=RSA_JWKS, forward_claims=(("X-User", "sub"), ("X-Tenant", "tid"))),
            id="classic-forward-claims-only-version",
        ),
        pytest.param(
            {
                **CLASSIC_JWT,
                "version_data": {
                    "default_version": "v2",
                    "versions": {
                        "v1": {"global_headers": CLAIM_HEADERS},
                        "v2": {"global_headers": {"X-Sub": "$tyk_context.jwt_claims_sub"}},
                    },
                },
            },
            ApiAuth(jwt=RSA_JWKS, forward_claims=(("X-Sub", "sub"),)),
            id="classic-forward-claims-default-version",
        ),
        pytest.param(
            {**CLASSIC_JWT, "version_data": {"versions": {"v1": {"global_headers": CLAIM_HEADERS}, "v2": {}}}},
            ApiAuth(jwt=RSA_JWKS),
            id="classic-forward-claims-no-default-of-several",
        ),
    ],
)
def test_classic_auth(document: dict[str, Any], expected: ApiAuth) -> None:
    assert auth_of(document) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            {**CLASSIC_JWT, "jwt_signing_method": ""}, [("$.jwt_signing_method", "is required")], id="no-method"
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_signing_method": "none"},
            [("$.jwt_signing_method", "signing method 'none' is not one of rsa, ecdsa, hmac")],
            id="unknown-method",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_source": ""},
            [("$.jwt_source", "jwt_source is required when enable_jwt is true")],
            id="no-source",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_source": "not base64 secret!"},
            [("$.jwt_source", "JWKS source decode failed: not base… is not a base64 string")],
            id="bad-base64-redacted",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_source": b64("https:///no-host")},
            [("$.jwt_source", "JWKS URL 'https:///no-host' is not an absolute http:// or https:// URL")],
            id="url-without-host",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_jwks_uris": [{"url": JWKS, "cache_timeout": "10m"}]},
            [("$.jwt_jwks_uris", "this feature is only available when using OAS API")],
            id="jwks-uris-oas-only",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_skip_kid": "true"},
            [("$.jwt_skip_kid", "Input should be a valid boolean")],
            id="strict",
        ),
        pytest.param(
            {**CLASSIC_JWT, "jwt_expires_at_validation_skew": -1},
            [("$.jwt_expires_at_validation_skew", "Input should be greater than or equal to 0")],
            id="negative-skew",
        ),
        pytest.param(
            {
                **CLASSIC,
                "external_oauth": {
                    "enabled": True,
                    "providers": [{"introspection": INTROSPECTION}, {"introspection": INTROSPECTION}],
                },
            },
            [
                (
                    "$.external_oauth.providers[1].introspection",
                    "bascule supports one external OAuth provider with introspection enabled",
                )
            ],
            id="two-introspection-providers",
        ),
        pytest.param(
            {
                **CLASSIC,
                "external_oauth": {"enabled": True, "providers": [{"introspection": {**INTROSPECTION, "url": ""}}]},
            },
            [("$.external_oauth.providers[0].introspection.url", "URL '' is not an absolute http:// or https:// URL")],
            id="introspection-url",
        ),
        pytest.param(
            {
                **CLASSIC_JWT,
                "external_oauth": {
                    "enabled": True,
                    "providers": [{"jwt": {"enabled": True, "signing_method": "rsa", "source": JWKS}}],
                },
            },
            [
                (
                    "$.external_oauth.providers[0].jwt",
                    "bascule supports one JWT configuration per API; $.enable_jwt is already one",
                )
            ],
            id="jwt-twice",
        ),
        pytest.param(
            {**CLASSIC_JWT, "version_data": {"versions": {"Default": {"global_headers": {"X-A": 1}}}}},
            [("$.version_data.versions.Default.global_headers.X-A", "Input should be a valid string")],
            id="global-headers-typed",
        ),
    ],
)
def test_classic_auth_problems(document: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems_of(document) == expected


BEARER_JWT = {
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "Bearer", "bearerFormat": "JWT"}}}
}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(OAS_DOC, ApiAuth(), id="no-authentication-keyless"),
        pytest.param(
            with_changes(
                OAS_DOC, {f"{XT}.server.authentication": {"enabled": False, "securitySchemes": {"j": OAS_JWT_SCHEME}}}
            ),
            ApiAuth(),
            id="authentication-disabled",
        ),
        pytest.param(oas_with_schemes({}), ApiAuth(), id="no-scheme-fails-closed"),
        pytest.param(oas_with_schemes({"jwtAuth": OAS_JWT_SCHEME}), ApiAuth(jwt=RSA_JWKS), id="jwt-by-fields"),
        pytest.param(
            oas_with_schemes({"jwtAuth": {**OAS_JWT_SCHEME, "enabled": False}}), ApiAuth(), id="jwt-scheme-disabled"
        ),
        pytest.param(oas_with_schemes({"authToken": {"enabled": True}}), ApiAuth(), id="other-scheme-kind-ignored"),
        pytest.param(
            {
                **oas_with_schemes(
                    {
                        "bearer": {
                            "enabled": True,
                            "signingMethod": "hmac",
                            "jwksURIs": [
                                {"url": JWKS, "cacheTimeout": "10m"},
                                {"url": "https://idp2.example/jwks"},
                            ],
                            "header": {"enabled": True, "name": "X-Jwt"},
                            "identityBaseField": "email",
                            "skipKid": True,
                            "expiresAtValidationSkew": 1,
                            "issuedAtValidationSkew": 2,
                            "notBeforeValidationSkew": 3,
                        }
                    }
                ),
                **BEARER_JWT,
            },
            ApiAuth(
                jwt=JwtAuth(
                    "hmac",
                    jwks=(JwksSource(JWKS, 600.0), JwksSource("https://idp2.example/jwks")),
                    header="X-Jwt",
                    identity_base_field="email",
                    skip_kid=True,
                    expires_at_skew=1.0,
                    issued_at_skew=2.0,
                    not_before_skew=3.0,
                )
            ),
            id="jwt-all-fields-jwks-uris",
        ),
        pytest.param(
            {**oas_with_schemes({"bearer": {"enabled": True, "signingMethod": "rsa", "source": b64(JWKS)}})},
            ApiAuth(jwt=RSA_JWKS),
            id="jwt-base64-source",
        ),
        pytest.param(
            oas_with_schemes({"jwtAuth": {**OAS_JWT_SCHEME, "header": {"enabled": True}}}),
            ApiAuth(jwt=RSA_JWKS),
            id="header-without-name",
        ),
        pytest.param(
            oas_with_schemes(
                {
                    "idp": {
                        "enabled": True,
                        "providers": [{"introspection": OAS_INTROSPECTION}],
                        "header": {"enabled": True, "name": "X-OAuth"},
                    }
                }
            ),
            ApiAuth(introspection=replace(INTROSPECTED, header="X-OAuth")),
            id="external-oauth-introspection",
        ),
        pytest.param(
            oas_with_schemes(
                {
                    "idp": {
                        "externalOAuthServer": {
                            "enabled": True,
                            "providers": [
                                {
                                    "jwt": {
                                        "enabled": True,
                                        "signingMethod": "rsa",
                                        "source": JWKS,
                                        "identityBaseField": "sub",
                                    }
                                }
                            ],
                        }
                    }
                }
            ),
            ApiAuth(jwt=JwtAuth("rsa", jwks=(JwksSource(JWKS),), identity_base_field="sub")),
            id="external-oauth-server-jwt",
        ),
        pytest.param(
            oas_with_schemes({"idp": {"enabled": False, "providers": [{"introspection": OAS_INTROSPECTION}]}}),
            ApiAuth(),
            id="external-oauth-disabled",
        ),
        pytest.param(
            oas_with_schemes(
                {"jwtAuth": OAS_JWT_SCHEME},
                **{
                    f"{XT}.middleware": {
                        "global": {
                            "transformRequestHeaders": {
                                "enabled": True,
                                "add": [
                                    {"name": "X-User", "value": "$tyk_context.jwt_claims_sub"},
                                    {"name": "X-Static", "value": "yes"},
                                ],
                            }
                        }
                    }
                },
            ),
            ApiAuth(jwt=RSA_JWKS, forward_claims=(("X-User", "sub"),)),
            id="forward-claims",
        ),
        pytest.param(
            oas_with_schemes(
                {"jwtAuth": OAS_JWT_SCHEME},
                **{
                    f"{XT}.middleware": {
                        "global": {
                            "transformRequestHeaders": {
                                "enabled": False,
                                "add": [{"name": "X-User", "value": "$tyk_context.jwt_claims_sub"}],
                            }
                        }
                    }
                },
            ),
            ApiAuth(jwt=RSA_JWKS),
            id="forward-claims-transform-disabled",
        ),
    ],
)
def test_oas_auth(document: dict[str, Any], expected: ApiAuth) -> None:
    assert auth_of(document) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            oas_with_schemes({"jwtAuth": {**OAS_JWT_SCHEME, "signingMethod": ""}}),
            [(f"{SCHEMES}.jwtAuth.signingMethod", "is required")],
            id="no-method",
        ),
        pytest.param(
            oas_with_schemes(
                {"bearer": {"enabled": True, "signingMethod": "rsa"}}, **{"components": BEARER_JWT["components"]}
            ),
            [(f"{SCHEMES}.bearer", "source or jwksURIs is required")],
            id="no-source-by-components",
        ),
        pytest.param(
            oas_with_schemes({"jwtAuth": {**OAS_JWT_SCHEME, "source": b64("secret"), "jwksURIs": [{"url": JWKS}]}}),
            [(f"{SCHEMES}.jwtAuth.jwksURIs", "set either a static key in source or jwksURIs, not both")],
            id="static-key-and-jwks-uris",
        ),
        pytest.param(
            oas_with_schemes(
                {"jwtAuth": {**OAS_JWT_SCHEME, "jwksURIs": [{"url": JWKS, "cacheTimeout": "10 minutes"}]}}
            ),
            [
                (
                    f"{SCHEMES}.jwtAuth.jwksURIs[0].cacheTimeout",
                    'invalid duration \'10 minutes\'; use Go syntax such as "2s", "500ms" or "1h30m"',
                )
            ],
            id="bad-cache-timeout",
        ),
        pytest.param(
            oas_with_schemes({"jwtAuth": {**OAS_JWT_SCHEME, "jwksURIs": [{"url": "idp.example/jwks"}]}}),
            [
                (
                    f"{SCHEMES}.jwtAuth.jwksURIs[0].url",
                    "JWKS URL 'idp.example/jwks' is not an absolute http:// or https:// URL",
                )
            ],
            id="jwks-uri-not-absolute",
        ),
        pytest.param(
            oas_with_schemes({"jwtAuth": {**OAS_JWT_SCHEME, "header": {"enabled": False, "name": "X-Jwt"}}}),
            [
                (
                    f"{SCHEMES}.jwtAuth.header.enabled",
                    "bascule reads tokens from a header only; header.enabled must be true",
                )
            ],
            id="header-disabled",
        ),
        pytest.param(
            oas_with_schemes({"jwtAuth": {"signingMethod": "rsa", "source": JWKS}}),
            [(f"{SCHEMES}.jwtAuth.enabled", "Field required")],
            id="enabled-required",
        ),
        pytest.param(
            oas_with_schemes({"a": OAS_JWT_SCHEME, "b": OAS_JWT_SCHEME}),
            [(f"{SCHEMES}.b", f"bascule supports one JWT configuration per API; {SCHEMES}.a is already one")],
            id="two-jwt-schemes",
        ),
        pytest.param(
            oas_with_schemes(
                {
                    "idp": {
                        "enabled": True,
                        "providers": [{"introspection": OAS_INTROSPECTION}, {"introspection": OAS_INTROSPECTION}],
                    }
                }
            ),
            [
                (
                    f"{SCHEMES}.idp.providers[1].introspection",
                    "bascule supports one external OAuth provider with introspection enabled",
                )
            ],
            id="two-introspection-providers",
        ),
    ],
)
def test_oas_auth_problems(document: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems_of(document) == expected
