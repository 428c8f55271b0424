"""A Tyk Classic API definition, in Tyk's JSON names (`apidef/api_definitions.go`).

Only the fields bascule reads are declared; every other field is allowed and kept (`extra="allow"`),
because later features read them and the control API returns definitions unchanged.

Types are checked strictly, as Go's `encoding/json` does: `"active": "true"` is an error, not a
`True`. As in Go, a JSON `null` leaves a declared field at its zero value (Tyk exports contain
`"target_list": null` and the like).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ClassicProtocol = Literal["", "http", "https", "h2c", "tcp", "tls"]


class _GoJsonObject(BaseModel):
    """A JSON object decoded with Go semantics: strict types, `null` means the zero value."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_zero_value(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None or key not in cls.model_fields}
        return data


class ClassicProxy(_GoJsonObject):
    """`proxy`: where and how requests are forwarded."""

    listen_path: str = ""
    target_url: str = ""
    strip_listen_path: bool = False
    disable_strip_slash: bool = False
    preserve_host_header: bool = False
    enable_load_balancing: bool = False
    target_list: list[str] = Field(default_factory=list)
    """Load-balancing targets; a URL listed n times has weight n."""
    check_host_against_uptime_tests: bool = False
    service_discovery: dict[str, Any] = Field(default_factory=dict)
    transport: dict[str, Any] = Field(default_factory=dict)


class ClassicApiDefinition(_GoJsonObject):
    """A whole Tyk Classic API definition. Defaults are Go's zero values, so `active` is False."""

    api_id: str = ""
    name: str = ""
    org_id: str = ""
    active: bool = False
    internal: bool = False
    use_keyless: bool = False
    domain: str = ""
    domain_disabled: bool = False
    protocol: ClassicProtocol = ""
    listen_port: int = Field(default=0, ge=0, le=65535)
    """0 means the gateway's `listen_port`."""
    proxy: ClassicProxy = Field(default_factory=ClassicProxy)
