"""TLS cipher-suite names: Tyk's configuration uses Go's (IANA) names, OpenSSL wants its own. Pure.

`GO_TO_OPENSSL` lists every suite Go's `crypto/tls` names (the table Tyk looks names up in), including
Go's short aliases for the ChaCha20 suites. TLS 1.3 suites keep their IANA names: OpenSSL configures them
apart from the TLS 1.2 list (`SSL_CTX_set_ciphersuites`, not `set_ciphers`), so callers must split them
out (`is_tls13_suite`).
"""

from __future__ import annotations

from collections.abc import Mapping

TLS13_SUITES: frozenset[str] = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)

GO_TO_OPENSSL: Mapping[str, str] = {
    # RSA key exchange
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    # ECDHE with ECDSA certificates
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    # ECDHE with RSA certificates
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    # TLS 1.3: same name in OpenSSL, configured separately
    **{name: name for name in sorted(TLS13_SUITES)},
}

_OPENSSL_NAMES: frozenset[str] = frozenset(GO_TO_OPENSSL.values())


def openssl_cipher_name(name: str) -> str | None:
    """OpenSSL's name for the suite `name` (a Go/IANA name, or already an OpenSSL name from the table);
    None for a name not in the table. Names are case-sensitive, as in Go."""
    found = GO_TO_OPENSSL.get(name)
    if found is not None:
        return found
    return name if name in _OPENSSL_NAMES else None


def is_tls13_suite(name: str) -> bool:
    """True for the TLS 1.3 suites, which OpenSSL configures apart from the TLS 1.2 cipher list."""
    return name in TLS13_SUITES
