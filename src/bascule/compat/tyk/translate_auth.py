"""Tyk JWT, external OAuth (JWT or token introspection) and forwarded claims -> `ApiAuth`. Pure.

Rules (one test row each in `tests/unit/compat/test_translate_auth.py`):

* **Keyless**: Classic `use_keyless`, OAS no `server.authentication` or `enabled: false` -> `ApiAuth()`,
  nothing else read. An API that is not keyless and has no JWT and no introspection also gets
  `ApiAuth()`: the request path refuses every request (fail closed).
* **Classic JWT**: `enable_jwt` -> `JwtAuth`. `jwt_signing_method` is required (`rsa`, `ecdsa`, `hmac`, any
  case). `jwt_source` is required: an `http(s)://` URL (scheme in any case) is a JWKS; otherwise standard
  base64 (line breaks ignored), whose decoded text is a JWKS when it is an `http(s)://` URL and otherwise
  the static key (HMAC secret or PEM). Not base64 -> Tyk's text `JWKS source decode failed: <value> is
  not a base64 string`, the value cut to its first 8 characters and `…` (it may be a secret).
  `jwt_jwks_uris` non-empty -> Tyk's text `this feature is only available when using OAS API`.
  `jwt_identity_base_field` (else Tyk's misspelt `jwt_identit_base_field`), `jwt_skip_kid`, the three
  `jwt_*_validation_skew` (seconds, >= 0).
* **Classic header**: `auth_configs.<kind>.auth_header_name` (`jwt`, or `externalOAuth`) when non-empty,
  else `auth.auth_header_name`, else `Authorization`.
* **External OAuth**: Classic `external_oauth`, OAS a security scheme holding `providers` (Tyk's
  `ExternalOAuth`) or holding `externalOAuthServer`; only when its `enabled`. The first provider with
  `introspection.enabled` -> `Introspection` (`url` an absolute http(s) URL; `cache.timeout` seconds
  when `cache.enabled`, else 0); the first with `jwt.enabled` -> `JwtAuth` (same `source` rule as
  Classic, `skip_kid` False). A second enabled provider of a kind is an error (bascule supports one), as
  is more than one JWT configuration in an API. OAS header: the scheme's `header`.
* **OAS JWT**: a `securitySchemes.<name>` entry is JWT when the OpenAPI `components.securitySchemes.<name>`
  is `type: http`, `scheme: bearer`, `bearerFormat: JWT`, or when it has `signingMethod`, `source` or
  `jwksURIs`. Used when its `enabled`. `signingMethod` required; `source` (as Classic) and each
  `jwksURIs[] {url, cacheTimeout}` (Go duration, "" -> the gateway default) give the JWKS list; `source`
  or `jwksURIs` is required, and a static key with `jwksURIs` is an error. `header {enabled, name}`:
  absent -> `Authorization`, enabled -> `name` or `Authorization`, disabled -> an error (bascule reads
  tokens from a header only).
* **Forwarded claims**: Classic `version_data.versions.<default_version, or the only version>.global_headers`,
  OAS `middleware.global.transformRequestHeaders.add[]` (when `enabled`): a value that is exactly
  `$tyk_context.jwt_claims_<claim>` -> (header, claim). Other headers are not read here.

Departures from Tyk, all load errors with a JSON path: a missing or unknown signing method, an empty or
undecodable `source`, and a JWKS URL without a host (Tyk rejects each request instead); more than one
provider or JWT configuration (Tyk uses the first); a disabled OAS `header`. bascule decides the source
once, so Tyk's plain-URL caching quirk (tyk-behaviour §2.4) does not exist, and OAS schemes are read
whether or not the OpenAPI `security` list names them (Tyk reads only those it names).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from bascule.compat.tyk.classic import (
    ClassicApiDefinition,
    ClassicIntrospection,
    ClassicProviderJwt,
    ClassicVersionData,
)
from bascule.compat.tyk.oas import (
    OAS_EXTENSION_KEY,
    OasApiDefinition,
    OasAuthentication,
    OasAuthHeader,
    OasExternalOAuth,
    OasIntrospection,
    OasJwtScheme,
    OasMiddleware,
    OasProviderJwt,
)
from bascule.compat.tyk.tyk_values import ProblemSink, parse_go_duration
from bascule.config.auth import ApiAuth, Introspection, JwksSource, JwtAuth, SigningMethod

DEFAULT_HEADER = "Authorization"
JWKS_URIS_OAS_ONLY = "this feature is only available when using OAS API"
"""Tyk's text, kept verbatim."""

