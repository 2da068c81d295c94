"""The Dockerfile agrees with the chart and the package layout.

No Docker engine runs on the test machines, so these checks read the
Dockerfile instead of building it.
"""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.chart.rendering import CHART, REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    pattern = re.compile(rf"^{name}\s+(.+(?:\\\n.+)*)$", re.MULTILINE)
    return [match.replace("\\\n", " ") for match in pattern.findall(DOCKERFILE)]


def test_base_is_slim_python() -> None:
    bases = [line.split()[0] for line in _instructions("FROM")]

    assert bases == ["python:3.11-slim", "python:3.11-slim"]


def test_user_matches_chart() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]

    users = _instructions("USER")

    assert users == [f"{values['runAsUser']}:{values['runAsGroup']}"]


def test_entrypoint_runs_proxy() -> None:
    assert _instructions("ENTRYPOINT") == ['["statsd-proxy"]']


def test_copies_every_package_dir() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_dirs = {
        path.split("/")[0] for path in config["tool"]["setuptools"]["package-dir"].values()
    }

    copied = {line.split()[0] for line in _instructions("COPY") if not line.startswith("--from")}

    assert package_dirs <= copied


def test_exposes_chart_ports() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["proxy"]

    exposed = " ".join(_instructions("EXPOSE")).split()

    assert f"{values['port']}/udp" in exposed
    assert f"{values['metricsPort']}/tcp" in exposed


def test_dockerignore_admits_sources() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()

    admitted = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}

    assert {"pyproject.toml", "proxy", "operator"} <= admitted
    assert lines.count("*") == 1
