"""Merging EndpointSlices into ring members, without an API server."""

from __future__ import annotations

from typing import Any

from statsd_proxy.ringdoc import Member
from statsd_proxy.sources.endpoints import endpoint_view


def slice_of(name: str, *endpoints: dict[str, Any], port_name: str = "statsd") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "endpoints": list(endpoints),
        "ports": [{"name": port_name, "port": 8125, "protocol": "UDP"}],
    }


def entry(address: str, pod: str | None, **conditions: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"addresses": [address], "conditions": conditions}
    if pod is not None:
        endpoint["targetRef"] = {"kind": "Pod", "name": pod}
    return endpoint


def test_view_names_by_pod() -> None:
    slices = [slice_of("s", entry("10.0.0.2", "main-statsd-0"))]

    view = endpoint_view(slices, "statsd", "hold")

    assert view.members == (Member("main-statsd-0", "10.0.0.2", 8125),)


def test_view_hostname_fallback() -> None:
    endpoint = entry("10.0.0.2", None, ready=True)
    endpoint["hostname"] = "main-statsd-0"

    view = endpoint_view([slice_of("s", endpoint)], "statsd", "hold")

    assert [m.name for m in view.members] == ["main-statsd-0"]


def test_view_nameless_skipped() -> None:
    slices = [slice_of("s", entry("10.0.0.2", None), entry("10.0.0.3", "b"))]

    view = endpoint_view(slices, "statsd", "hold")

    assert [m.name for m in view.members] == ["b"]
    assert len(view.problems) == 1
    assert "10.0.0.2" in view.problems[0]


def test_view_unknown_ready_is_ready() -> None:
    slices = [slice_of("s", entry("10.0.0.2", "a", ready=None))]

    view = endpoint_view(slices, "statsd", "failover")

    assert [m.name for m in view.members] == ["a"]
    assert view.ready == {"a": True}


def test_view_order_independent() -> None:
    first = slice_of("s1", entry("10.0.0.3", "b"), entry("10.0.0.2", "a"))
    second = slice_of("s2", entry("10.0.0.4", "c"))

    one = endpoint_view([first, second], "statsd", "hold")
    other = endpoint_view([second, first], "statsd", "hold")

    assert one.members == other.members
    assert [m.name for m in one.members] == ["a", "b", "c"]


def test_view_duplicate_prefers_ready() -> None:
    stale = slice_of("s1", entry("10.0.0.9", "a", ready=False))
    fresh = slice_of("s2", entry("10.0.0.2", "a", ready=True))

    view = endpoint_view([stale, fresh], "statsd", "hold")

    assert view.members == (Member("a", "10.0.0.2", 8125),)
    assert view.ready == {"a": True}


def test_view_policies() -> None:
    slices = [slice_of("s", entry("10.0.0.2", "a"), entry("10.0.0.3", "b", ready=False))]

    held = endpoint_view(slices, "statsd", "hold")
    failed_over = endpoint_view(slices, "statsd", "failover")

    assert [m.name for m in held.members] == ["a", "b"]
    assert [m.name for m in failed_over.members] == ["a"]
    assert failed_over.ready == {"a": True, "b": False}


def test_view_terminating_leaves() -> None:
    slices = [slice_of("s", entry("10.0.0.2", "a"), entry("10.0.0.3", "b", terminating=True))]

    view = endpoint_view(slices, "statsd", "hold")

    assert [m.name for m in view.members] == ["a"]
    assert view.ready == {"a": True}


def test_view_port_by_name() -> None:
    slices = [slice_of("s", entry("10.0.0.2", "a"), port_name="admin")]

    view = endpoint_view(slices, "statsd", "hold")

    assert view.members == ()
    assert view.problems == ["EndpointSlice s has no port named 'statsd'"]
