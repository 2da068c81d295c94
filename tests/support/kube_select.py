"""Label and field selectors of the Kubernetes API stand-in.

Label selectors follow the Kubernetes syntax: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``,
``k notin (a,b)``, ``k`` and ``!k``, joined by commas. Field selectors accept ``path=v``,
``path==v`` and ``path!=v`` joined by commas, where ``path`` is a dotted path such as
``metadata.name`` or ``status.phase``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQUALITY_TERM = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")


class SelectorError(ValueError):
    """An invalid label or field selector in a request."""


def _split_terms(selector: str) -> list[str]:
    """Split a selector on the commas that are outside parentheses."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    equality = _EQUALITY_TERM.match(term)
    if equality:
        key, operator, value = equality.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    found = _SET_TERM.match(term)
    if not found:
        raise SelectorError(f"invalid label selector term: {term!r}")
    negated, key, operator, values_text = found.groups()
    if operator is None:
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    if negated:
        raise SelectorError(f"invalid label selector term: {term!r}")
    values = {value.strip() for value in values_text.split(",") if value.strip()}
    if operator == "in":
        return lambda labels: labels.get(key) in values
    return lambda labels: labels.get(key) not in values


def parse_label_selector(selector: str | None) -> Matcher:
    """Compile a label selector into a predicate on whole objects."""
    terms = [_label_term(term) for term in _split_terms(selector or "")]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """Return the value at a dotted path as the string a field selector compares."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(selector: str | None) -> Matcher:
    """Compile a field selector into a predicate on whole objects.

    NOTE: any dotted path is accepted, while a real API server rejects fields
    that the resource does not index (with 400 Bad Request).
    """
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector or ""):
        found = _EQUALITY_TERM.match(term)
        if not found:
            raise SelectorError(f"invalid field selector term: {term!r}")
        path, operator, value = found.groups()
        terms.append((path, operator != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in terms)

    return matches
