"""An identity provider for the authentication tests: a JWKS endpoint (HTTP or HTTPS, optionally asking for a
client certificate) whose keys a test can rotate, and an RFC 7662 introspection endpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from check_peers import WebhookReceiver
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from listening_peers import HttpAnswer, HttpRequest


@dataclass
class SigningKey:
    """A private key with its `kid`, able to mint tokens and to appear in a JWKS."""

    kid: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            entry: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public))
            entry["alg"] = "RS256"
        else:
            entry = json.loads(ECAlgorithm.to_jwk(public))
            entry["alg"] = "ES256"
        return {**entry, "kid": self.kid, "use": "sig"}


@dataclass
class JwksServer(WebhookReceiver):
    keys: list[SigningKey] = field(default_factory=list)

    def answer(self, request: HttpRequest) -> HttpAnswer:
        if self.status != 200:
            return HttpAnswer(self.status, b'{"error": "down"}')
        return HttpAnswer(200, json.dumps({"keys": [key.jwk() for key in self.keys]}).encode())

    def fetches(self) -> int:
        return len(self.requests)


@dataclass
class IntrospectionServer(WebhookReceiver):
    """Answers `{"active": true, "sub": ...}` for tokens in `active` (token -> claims), else inactive."""

    active: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_id: str = "gateway"
    client_secret: str = "s3cret-client"

    def answer(self, request: HttpRequest) -> HttpAnswer:
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return HttpAnswer(401, b'{"error": "invalid_client"}')
        claims = self.active.get(form.get("token", ""))
        body = {"active": True, **claims} if claims is not None else {"active": False}
        return HttpAnswer(200, json.dumps(body).encode())
