"""How an API authenticates its clients, in bascule's own terms: JWT (static key or JWKS) and token
introspection against an identity provider (issue 6).

Translated from Tyk Classic (`enable_jwt`, `jwt_*`, `auth.auth_header_name`, `external_oauth`) or Tyk OAS
(`server.authentication.securitySchemes`, `server.authentication.*`, `externalOAuthServer`) by
`bascule.compat.tyk.translate_auth`. Every network call these settings cause goes through the `oauth`
external service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SigningMethod = Literal["rsa", "ecdsa", "hmac"]


@dataclass(frozen=True, slots=True)
class JwksSource:
    """One JWKS URL and how long its keys are cached (None: the gateway's `jwks.cache.timeout`, 240 s)."""

    url: str
    cache_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class JwtAuth:
    """Classic `enable_jwt` + `jwt_*`; OAS `securitySchemes.<name>` of type JWT."""

    signing_method: SigningMethod
    jwks: tuple[JwksSource, ...] = ()
    """JWKS URLs (Classic `jwt_source` URL or base64 of one; OAS `source` URL and `jwksURIs`)."""
    static_key: bytes = b""
    """A PEM public key or certificate, or an HMAC secret (Classic `jwt_source` base64-decoded); used when
    `jwks` is empty."""
    header: str = "Authorization"
    """Where the token is (with or without `Bearer `): Classic `auth.auth_header_name`, OAS `header.name`."""
    identity_base_field: str = ""
    """The claim naming the client (`jwt_identity_base_field`; empty: `sub`)."""
    skip_kid: bool = False
    """`jwt_skip_kid`: do not look keys up by `kid`; try every key that fits the algorithm."""
    expires_at_skew: float = 0.0
    issued_at_skew: float = 0.0
    not_before_skew: float = 0.0


@dataclass(frozen=True, slots=True)
class Introspection:
    """RFC 7662 token introspection (Tyk's external OAuth `introspection` block)."""

    url: str
    client_id: str
    client_secret: str
    identity_base_field: str = ""
    """The field of the introspection answer naming the client (empty: `sub`, else `username`)."""
    cache_timeout: float = 0.0
    """Seconds an answer is kept, by token hash (0: not cached)."""
    header: str = "Authorization"


@dataclass(frozen=True, slots=True)
class ApiAuth:
    """An API's authentication; `ApiSettings.auth`. Both None with `keyless` False: nothing bascule can
    check, so every request is refused (fail closed)."""

    jwt: JwtAuth | None = None
    introspection: Introspection | None = None
    forward_identity: bool = True
    """Send the identity upstream as `X-Tyk-Identity` (a client's own such header is always removed)."""
    forward_claims: tuple[tuple[str, str], ...] = ()
    """(header, claim) pairs sent upstream, from `global_headers` values `$tyk_context.jwt_claims_<claim>`."""
