"""The values reference of the chart README, built from the comments in values.yaml.

Each key whose comment block starts with "# --" is documented: its
description is the comment text, its type comes from values.schema.json and
its default from values.yaml. The README keeps the table between two marker
lines; ``python -m tests.chart.valuesdoc`` rewrites it there, and a test fails
when the committed table differs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.chart.rendering import CHART

README = CHART / "README.md"
START_MARKER = "<!-- values:start -->"
END_MARKER = "<!-- values:end -->"
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")


@dataclasses.dataclass
class ValueKey:
    """One key of values.yaml with the comment block above it."""

    path: str
    indent: int
    comment: list[str]
    children: int = 0

    @property
    def documented(self) -> bool:
        """Whether the comment block starts a "# --" description."""
        return any(line.startswith("# --") for line in self.comment)

    @property
    def description(self) -> str:
        """The "# --" comment as one line of text."""
        start = next(i for i, c in enumerate(self.comment) if c.startswith("# --"))
        first, *rest = self.comment[start:]
        # Only the first line carries the "# --" marker; a later line may
        # start with an option such as "--ring-lead-seconds".
        parts = [first.removeprefix("# --").strip()]
        parts += [line.removeprefix("#").strip() for line in rest]
        return " ".join(parts).strip()


def scan_values(path: Path = CHART / "values.yaml") -> list[ValueKey]:
    """Return every key of values.yaml in file order, with its comment and child count."""
    keys: list[ValueKey] = []
    stack: list[ValueKey] = []
    comments: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped)
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            comments = comments if stripped else []
            continue
        indent = len(match["indent"])
        while stack and stack[-1].indent >= indent:
            stack.pop()
        if stack:
            stack[-1].children += 1
        name = f"{stack[-1].path}.{match['key']}" if stack else match["key"]
        key = ValueKey(name, indent, comments)
        keys.append(key)
        stack.append(key)
        comments = []
    return keys


def _lookup(tree: Any, path: str) -> Any:
    for part in path.split("."):
        tree = tree[part] if isinstance(tree, dict) else tree.get("properties", {}).get(part, {})
    return tree


def _schema_type(schema: dict[str, Any], path: str) -> str:
    node = schema
    for part in path.split("."):
        node = node.get("properties", {}).get(part, {})
    if "type" in node:
        return str(node["type"])
    return " or ".join(str(option.get("type")) for option in node.get("oneOf", [])) or "any"


def _default(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "))
    return f"`{text}`".replace("|", "\\|")


def values_table() -> str:
    """Return the Markdown table of every documented key."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for key in scan_values():
        if not key.documented:
            continue
        description = key.description.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        default = _default(_lookup(values, key.path))
        rows.append(
            f"| `{key.path}` | {_schema_type(schema, key.path)} | {default} | {description} |"
        )
    return "\n".join(rows) + "\n"


def readme_table() -> str:
    """Return the table between the markers of the committed README."""
    text = README.read_text()
    return text.partition(START_MARKER + "\n")[2].partition(END_MARKER)[0]


def write_readme() -> None:
    """Replace the table between the README's markers with a fresh one."""
    text = README.read_text()
    head, _, rest = text.partition(START_MARKER + "\n")
    _, _, tail = rest.partition(END_MARKER)
    README.write_text(f"{head}{START_MARKER}\n{values_table()}{END_MARKER}{tail}")


if __name__ == "__main__":
    write_readme()