_OAS = f"$.{OAS_EXTENSION_KEY}"
_SIGNING_METHODS: Mapping[str, SigningMethod] = {"rsa": "rsa", "ecdsa": "ecdsa", "hmac": "hmac"}
_JWT_SCHEME_KEYS = frozenset({"signingMethod", "source", "jwksURIs"})
_HTTP_SCHEME = re.compile(r"https?://", re.IGNORECASE)
_HTTP_SCHEME_BYTES = re.compile(rb"\s*https?://", re.IGNORECASE)
# Go's base64.StdEncoding: standard alphabet, padded to a multiple of 4, `=` only at the end (at most two).
_STD_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_UNSAFE_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f]")
_CLAIM_VALUE = re.compile(r"\$tyk_context\.jwt_claims_(\S+)")
_SHOWN_CHARACTERS = 8

_Model = TypeVar("_Model", bound=BaseModel)
_Provider = ClassicProviderJwt | OasProviderJwt


# --- Classic -----------------------------------------------------------------------------------------


def translate_classic_auth(api: ClassicApiDefinition, problems: ProblemSink) -> ApiAuth:
    """The `ApiAuth` of a Classic definition; every problem goes to `problems`."""
    if api.use_keyless:
        return ApiAuth()
    jwts: list[tuple[str, JwtAuth]] = []
    if api.enable_jwt:
        jwts.append(("$.enable_jwt", _classic_jwt(api, problems)))
    introspection = None
    if api.external_oauth.enabled:
        header = _classic_header(api, "externalOAuth")
        path = "$.external_oauth.providers"
        providers = [(f"{path}[{i}]", p.jwt, p.introspection) for i, p in enumerate(api.external_oauth.providers)]
        provider_jwt, introspection = _providers(providers, dict.fromkeys(p[0] for p in providers), header, problems)
        if provider_jwt is not None:
            jwts.append(provider_jwt)
    return ApiAuth(
        jwt=_one_jwt(jwts, problems),
        introspection=introspection,
        forward_claims=_claims(_classic_global_headers(api, problems)),
    )


def _classic_jwt(api: ClassicApiDefinition, problems: ProblemSink) -> JwtAuth:
    if api.jwt_jwks_uris:
        problems.add("$.jwt_jwks_uris", JWKS_URIS_OAS_ONLY)
    jwks, static_key = _source(api.jwt_source, "$.jwt_source", problems)
    if not api.jwt_source.strip():
        problems.add("$.jwt_source", "jwt_source is required when enable_jwt is true")
    return JwtAuth(
        signing_method=_signing_method(api.jwt_signing_method, "$.jwt_signing_method", problems),
        jwks=jwks,
        static_key=static_key,
        header=_classic_header(api, "jwt"),
        identity_base_field=api.jwt_identity_base_field or api.jwt_identit_base_field,
        skip_kid=api.jwt_skip_kid,
        expires_at_skew=float(api.jwt_expires_at_validation_skew),
        issued_at_skew=float(api.jwt_issued_at_validation_skew),
        not_before_skew=float(api.jwt_not_before_validation_skew),
    )


def _classic_header(api: ClassicApiDefinition, kind: str) -> str:
    specific = api.auth_configs.get(kind)
    if specific is not None and specific.auth_header_name:
        return specific.auth_header_name
    return api.auth.auth_header_name or DEFAULT_HEADER


def _classic_global_headers(api: ClassicApiDefinition, problems: ProblemSink) -> Iterable[tuple[str, str]]:
    written = (api.model_extra or {}).get("version_data")
    if written is None:
        return ()
    data = _validate(ClassicVersionData, written, "$.version_data", problems)
    if data is None:
        return ()
    version = data.versions.get(data.default_version)
    if version is None and len(data.versions) == 1:
        version = next(iter(data.versions.values()))
    return () if version is None else version.global_headers.items()


# --- OAS ---------------------------------------------------------------------------------------------


