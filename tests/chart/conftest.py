"""Fixtures of the chart tests: helm, and the chart rendered once per values case."""

from __future__ import annotations

import pytest

from tests.chart.rendering import (
    Manifest,
    case_names,
    load_all,
    require_helm,
    template,
    values_args,
)


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary; the test fails under CI=true and skips elsewhere when it is missing."""
    return require_helm()


@pytest.fixture(scope="session")
def rendered_texts(helm: str) -> dict[str, str]:
    """The YAML of every values case, CRDs included, keyed by case name."""
    return {case: template(helm, values_args(case), crds=True) for case in case_names()}


@pytest.fixture(scope="session")
def renders(rendered_texts: dict[str, str]) -> dict[str, list[Manifest]]:
    """The parsed objects of every values case, keyed by case name."""
    return {case: load_all(text) for case, text in rendered_texts.items()}


@pytest.fixture(params=case_names())
def case(request: pytest.FixtureRequest) -> str:
    """One values case: "default" or the stem of a file in the chart's ci/ folder."""
    return str(request.param)


@pytest.fixture
def manifests(renders: dict[str, list[Manifest]], case: str) -> list[Manifest]:
    """The objects rendered for the current values case."""
    return renders[case]
