"""Tables for `bascule.core.discovery` (tyk-behaviour §3.5 "Parsing", §5 cases 22-28)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.discovery import DiscoveryParseError, discovered_hosts
from bascule.core.upstream_url import normalise_host

Settings = dict[str, Any]

# Consul `GET /v1/catalog/service/users`: one object per registered instance.
CONSUL = json.dumps(
    [
        {
            "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
            "Node": "foobar",
            "Address": "10.1.10.12",
            "Datacenter": "dc1",
            "TaggedAddresses": {"lan": "10.1.10.12", "wan": "10.1.10.12"},
            "NodeMeta": {"consul-network-segment": ""},
            "ServiceKind": "",
            "ServiceID": "users-1",
            "ServiceName": "users",
            "ServiceTags": ["primary"],
            "ServiceAddress": "",
            "ServiceWeights": {"Passing": 1, "Warning": 1},
            "ServiceMeta": {},
            "ServicePort": 8000,
            "ServiceEnableTagOverride": False,
            "CreateIndex": 10,
            "ModifyIndex": 10,
        },
        {
            "ID": "b1c9a4a4-6f3e-4a86-9a7c-2e4f0f6d7a11",
            "Node": "foobar2",
            "Address": "10.1.10.13",
            "Datacenter": "dc1",
            "TaggedAddresses": {"lan": "10.1.10.13", "wan": "10.1.10.13"},
            "NodeMeta": {"consul-network-segment": ""},
            "ServiceKind": "",
            "ServiceID": "users-2",
            "ServiceName": "users",
            "ServiceTags": ["secondary"],
            "ServiceAddress": "",
            "ServiceWeights": {"Passing": 1, "Warning": 1},
            "ServiceMeta": {},
            "ServicePort": 8000,
            "ServiceEnableTagOverride": False,
            "CreateIndex": 11,
            "ModifyIndex": 11,
        },
    ],
    indent=2,
)


def etcd_v2(value: str) -> str:
    """etcd v2 `GET /v2/keys/services/x`."""
    node = {"key": "/services/x", "value": value, "modifiedIndex": 6, "createdIndex": 6}
    return json.dumps({"action": "get", "node": node}, indent=2)


ETCD = etcd_v2("httpbin.org:6000")
ETCD_NESTED = etcd_v2('{"hostname": "httpbin.org", "port": "80"}')
ETCD_NESTED_LIST = etcd_v2('[{"hostname": "httpbin.org", "port": "80"}, {"hostname": "httpbin2.org", "port": "80"}]')

# Consul KV-style items whose `Data` is a JSON string.
CONSUL_NESTED = json.dumps(
    [
        {"Name": "beep", "Data": '{"hostname": "httpbin1.org", "port": "80"}'},
        {"Name": "boop", "Data": '{"hostname": "httpbin2.org", "port": "80"}'},
    ]
)

# Marathon/Mesos `GET /v2/apps/httpbin/tasks`.
MESOS = json.dumps(
    {
        "tasks": [
            {
                "id": "myservice.7fc21d4c-eabb-11e5-b381-066c48d09c8f",
                "host": "httpbin.org",
                "ports": [80],
                "startedAt": "2016-03-15T14:37:55.941Z",
                "stagedAt": "2016-03-15T14:37:52.792Z",
                "version": "2016-03-15T14:37:52.726Z",
                "slaveId": "d70867df-fdb2-4889-abeb-0829c742fded-S2",
                "appId": "/httpbin",
            }
        ]
    }
)


def eureka_instance(host: str, ip: str, port: object) -> dict[str, object]:
    return {
        "instanceId": f"{host}:route:{port}",
        "hostName": host,
        "app": "ROUTE",
        "ipAddr": ip,
        "status": "UP",
        "overriddenstatus": "UNKNOWN",
        "port": {"$": port, "@enabled": "true"},
        "securePort": {"$": 443, "@enabled": "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 10, "durationInSecs": 10, "registrationTimestamp": 1460471383902},
        "metadata": {"instanceId": f"route:{ip}", "payment": "perCall"},
        "homePageUrl": f"http://{host}:{port}/",
        "healthCheckUrl": f"http://{host}:{port}/health",
        "vipAddress": "route",
        "isCoordinatingDiscoveryServer": "false",
        "lastUpdatedTimestamp": "1460471383902",
        "actionType": "ADDED",
    }


# Eureka `GET /eureka/apps/ROUTE` with `Accept: application/json`; ports as numbers (Tyk's test has strings).
EUREKA = json.dumps(
    {
        "application": {
            "name": "ROUTE",
            "instance": [
                eureka_instance("ip-172-31-57-136", "172.31.57.136", 60565),
                eureka_instance("ip-172-31-13-37", "172.31.13.37", "50045"),
            ],
        }
    }
)
# Older Eureka codecs render a lone instance as an object.
EUREKA_SINGLE = json.dumps(
    {"application": {"name": "ROUTE", "instance": eureka_instance("ip-172-31-57-136", "172.31.57.136", 60565)}}
)

CONSUL_SETTINGS: Settings = {
    "data_path": "Address",
    "port_data_path": "ServicePort",
    "use_target_list": True,
    "endpoint_returns_list": True,
}
NESTED_SETTINGS: Settings = {"use_nested_query": True, "parent_data_path": "node.value", "data_path": "hostname"}
EUREKA_SETTINGS: Settings = {
    "use_target_list": True,
    "data_path": "hostName",
    "parent_data_path": "application.instance",
    "port_data_path": "port.$",
}


@pytest.mark.parametrize(
    ("case", "body", "settings", "expected"),
    [
        ("22 consul list", CONSUL, CONSUL_SETTINGS, ["10.1.10.12:8000", "10.1.10.13:8000"]),
        ("23 etcd value", ETCD, {"data_path": "node.value"}, ["httpbin.org:6000"]),
        ("24 etcd nested", ETCD_NESTED, {**NESTED_SETTINGS, "port_data_path": "port"}, ["httpbin.org:80"]),
        (
            "25 etcd nested list",
            ETCD_NESTED_LIST,
            {**NESTED_SETTINGS, "port_data_path": "port", "use_target_list": True},
            ["httpbin.org:80", "httpbin2.org:80"],
        ),
        (
            "26 consul nested Data",
            CONSUL_NESTED,
            {
                "use_nested_query": True,
                "use_target_list": True,
                "endpoint_returns_list": True,
                "parent_data_path": "Data",
                "data_path": "hostname",
                "port_data_path": "port",
            },
            ["httpbin1.org:80", "httpbin2.org:80"],
        ),
        (
            "27 mesos tasks",
            MESOS,
            {"use_target_list": True, "parent_data_path": "tasks", "data_path": "host", "port_data_path": "ports"},
            ["httpbin.org:80"],
        ),
        ("28 eureka", EUREKA, EUREKA_SETTINGS, ["ip-172-31-57-136:60565", "ip-172-31-13-37:50045"]),
    ],
)
def test_tyk_cases(case: str, body: str, settings: Settings, expected: list[str]) -> None:
    assert discovered_hosts(body, **settings) == expected


@pytest.mark.parametrize(
    ("body", "settings", "expected"),
    [
        # without use_target_list only the first host
        (CONSUL, {**CONSUL_SETTINGS, "use_target_list": False}, ["10.1.10.12:8000"]),
        (EUREKA, {**EUREKA_SETTINGS, "use_target_list": False}, []),  # Tyk: reads hostName from the top object
        # target_path is appended to every host
        (CONSUL, {**CONSUL_SETTINGS, "target_path": "/api"}, ["10.1.10.12:8000/api", "10.1.10.13:8000/api"]),
        (ETCD, {"data_path": "node.value", "target_path": "/v1"}, ["httpbin.org:6000/v1"]),
        # no port_data_path: the host as it is
        (CONSUL, {**CONSUL_SETTINGS, "port_data_path": ""}, ["10.1.10.12", "10.1.10.13"]),
        # departure: a nested object in target-list mode yields its host (Tyk: nothing)
        (ETCD_NESTED, {**NESTED_SETTINGS, "port_data_path": "port", "use_target_list": True}, ["httpbin.org:80"]),
        # departure: a nested array without target list yields its first host (Tyk: "")
        (ETCD_NESTED_LIST, {**NESTED_SETTINGS, "port_data_path": "port"}, ["httpbin.org:80"]),
        # departure: leading whitespace before a nested array (Tyk checks for a `[` prefix)
        (etcd_v2(' [{"hostname": "a"}]'), {**NESTED_SETTINGS, "use_target_list": True}, ["a"]),
        # departure: a lone Eureka instance rendered as an object is one item
        (EUREKA_SINGLE, EUREKA_SETTINGS, ["ip-172-31-57-136:60565"]),
        # the values of an object keyed by ID (Consul /v1/agent/services), in document order
        (
            json.dumps({"svc": {"b": {"Address": "10.0.0.2", "Port": 81}, "a": {"Address": "10.0.0.1", "Port": 80}}}),
            {"use_target_list": True, "parent_data_path": "svc", "data_path": "Address", "port_data_path": "Port"},
            ["10.0.0.2:81", "10.0.0.1:80"],
        ),
        # target list without parent path on an object: nothing, as Tyk
        (ETCD, {"data_path": "node.value", "use_target_list": True}, []),
        # the empty path is the value itself: a list of host strings
        ('["a:1", "b:2"]', {"data_path": "", "endpoint_returns_list": True, "use_target_list": True}, ["a:1", "b:2"]),
    ],
)
def test_modes(body: str, settings: Settings, expected: list[str]) -> None:
    assert discovered_hosts(body, **settings) == expected


def item(host: object = "h", **extra: object) -> dict[str, object]:
    return {"host": host, **extra}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # port: number -> integer text, string as is, array -> first element
        ([item(port=8080)], ["h:8080"]),
        ([item(port=8080.9)], ["h:8080"]),
        ([item(port="9000")], ["h:9000"]),
        ([item(port=[81, 82])], ["h:81"]),
        ([item(port=["82"])], ["h:82"]),
        # departure: a missing or unusable port adds nothing (Tyk appends a bare `:`)
        ([item()], ["h"]),
        ([item(port=None)], ["h"]),
        ([item(port="")], ["h"]),
        ([item(port=[])], ["h"]),
        ([item(port=True)], ["h"]),
        ([item(port={"$": 1})], ["h"]),
        # departure: a host that is not a string, or blank, is skipped (Tyk keeps "")
        ([item(host=None, port=1), item(host="ok", port=2)], ["ok:2"]),
        ([item(host=12, port=1)], []),
        ([item(host="", port=1), item(host="  ", port=1)], []),
        ([item(host=["a"], port=1)], []),
        ([{"other": "x"}], []),
        (["not an object", 7, None], []),
        ([], []),
    ],
)
def test_host_and_port_values(items: list[object], expected: list[str]) -> None:
    body = json.dumps(items)
    settings: Settings = {"data_path": "host", "port_data_path": "port", "endpoint_returns_list": True}
    assert discovered_hosts(body, **settings, use_target_list=True) == expected
    assert discovered_hosts(body, **settings) == expected[:1]


@pytest.mark.parametrize(
    ("body", "settings"),
    [
        # missing paths anywhere find nothing
        (ETCD, {"data_path": "node.missing"}),
        (ETCD, {"data_path": "missing.value"}),
        (ETCD, {"data_path": "node.value.deeper"}),
        (ETCD, {"data_path": "action.x"}),
        (MESOS, {"data_path": "tasks.host"}),  # no fan-out over arrays
        (EUREKA, {**EUREKA_SETTINGS, "parent_data_path": "application.missing"}),
        (EUREKA, {**EUREKA_SETTINGS, "parent_data_path": "application.name"}),
        (ETCD, {**NESTED_SETTINGS, "parent_data_path": "node.missing"}),
        (ETCD, {**NESTED_SETTINGS, "parent_data_path": "node.modifiedIndex"}),  # nested value not a string
        (json.dumps([{"Data": 5}]), {**NESTED_SETTINGS, "parent_data_path": "Data", "endpoint_returns_list": True}),
        ('{"node": {"value": "[]"}}', {**NESTED_SETTINGS, "use_target_list": True}),
        ("{}", {"data_path": "x"}),
        ("[]", {"data_path": "x", "endpoint_returns_list": True, "use_target_list": True}),
    ],
)
def test_nothing_found(body: str, settings: Settings) -> None:
    assert discovered_hosts(body, **settings) == []


@pytest.mark.parametrize(
    ("body", "settings", "message"),
    [
        ("", {}, "the discovery response is not valid JSON"),
        ("<html>502 Bad Gateway</html>", {}, "not valid JSON"),
        ('{"node": ', {}, "not valid JSON"),
        ('[{"Address": "a"},]', {"endpoint_returns_list": True}, "not valid JSON"),
        ('{"port": NaN}', {}, "not valid JSON"),
        ('{"port": Infinity}', {}, "not valid JSON"),
        ("\ufeff{}", {}, "not valid JSON"),
        # departure: a nested string that is not JSON (Tyk dereferences nil)
        (etcd_v2("httpbin.org:80"), NESTED_SETTINGS, "the nested value at 'node.value' is not valid JSON"),
        (
            json.dumps([{"Data": "{oops"}]),
            {"use_nested_query": True, "parent_data_path": "Data", "endpoint_returns_list": True},
            "not valid JSON",
        ),
        # departure: the shape contradicts endpoint_returns_list
        (ETCD, {"endpoint_returns_list": True}, "not a JSON array"),
        ('"a string"', {"endpoint_returns_list": True}, "not a JSON array"),
        (CONSUL, {"data_path": "Address", "use_target_list": True}, "set endpoint_returns_list"),
    ],
)
def test_errors(body: str, settings: Settings, message: str) -> None:
    settings = {"data_path": "Address", **settings}
    with pytest.raises(DiscoveryParseError, match=message):
        discovered_hosts(body, **settings)


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(DiscoveryParseError, ValueError)


def test_caller_adds_the_scheme() -> None:
    hosts = discovered_hosts(CONSUL, **CONSUL_SETTINGS)
    assert [normalise_host(h, "") for h in hosts] == ["http://10.1.10.12:8000", "http://10.1.10.13:8000"]


hostnames = st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True)
ports = st.integers(min_value=0, max_value=65535)


@given(st.lists(st.tuples(hostnames, ports)), st.sampled_from(["", "/api", "/a/b"]))
def test_consul_lists_round_trip(instances: list[tuple[str, int]], target_path: str) -> None:
    body = json.dumps([{"Address": h, "ServicePort": p, "Node": "n"} for h, p in instances])
    hosts = discovered_hosts(body, **CONSUL_SETTINGS, target_path=target_path)
    assert hosts == [f"{h}:{p}{target_path}" for h, p in instances]
    first = discovered_hosts(body, **{**CONSUL_SETTINGS, "use_target_list": False})
    assert first == [f"{h}:{p}" for h, p in instances[:1]]


@given(st.lists(st.tuples(hostnames, ports), min_size=1))
def test_nested_lists_round_trip(instances: list[tuple[str, int]]) -> None:
    nested = json.dumps([{"hostname": h, "port": str(p)} for h, p in instances])
    hosts = discovered_hosts(etcd_v2(nested), **NESTED_SETTINGS, port_data_path="port", use_target_list=True)
    assert hosts == [f"{h}:{p}" for h, p in instances]


@given(st.text(max_size=40))
def test_any_text_gives_hosts_or_a_parse_error(body: str) -> None:
    try:
        hosts = discovered_hosts(body, data_path="a", parent_data_path="b", use_target_list=True)
    except DiscoveryParseError:
        return
    assert all(isinstance(h, str) and h for h in hosts)