def translate_oas_auth(document: OasApiDefinition, problems: ProblemSink) -> ApiAuth:
    """The `ApiAuth` of an OAS document (its `components` decide which schemes are JWT)."""
    extension = document.x_tyk_api_gateway
    if extension.server.is_keyless or extension.server.authentication is None:
        return ApiAuth()
    path = f"{_OAS}.server.authentication"
    authentication = _validate(OasAuthentication, extension.server.authentication, path, problems)
    if authentication is None:
        return ApiAuth()
    openapi_schemes = document.components.get("securitySchemes")
    jwts: list[tuple[str, JwtAuth]] = []
    providers: list[tuple[str, OasProviderJwt | None, OasIntrospection | None]] = []
    headers: dict[str, str] = {}
    for name, scheme in authentication.security_schemes.items():
        at = f"{path}.securitySchemes.{name}"
        external_scheme: object = scheme
        if _is_jwt_scheme(name, scheme, openapi_schemes):
            jwt_scheme = _validate(OasJwtScheme, scheme, at, problems)
            if jwt_scheme is not None and jwt_scheme.enabled:
                jwts.append((at, _oas_jwt(jwt_scheme, at, problems)))
            continue
        if "externalOAuthServer" in scheme:
            at, external_scheme = f"{at}.externalOAuthServer", scheme["externalOAuthServer"]
        elif "providers" not in scheme:
            continue
        external = _validate(OasExternalOAuth, external_scheme, at, problems)
        if external is not None and external.enabled:
            header = _oas_header(external.header, f"{at}.header", problems)
            for i, provider in enumerate(external.providers):
                providers.append((f"{at}.providers[{i}]", provider.jwt, provider.introspection))
                headers[f"{at}.providers[{i}]"] = header
    provider_jwt, introspection = _providers(providers, headers, DEFAULT_HEADER, problems)
    if provider_jwt is not None:
        jwts.append(provider_jwt)
    return ApiAuth(
        jwt=_one_jwt(jwts, problems),
        introspection=introspection,
        forward_claims=_claims(_oas_added_headers(document, problems)),
    )


def _is_jwt_scheme(name: str, scheme: Mapping[str, Any], openapi_schemes: object) -> bool:
    if _JWT_SCHEME_KEYS.intersection(scheme):
        return True
    declared = openapi_schemes.get(name) if isinstance(openapi_schemes, Mapping) else None
    if not isinstance(declared, Mapping):
        return False
    bearer = str(declared.get("scheme", "")).lower() == "bearer"
    return declared.get("type") == "http" and bearer and declared.get("bearerFormat") == "JWT"


def _oas_jwt(scheme: OasJwtScheme, path: str, problems: ProblemSink) -> JwtAuth:
    jwks, static_key = _source(scheme.source, f"{path}.source", problems)
    for i, uri in enumerate(scheme.jwks_uris):
        at = f"{path}.jwksURIs[{i}]"
        url = _jwks_url(uri.url, f"{at}.url", problems)
        jwks += (JwksSource(url, _cache_timeout(uri.cache_timeout, f"{at}.cacheTimeout", problems)),)
    if static_key and scheme.jwks_uris:
        problems.add(f"{path}.jwksURIs", "set either a static key in source or jwksURIs, not both")
    if not scheme.source.strip() and not scheme.jwks_uris:
        problems.add(path, "source or jwksURIs is required")
    return JwtAuth(
        signing_method=_signing_method(scheme.signing_method, f"{path}.signingMethod", problems),
        jwks=jwks,
        static_key=static_key,
        header=_oas_header(scheme.header, f"{path}.header", problems),
        identity_base_field=scheme.identity_base_field,
        skip_kid=scheme.skip_kid,
        expires_at_skew=float(scheme.expires_at_validation_skew),
        issued_at_skew=float(scheme.issued_at_validation_skew),
        not_before_skew=float(scheme.not_before_validation_skew),
    )


def _oas_header(header: OasAuthHeader | None, path: str, problems: ProblemSink) -> str:
    if header is None:
        return DEFAULT_HEADER
    if not header.enabled:
        problems.add(f"{path}.enabled", "bascule reads tokens from a header only; header.enabled must be true")
    return header.name or DEFAULT_HEADER


def _oas_added_headers(document: OasApiDefinition, problems: ProblemSink) -> Iterable[tuple[str, str]]:
    written = (document.x_tyk_api_gateway.model_extra or {}).get("middleware")
    if written is None:
        return ()
    middleware = _validate(OasMiddleware, written, f"{_OAS}.middleware", problems)
    global_ = middleware.global_ if middleware is not None else None
    transform = global_.transform_request_headers if global_ is not None else None
    if transform is None or not transform.enabled:
        return ()
    return ((header.name, header.value) for header in transform.add)


# --- shared ------------------------------------------------------------------------------------------


def _providers(
    providers: Sequence[tuple[str, _Provider | None, ClassicIntrospection | OasIntrospection | None]],
    headers: Mapping[str, str | None],
    default_header: str,
    problems: ProblemSink,
) -> tuple[tuple[str, JwtAuth] | None, Introspection | None]:
    """The first enabled JWT and introspection provider; a second of either kind is a problem.
    `headers` maps a provider's path to its token header (None: `default_header`)."""
    jwt: tuple[str, JwtAuth] | None = None
    introspection: Introspection | None = None
    for path, provider_jwt, provider_introspection in providers:
        name = headers.get(path) or default_header
        if provider_jwt is not None and provider_jwt.enabled:
            if jwt is not None:
                problems.add(f"{path}.jwt", "bascule supports one external OAuth provider with jwt enabled")
            else:
                jwt = (f"{path}.jwt", _provider_jwt(provider_jwt, name, f"{path}.jwt", problems))
        if provider_introspection is not None and provider_introspection.enabled:
            at = f"{path}.introspection"
            if introspection is not None:
                problems.add(at, "bascule supports one external OAuth provider with introspection enabled")
            else:
                introspection = _introspection(provider_introspection, name, at, problems)
    return jwt, introspection


