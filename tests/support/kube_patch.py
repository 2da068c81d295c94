"""Patch bodies of the Kubernetes API stand-in: JSON patch and JSON merge patch."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from tests.support.kube_resources import KubeError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch: ``null`` removes a key, lists are replaced whole."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _invalid(message: str) -> KubeError:
    return KubeError(422, "Invalid", message)


def apply_patch(target: Mapping[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Apply a PATCH request body of the given content type to an object.

    A failed JSON patch ``test`` operation or a missing path raises 422 Invalid, as the
    API server does. NOTE: a strategic merge patch is applied as a JSON merge patch, so
    lists are replaced whole instead of merged by their merge keys.
    """
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise KubeError(400, "BadRequest", "a JSON patch body must be a list of operations")
        try:
            result = jsonpatch.apply_patch(copy.deepcopy(dict(target)), patch)
        except jsonpatch.JsonPatchTestFailed as error:
            raise _invalid(f"the server rejected our request due to an error: {error}") from error
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
            raise _invalid(f"the JSON patch could not be applied: {error}") from error
        if not isinstance(result, dict):
            raise _invalid("the JSON patch replaced the whole object with a non-object")
        return result
    if media_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        if not isinstance(patch, Mapping):
            raise KubeError(400, "BadRequest", "a merge patch body must be a JSON object")
        merged: dict[str, Any] = merge_patch(copy.deepcopy(dict(target)), patch)
        return merged
    raise KubeError(
        415,
        "UnsupportedMediaType",
        f"the patch content type {media_type!r} is not supported; use {JSON_PATCH}, "
        f"{MERGE_PATCH} or {STRATEGIC_MERGE_PATCH} (server-side apply is not served)",
    )
