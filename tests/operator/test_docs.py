"""The StatsdCluster examples in docs/operator.md."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import jsonschema
import pytest
import yaml
from statsd_operator.reconcile import validate

from tests.operator.harness import CRD_PATH

DOC = pathlib.Path(__file__).parents[2] / "docs" / "operator.md"


def examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    found = [yaml.safe_load(block) for block in blocks]
    return [doc for doc in found if doc.get("kind") == "StatsdCluster"]


def test_docs_have_examples() -> None:
    assert len(examples()) == 2


@pytest.mark.parametrize("example", examples(), ids=lambda e: e["spec"]["flavor"])
def test_example_valid(example: dict[str, Any]) -> None:
    crd = yaml.safe_load(CRD_PATH.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

    jsonschema.validate(example, schema)
    assert validate(example).shards == 3
