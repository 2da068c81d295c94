"""The StatsdCluster spec, validated and with defaults applied.

The CRD's OpenAPI schema rejects most invalid specs before the operator sees
them, but an API server without schema validation, an older CRD or a rule the
schema cannot express still lets one through. `parse_spec` checks every field
again and raises `SpecError` naming the first invalid one. The defaults here are
the same as the CRD's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Literal

Flavor = Literal["statsd", "telegraf", "custom"]
FLAVORS: tuple[Flavor, ...] = ("statsd", "telegraf", "custom")
HASH_KEYS = ("series", "name")

DEFAULT_PORT = 8125
# The built-in flavors serve health checks on this TCP port, so spec.port must differ.
ADMIN_PORT = 8126
DEFAULT_FLUSH_INTERVAL_SECONDS = 10
MAX_FLUSH_INTERVAL_SECONDS = 3600
MAX_SHARDS = 1000
DEFAULT_GRAPHITE_PORT = 2003
DEFAULT_INFLUXDB_DATABASE = "statsd"

# A host name or an IP address, without spaces, quotes or a scheme.
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:_-]*[A-Za-z0-9])?$")
_URL = re.compile(r"^https?://[^\s\"'\\]+$")
_DATABASE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

POD_TEMPLATE_FIELDS = (
    "labels",
    "annotations",
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
    "priorityClassName",
    "serviceAccountName",
    "imagePullSecrets",
    "securityContext",
    "containerSecurityContext",
    "env",
    "command",
    "args",
    "readinessProbe",
    "livenessProbe",
    "terminationGracePeriodSeconds",
)


class SpecError(ValueError):
    """An invalid StatsdCluster spec; ``field`` is the path of the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class GraphiteSink:
    """Graphite plaintext receiver that the statsd flavor flushes to."""

    host: str
    port: int = DEFAULT_GRAPHITE_PORT


@dataclasses.dataclass(frozen=True)
class InfluxDBSink:
    """InfluxDB 1.x HTTP endpoint that the telegraf flavor writes to."""

    url: str
    database: str = DEFAULT_INFLUXDB_DATABASE
    retention_policy: str | None = None


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """A validated StatsdCluster spec with every default filled in."""

    shards: int = 1
    flavor: Flavor = "statsd"
    image: str | None = None
    image_pull_policy: str | None = None
    config: str | None = None
    port: int = DEFAULT_PORT
    flush_interval_seconds: int = DEFAULT_FLUSH_INTERVAL_SECONDS
    hash_key: Literal["series", "name"] = "series"
    graphite: GraphiteSink | None = None
    influxdb: InfluxDBSink | None = None
    resources: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    pod_template: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def parse_spec(raw: object) -> ClusterSpec:
    """Validate a StatsdCluster ``spec`` mapping and return it with defaults applied.

    Raises `SpecError` naming the first invalid field, such as ``spec.shards``.
    """
    spec = _mapping(raw, "spec")
    flavor = _choice(spec.get("flavor", "statsd"), "spec.flavor", FLAVORS)
    hash_key = _choice(spec.get("hashKey", "series"), "spec.hashKey", HASH_KEYS)
    sink = _mapping(spec.get("sink", {}), "spec.sink")
    parsed = ClusterSpec(
        shards=_integer(spec.get("shards", 1), "spec.shards", 1, MAX_SHARDS),
        flavor=flavor,  # type: ignore[arg-type]  # _choice returned one of FLAVORS
        image=_optional_text(spec.get("image"), "spec.image"),
        image_pull_policy=_optional_choice(
            spec.get("imagePullPolicy"), "spec.imagePullPolicy", ("Always", "IfNotPresent", "Never")
        ),
        config=_optional_text(spec.get("config"), "spec.config"),
        port=_integer(spec.get("port", DEFAULT_PORT), "spec.port", 1, 65535),
        flush_interval_seconds=_integer(
            spec.get("flushIntervalSeconds", DEFAULT_FLUSH_INTERVAL_SECONDS),
            "spec.flushIntervalSeconds",
            1,
            MAX_FLUSH_INTERVAL_SECONDS,
        ),
        hash_key=hash_key,  # type: ignore[arg-type]  # _choice returned one of HASH_KEYS
        graphite=_graphite(sink.get("graphite")),
        influxdb=_influxdb(sink.get("influxdb")),
        resources=_mapping(spec.get("resources", {}), "spec.resources"),
        pod_template=_pod_template(spec.get("podTemplate", {})),
    )
    _check_flavor(parsed)
    return parsed


