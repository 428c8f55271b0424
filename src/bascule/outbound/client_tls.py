"""TLS client contexts for external services, from `TlsClientSettings` (DECISIONS §9), built once per profile.

What a context does, by setting:
- `min_version` / `max_version` ("1.0".."1.3") bound the protocol; 1.0 and 1.1 are allowed because the docs
  allow them, though OpenSSL's default security level may still refuse such peers.
- A CA (store PEM, else `ca_file`) replaces the system roots: the server must chain to that CA. Without one,
  the system store (and `SSL_CERT_FILE`) verifies it.
- `insecure_skip_verify`: no chain and no host name check (CERT_NONE); a client certificate is still sent.
- A client certificate (store PEM, else `cert_file` + `key_file`) is always presented when configured.
  PEM bytes are loaded through an anonymous memory file (`os.memfd_create` + `/proc/self/fd/N`), so a clear
  private key never touches a disk; encrypted keys are refused instead of prompting on a terminal.
- Store material wins over files (the docs); a store id without its material is an error, never a silent
  downgrade to no client certificate.
Errors are `TlsSetupError` with Tyk's texts where Tyk has one; a private key's path never appears in them.
"""

from __future__ import annotations

import os
import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from bascule.config.outbound import TlsClientSettings
from bascule.errors import TlsSetupError

TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}

HTTP_ALPN = ("http/1.1",)


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """PEM bytes from the certificate store for one service: client chain (leaf first) and key, and CAs."""

    cert_pem: bytes = b""
    key_pem: bytes = field(default=b"", repr=False)
    ca_pem: bytes = b""


def build_client_context(
    settings: TlsClientSettings, material: TlsMaterial | None = None, alpn: tuple[str, ...] = HTTP_ALPN
) -> ssl.SSLContext:
    """The context that verifies an external service and presents the client certificate; TlsSetupError if unusable."""
    material = material or TlsMaterial()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _set_versions(context, settings)
    if not _load_configured_ca(context, settings, material):
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    _load_client_certificate(context, settings, material)
    if settings.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def build_proxy_context(settings: TlsClientSettings, material: TlsMaterial | None = None) -> ssl.SSLContext:
    """The context for TLS to an `https://` proxy: verified always, against the system roots plus the profile's CA.

    No client certificate (it identifies the gateway to the service, not to the proxy), default versions, and
    `insecure_skip_verify` does not apply: it names the service's certificate, not the proxy's.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_configured_ca(context, settings, material or TlsMaterial())
    return context


def _set_versions(context: ssl.SSLContext, settings: TlsClientSettings) -> None:
    low = TLS_VERSIONS.get(settings.min_version)
    high = TLS_VERSIONS.get(settings.max_version)
    if low is None or high is None:
        raise TlsSetupError(f"invalid TLS version range {settings.min_version!r}..{settings.max_version!r}")
    if low > high:
        raise TlsSetupError(f"tls_min_version {settings.min_version} is above tls_max_version {settings.max_version}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 1.0/1.1 are deprecated, and the operator's choice
        context.minimum_version = low
        context.maximum_version = high


def _load_configured_ca(context: ssl.SSLContext, settings: TlsClientSettings, material: TlsMaterial) -> bool:
    """Load the store's CAs, else `ca_file`; False when neither is configured."""
    if material.ca_pem:
        try:
            context.load_verify_locations(cadata=material.ca_pem.decode("ascii"))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsSetupError(f"Failed to load CA certificates from the store: {_reason(exc)}") from exc
        return True
    if settings.ca_cert_ids:
        raise TlsSetupError(f"Certificate not found in store: {', '.join(settings.ca_cert_ids)}")
    if settings.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(settings.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError(f"Failed to load CA certificate {settings.ca_file}: {_reason(exc)}") from exc
        return True
    return False


def _load_client_certificate(context: ssl.SSLContext, settings: TlsClientSettings, material: TlsMaterial) -> None:
    if material.cert_pem or material.key_pem:
        if not (material.cert_pem and material.key_pem):
            raise TlsSetupError("Failed to load client certificate: the store entry needs both certificate and key")
        try:
            load_chain_from_memory(context, material.cert_pem, material.key_pem)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsSetupError(f"Failed to load client certificate from the store: {_reason(exc)}") from exc
        return
    if settings.cert_id:
        raise TlsSetupError(f"Certificate not found in store: {settings.cert_id}")
    if settings.cert_file is None and settings.key_file is None:
        return
    if settings.cert_file is None or settings.key_file is None:
        raise TlsSetupError(
            "invalid mTLS configuration: both cert_file and key_file must be specified for file-based configuration"
        )
    try:
        context.load_cert_chain(str(settings.cert_file), str(settings.key_file), password=_refuse_password)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsSetupError(f"Failed to load client certificate {settings.cert_file}: {_reason(exc)}") from exc


def load_chain_from_memory(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """`load_cert_chain` wants a path: give it an anonymous memory file that vanishes when closed."""
    fd = os.memfd_create("bascule-client-certificate", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as memory:
            memory.write(cert_pem.rstrip(b"\n") + b"\n" + key_pem)
        context.load_cert_chain(f"/proc/self/fd/{fd}", password=_refuse_password)
    finally:
        os.close(fd)


def _refuse_password() -> bytes:
    raise ValueError("encrypted private keys are not supported")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