def _provider_jwt(provider: _Provider, header: str, path: str, problems: ProblemSink) -> JwtAuth:
    method_path = f"{path}.signingMethod" if isinstance(provider, OasProviderJwt) else f"{path}.signing_method"
    jwks, static_key = _source(provider.source, f"{path}.source", problems)
    if not provider.source.strip():
        problems.add(f"{path}.source", "source is required when jwt is enabled")
    return JwtAuth(
        signing_method=_signing_method(provider.signing_method, method_path, problems),
        jwks=jwks,
        static_key=static_key,
        header=header,
        identity_base_field=provider.identity_base_field,
        expires_at_skew=float(provider.expires_at_validation_skew),
        issued_at_skew=float(provider.issued_at_validation_skew),
        not_before_skew=float(provider.not_before_validation_skew),
    )


def _introspection(
    written: ClassicIntrospection | OasIntrospection, header: str, path: str, problems: ProblemSink
) -> Introspection:
    cache = written.cache
    timeout = cache.timeout if cache is not None and cache.enabled else 0
    if timeout < 0:
        problems.add(f"{path}.cache.timeout", f"timeout must not be negative (got {timeout})")
    return Introspection(
        url=_http_url(written.url, f"{path}.url", problems),
        client_id=written.client_id,
        client_secret=written.client_secret,
        identity_base_field=written.identity_base_field,
        cache_timeout=float(max(timeout, 0)),
        header=header,
    )


def _one_jwt(jwts: Sequence[tuple[str, JwtAuth]], problems: ProblemSink) -> JwtAuth | None:
    for path, _ in jwts[1:]:
        problems.add(path, f"bascule supports one JWT configuration per API; {jwts[0][0]} is already one")
    return jwts[0][1] if jwts else None


def _signing_method(written: str, path: str, problems: ProblemSink) -> SigningMethod:
    method = _SIGNING_METHODS.get(written.lower())
    if method is None:
        allowed = ", ".join(_SIGNING_METHODS)
        problems.add(path, f"signing method {written!r} is not one of {allowed}" if written else "is required")
        return "rsa"
    return method


def _source(written: str, path: str, problems: ProblemSink) -> tuple[tuple[JwksSource, ...], bytes]:
    """`(jwks, static_key)` of a `jwt_source`/`source` value (rule in the module docstring); empty -> nothing."""
    text = written.strip()
    if not text:
        return (), b""
    if _HTTP_SCHEME.match(text):
        return (JwksSource(_jwks_url(text, path, problems)),), b""
    encoded = text.replace("\r", "").replace("\n", "")
    if not _STD_BASE64.fullmatch(encoded):
        shown = f"{written[:_SHOWN_CHARACTERS]}…"
        problems.add(path, f"JWKS source decode failed: {shown} is not a base64 string")
        return (), b""
    decoded = base64.b64decode(encoded)
    if not _HTTP_SCHEME_BYTES.match(decoded):
        return (), decoded
    try:
        url = decoded.decode("utf-8").strip()
    except UnicodeDecodeError:
        problems.add(path, "source decodes to a URL that is not UTF-8")
        return (), b""
    return (JwksSource(_jwks_url(url, path, problems)),), b""


def _jwks_url(url: str, path: str, problems: ProblemSink) -> str:
    return _http_url(url, path, problems, what="JWKS URL")


def _http_url(url: str, path: str, problems: ProblemSink, what: str = "URL") -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or _UNSAFE_URL_CHARACTER.search(url):
        problems.add(path, f"{what} {url!r} is not an absolute http:// or https:// URL")
    return url


def _cache_timeout(text: str, path: str, problems: ProblemSink) -> float | None:
    if not text:
        return None
    try:
        seconds = parse_go_duration(text)
    except ValueError as error:
        problems.add(path, str(error))
        return None
    if seconds < 0:
        problems.add(path, f"duration {text!r} must not be negative")
        return None
    return seconds


def _claims(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    found = ((name, _CLAIM_VALUE.fullmatch(value.strip())) for name, value in headers)
    return tuple((name, match.group(1)) for name, match in found if match is not None)


def _validate(model: type[_Model], data: object, path: str, problems: ProblemSink) -> _Model | None:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for detail in error.errors():
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
            problems.add(path + where, str(detail["msg"]))
        return None