def _check_flavor(spec: ClusterSpec) -> None:
    if spec.flavor == "custom":
        if spec.image is None:
            raise SpecError("spec.image", "is required with flavor 'custom'")
        if spec.config is None:
            raise SpecError("spec.config", "is required with flavor 'custom'")
        return
    if spec.port == ADMIN_PORT:
        raise SpecError(
            "spec.port",
            f"port {ADMIN_PORT} is the health check port of flavor {spec.flavor!r}; pick another",
        )
    if spec.config is not None:
        raise SpecError(
            "spec.config",
            f"is used only with flavor 'custom'; flavor {spec.flavor!r} builds its own "
            "configuration from spec.sink, so remove spec.config",
        )
    if spec.flavor == "statsd" and spec.graphite is None:
        raise SpecError("spec.sink.graphite", "is required with flavor 'statsd'")
    if spec.flavor == "telegraf" and spec.influxdb is None:
        raise SpecError("spec.sink.influxdb", "is required with flavor 'telegraf'")


def _graphite(raw: object) -> GraphiteSink | None:
    if raw is None:
        return None
    sink = _mapping(raw, "spec.sink.graphite")
    host = _text(sink.get("host"), "spec.sink.graphite.host")
    if not _HOST.match(host):
        raise SpecError("spec.sink.graphite.host", f"must be a host name or IP, got {host!r}")
    port = _integer(sink.get("port", DEFAULT_GRAPHITE_PORT), "spec.sink.graphite.port", 1, 65535)
    return GraphiteSink(host=host, port=port)


def _influxdb(raw: object) -> InfluxDBSink | None:
    if raw is None:
        return None
    sink = _mapping(raw, "spec.sink.influxdb")
    url = _text(sink.get("url"), "spec.sink.influxdb.url")
    if not _URL.match(url):
        raise SpecError(
            "spec.sink.influxdb.url", f"must be an http:// or https:// URL, got {url!r}"
        )
    database = _text(sink.get("database", DEFAULT_INFLUXDB_DATABASE), "spec.sink.influxdb.database")
    if not _DATABASE.match(database):
        raise SpecError("spec.sink.influxdb.database", f"invalid database name {database!r}")
    policy = _optional_text(sink.get("retentionPolicy"), "spec.sink.influxdb.retentionPolicy")
    if policy is not None and not _DATABASE.match(policy):
        raise SpecError(
            "spec.sink.influxdb.retentionPolicy", f"invalid retention policy name {policy!r}"
        )
    return InfluxDBSink(url=url, database=database, retention_policy=policy)


def _pod_template(raw: object) -> Mapping[str, Any]:
    template = _mapping(raw, "spec.podTemplate")
    for key in template:
        if key not in POD_TEMPLATE_FIELDS:
            raise SpecError(
                f"spec.podTemplate.{key}",
                f"unknown field; known fields are {', '.join(POD_TEMPLATE_FIELDS)}",
            )
    for key in ("labels", "annotations", "nodeSelector"):
        for label, value in _mapping(template.get(key, {}), f"spec.podTemplate.{key}").items():
            _text(value, f"spec.podTemplate.{key}.{label}", allow_empty=True)
    for key in ("tolerations", "topologySpreadConstraints", "imagePullSecrets", "env"):
        _list(template.get(key, []), f"spec.podTemplate.{key}")
    for key in ("command", "args"):
        for index, item in enumerate(_list(template.get(key, []), f"spec.podTemplate.{key}")):
            _text(item, f"spec.podTemplate.{key}[{index}]", allow_empty=True)
    for key in ("affinity", "securityContext", "containerSecurityContext"):
        _mapping(template.get(key, {}), f"spec.podTemplate.{key}")
    for key in ("readinessProbe", "livenessProbe"):
        _mapping(template.get(key, {}), f"spec.podTemplate.{key}")
    grace = template.get("terminationGracePeriodSeconds")
    if grace is not None:
        _integer(grace, "spec.podTemplate.terminationGracePeriodSeconds", 0, 86400)
    return template


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(field, f"must be an object, got {value!r}")
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(field, f"must be a list, got {value!r}")
    return value


def _integer(value: object, field: str, minimum: int, maximum: int) -> int:
    # bool is a subclass of int, but `true` is never a valid count or port.
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpecError(field, f"must be an integer, got {value!r}")
    if value < minimum:
        raise SpecError(field, f"must be at least {minimum}, got {value}")
    if value > maximum:
        raise SpecError(field, f"must be at most {maximum}, got {value}")
    return value


def _text(value: object, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(field, f"must be a string, got {value!r}")
    if not value and not allow_empty:
        raise SpecError(field, "must not be empty")
    return value


def _optional_text(value: object, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _choice(value: object, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(field, f"must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _optional_choice(value: object, field: str, choices: tuple[str, ...]) -> str | None:
    return None if value is None else _choice(value, field, choices)
