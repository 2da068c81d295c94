"""manifests/ must equal a fresh render of the chart by scripts/render-manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.rendering import REPO

MANIFESTS = REPO / "manifests"
RENDER_TIMEOUT = 60


@pytest.fixture(scope="module")
def fresh(helm: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with manifests rendered now from the chart."""
    out = tmp_path_factory.mktemp("manifests")
    subprocess.run(
        [str(REPO / "scripts" / "render-manifests"), str(out)],
        check=True,
        capture_output=True,
        timeout=RENDER_TIMEOUT,
    )
    return out


def test_manifest_files_match(fresh: Path) -> None:
    rendered = sorted(path.name for path in fresh.glob("*.yaml"))

    committed = sorted(path.name for path in MANIFESTS.glob("*.yaml"))

    assert committed == rendered


@pytest.mark.parametrize("name", ["crds.yaml", "statsd-proxy.yaml"])
def test_manifests_not_drifted(fresh: Path, name: str) -> None:
    expected = (fresh / name).read_text()

    committed = (MANIFESTS / name).read_text()

    assert committed == expected, f"manifests/{name} is stale; run scripts/render-manifests"


def test_manifests_have_namespace() -> None:
    documents = [d for d in yaml.safe_load_all((MANIFESTS / "statsd-proxy.yaml").read_text()) if d]

    namespaced = {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"}

    assert documents[0]["kind"] == "Namespace"
    assert namespaced <= {documents[0]["metadata"]["name"], None}
