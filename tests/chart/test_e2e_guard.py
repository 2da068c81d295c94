"""The kind end-to-end suite stays out of the default run and skips cleanly without Docker."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from e2e.cluster import missing_prerequisites
from tests.chart.rendering import REPO


def test_default_run_excludes_e2e() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())

    testpaths = config["tool"]["pytest"]["ini_options"]["testpaths"]

    assert "e2e" not in " ".join(testpaths)


def test_e2e_skips_with_reason() -> None:
    if not missing_prerequisites():
        pytest.skip("this machine can run the end-to-end suite, so it would not skip")

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "e2e", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" not in result.stdout
    assert "e2e/run-kind.sh" in result.stdout
