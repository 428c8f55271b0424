"""The external-services seed's five example configurations (`external_services` blocks, Tyk's names), shared by
the translation tests and the `bascule doctor` tests. "2s" is example 2 with certificate-store ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GLOBAL_3128 = {"enabled": True, "http_proxy": "http://localhost:3128", "https_proxy": "https://localhost:3128"}
CORPORATE = {
    "enabled": True,
    "http_proxy": "http://proxy.company.com:8080",
    "https_proxy": "https://proxy.company.com:8080",
    "bypass_proxy": "localhost,127.0.0.1,.company.internal",
}
OAUTH_3129 = {"enabled": True, "http_proxy": "http://localhost:3129", "https_proxy": "https://localhost:3129"}
OAUTH_FILES = {
    "enabled": True,
    "cert_file": "/etc/tyk/certs/oauth-client.crt",
    "key_file": "/etc/tyk/certs/oauth-client.key",
    "ca_file": "/etc/tyk/certs/oauth-ca.crt",
    "tls_min_version": "1.2",
}

SEED_EXAMPLES: Mapping[str, dict[str, Any]] = {
    "1": {"global": {**GLOBAL_3128, "bypass_proxy": "localhost,127.0.0.1,.internal"}},
    "2": {
        "global": {**GLOBAL_3128, "bypass_proxy": "localhost,127.0.0.1"},
        "oauth": {"proxy": OAUTH_3129, "mtls": OAUTH_FILES},
    },
    "2s": {
        "global": {**GLOBAL_3128, "bypass_proxy": "localhost,127.0.0.1"},
        "oauth": {
            "proxy": OAUTH_3129,
            "mtls": {"enabled": True, "cert_id": "oauth-client-cert", "ca_cert_ids": ["oauth-ca-cert"]},
        },
    },
    "3": {
        "global": {**GLOBAL_3128, "bypass_proxy": "localhost,127.0.0.1,redis"},
        "storage": {
            "proxy": {"enabled": True, "bypass_proxy": "localhost,127.0.0.1,redis.internal"},
            "mtls": {
                "enabled": True,
                "cert_file": "/etc/tyk/certs/redis-client.crt",
                "key_file": "/etc/tyk/certs/redis-client.key",
            },
        },
        "webhooks": {
            "proxy": {"enabled": True, "http_proxy": "http://localhost:3130", "https_proxy": "https://localhost:3130"}
        },
    },
    "4": {
        "global": CORPORATE,
        "oauth": {"mtls": {**OAUTH_FILES, "ca_file": "/etc/tyk/certs/company-ca.crt", "insecure_skip_verify": False}},
        "webhooks": {
            "proxy": {"enabled": True},
            "mtls": {
                "enabled": True,
                "cert_file": "/etc/tyk/certs/webhook-client.crt",
                "key_file": "/etc/tyk/certs/webhook-client.key",
            },
        },
    },
    "5": {
        "global": CORPORATE,
        "oauth": {
            "mtls": {
                "enabled": True,
                "cert_id": "oauth-client-prod",
                "ca_cert_ids": ["oauth-ca-prod", "intermediate-ca"],
                "tls_min_version": "1.2",
            }
        },
        "storage": {"mtls": {"enabled": True, "cert_id": "redis-client-prod", "ca_cert_ids": ["redis-ca-prod"]}},
        "webhooks": {"mtls": {"enabled": True, "cert_id": "webhook-client-prod", "ca_cert_ids": ["webhook-ca-prod"]}},
    },
}
