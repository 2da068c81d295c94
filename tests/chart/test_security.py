"""Secure defaults of every pod the chart runs."""

from __future__ import annotations

from tests.chart.rendering import Manifest, pod_specs


def _containers(manifests: list[Manifest]) -> list[tuple[str, Manifest]]:
    return [
        (f"{workload}/{container['name']}", container)
        for workload, pod in pod_specs(manifests)
        for container in pod["containers"] + pod.get("initContainers", [])
    ]


def test_pods_run_as_non_root(manifests: list[Manifest]) -> None:
    failing = [
        name for name, pod in pod_specs(manifests) if not pod["securityContext"].get("runAsNonRoot")
    ]

    assert failing == []


def test_pods_use_runtime_seccomp(manifests: list[Manifest]) -> None:
    profiles = {
        name: pod["securityContext"].get("seccompProfile") for name, pod in pod_specs(manifests)
    }

    assert all(profile == {"type": "RuntimeDefault"} for profile in profiles.values()), profiles


def test_pods_not_on_host_namespaces(manifests: list[Manifest]) -> None:
    keys = ("hostNetwork", "hostPID", "hostIPC")

    shared = [(name, key) for name, pod in pod_specs(manifests) for key in keys if pod.get(key)]

    assert shared == []


def test_root_filesystem_read_only(manifests: list[Manifest]) -> None:
    writable = [
        name
        for name, c in _containers(manifests)
        if not c["securityContext"].get("readOnlyRootFilesystem")
    ]

    assert writable == []


def test_no_privilege_escalation(manifests: list[Manifest]) -> None:
    escalating = [
        name
        for name, c in _containers(manifests)
        if c["securityContext"].get("allowPrivilegeEscalation") is not False
    ]

    assert escalating == []


def test_capabilities_dropped(manifests: list[Manifest]) -> None:
    kept = [
        name
        for name, c in _containers(manifests)
        if c["securityContext"].get("capabilities", {}).get("drop") != ["ALL"]
        or c["securityContext"]["capabilities"].get("add")
    ]

    assert kept == []


def test_not_privileged(manifests: list[Manifest]) -> None:
    privileged = [
        name for name, c in _containers(manifests) if c["securityContext"].get("privileged")
    ]

    assert privileged == []


def test_writable_tmp_mounted(manifests: list[Manifest]) -> None:
    missing = [
        name
        for name, c in _containers(manifests)
        if "/tmp" not in {mount["mountPath"] for mount in c.get("volumeMounts", [])}
    ]

    assert missing == []


def test_resources_requested(manifests: list[Manifest]) -> None:
    missing = [
        name for name, c in _containers(manifests) if not c.get("resources", {}).get("requests")
    ]

    assert missing == []
