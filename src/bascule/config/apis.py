"""API definitions in bascule's own terms, translated from Tyk Classic or Tyk OAS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bascule.config.auth import ApiAuth
from bascule.config.tls import ClientCertificateAuth, UpstreamTls
from bascule.config.upstream_checks import UpstreamChecks

DefinitionFormat = Literal["classic", "oas"]


@dataclass(frozen=True, slots=True)
class WeightedTarget:
    """One upstream of a load-balanced API. Weight 0 means: never picked."""

    url: str
    weight: int


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """One API, fully resolved: nothing downstream knows whether it came from Classic or OAS."""

    api_id: str
    name: str
    org_id: str
    active: bool
    keyless: bool
    listen_path: str
    """Normalised (`bascule.core.listen_path.normalise_listen_path`)."""
    strip_listen_path: bool
    target_url: str
    """The static upstream URL, as written."""
    domain: str = ""
    """Custom domain, or "" for any host. Already empty when custom domains are disabled."""
    load_balancing: bool = False
    targets: tuple[WeightedTarget, ...] = ()
    """Load-balancing targets in definition order, with weights (Classic duplicates counted)."""
    preserve_host_header: bool = False
    preserve_trailing_slash: bool = False
    """Tyk Classic `disable_strip_slash`, OAS `upstream.preserveTrailingSlash`."""
    protocol: str = ""
    listen_port: int = 0
    upstream_tls: UpstreamTls = UpstreamTls()
    """TLS, mTLS, pins and proxy of the API's upstream connections, gateway settings merged in."""
    server_certificates: tuple[str, ...] = ()
    """Certificates served for the API's custom domain (Classic `certificates`, OAS `customDomain.certificates`)."""
    client_certificate_auth: ClientCertificateAuth | None = None
    """`use_mutual_tls_auth`: None when off."""
    auth: ApiAuth = ApiAuth()
    """How clients authenticate (unless `keyless`)."""
    checks: UpstreamChecks = UpstreamChecks()
    """Uptime tests, skipping down hosts, service discovery and event handlers."""
    format: DefinitionFormat = "classic"
    source: Path | None = None
    definition: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The definition exactly as received, returned unchanged by the control API."""
