"""Shard server flavors: their images, commands, probes and configuration files.

Every flavor tags what a shard flushes with the shard's own name, which the pod
gets from the downward API in the ``STATSD_SHARD_NAME`` environment variable:

- ``statsd`` (Etsy StatsD): the Graphite backend's ``globalPrefix``, so a key
  reaches Graphite as ``main-statsd-0.counters.users.logins.count``;
- ``telegraf`` (Telegraf's statsd input): the global tag ``shard``;
- ``custom``: the variable is there for the user's own configuration to use.

Two shards therefore never write the same series and timestamp, which a time
series database would otherwise keep only once.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from statsd_operator.spec import ADMIN_PORT, ClusterSpec, Flavor

SHARD_NAME_ENV = "STATSD_SHARD_NAME"

# Default images, overridable per cluster with spec.image and per operator
# with its --statsd-image and --telegraf-image options.
DEFAULT_STATSD_IMAGE = "statsd/statsd:v0.10.2"
DEFAULT_TELEGRAF_IMAGE = "telegraf:1.32"

# Telegraf keeps this many metrics per output while the sink is unreachable.
TELEGRAF_BUFFER_LIMIT = 100000


@dataclasses.dataclass(frozen=True)
class FlavorLayout:
    """The place of a flavor's configuration file and the start command of its container."""

    config_key: str
    mount_path: str
    command: tuple[str, ...] = ()
    working_dir: str | None = None
    readiness_probe: dict[str, Any] | None = None

    @property
    def config_path(self) -> str:
        """The absolute path of the configuration file inside the container."""
        return f"{self.mount_path}/{self.config_key}"


LAYOUTS: dict[Flavor, FlavorLayout] = {
    # The statsd/statsd image runs from /usr/src/app. Its management port
    # accepts TCP connections once the server runs.
    "statsd": FlavorLayout(
        config_key="config.js",
        mount_path="/etc/statsd",
        command=("node", "stats.js", "/etc/statsd/config.js"),
        working_dir="/usr/src/app",
        readiness_probe={"tcpSocket": {"port": "admin"}, "periodSeconds": 5},
    ),
    "telegraf": FlavorLayout(
        config_key="telegraf.conf",
        mount_path="/etc/telegraf",
        command=("telegraf", "--config", "/etc/telegraf/telegraf.conf"),
        readiness_probe={"httpGet": {"path": "/", "port": "admin"}, "periodSeconds": 5},
    ),
    "custom": FlavorLayout(config_key="config", mount_path="/etc/statsd-shard"),
}


def resolve_image(spec: ClusterSpec, statsd_image: str, telegraf_image: str) -> str:
    """Return the shard image: spec.image when set, else the flavor's default."""
    if spec.image is not None:
        return spec.image
    if spec.flavor == "telegraf":
        return telegraf_image
    return statsd_image


def build_shard_config(spec: ClusterSpec, cluster: str) -> dict[str, str]:
    """Build the shard configuration ConfigMap data: one key, the flavor's file."""
    layout = LAYOUTS[spec.flavor]
    if spec.flavor == "statsd":
        text = build_statsd_config(spec, cluster)
    elif spec.flavor == "telegraf":
        text = build_telegraf_config(spec, cluster)
    else:
        text = spec.config or ""
    return {layout.config_key: text}


def build_statsd_config(spec: ClusterSpec, cluster: str) -> str:
    """Build an Etsy StatsD ``config.js`` flushing through the Graphite backend.

    StatsD evaluates its configuration as JavaScript, so the prefix can read
    the shard name from the environment. Every other value is a JSON literal.
    ``deleteIdleStats`` stops a shard from flushing zeros forever for the
    series that a reshard moved to another shard.

    NOTE: the server listens on IPv4 only (0.0.0.0), so an IPv6-only cluster
    needs flavor custom. StatsD also counts its flush windows from its own start
    rather than from the epoch, so the window around a ring switch comes from two shards.
    """
    if spec.graphite is None:
        raise ValueError("missing spec.sink.graphite, which flavor 'statsd' requires")
    placeholder = "@@shard-name@@"
    settings: dict[str, Any] = {
        "port": spec.port,
        "address": "0.0.0.0",
        "mgmt_port": ADMIN_PORT,
        "mgmt_address": "0.0.0.0",
        "flushInterval": spec.flush_interval_seconds * 1000,
        "deleteIdleStats": True,
        "backends": ["./backends/graphite"],
        "graphiteHost": spec.graphite.host,
        "graphitePort": spec.graphite.port,
        "graphite": {"legacyNamespace": False, "globalPrefix": placeholder},
    }
    body = json.dumps(settings, indent=2, ensure_ascii=True)
    body = body.replace(json.dumps(placeholder), f"process.env.{SHARD_NAME_ENV}")
    header = f"// Written by statsd-operator for StatsdCluster {cluster}; edits are replaced.\n"
    return header + body + "\n"


def build_telegraf_config(spec: ClusterSpec, cluster: str) -> str:
    """Build a ``telegraf.conf`` with the statsd input and the InfluxDB output.

    ``round_interval`` aligns Telegraf's collections, which end the statsd
    input's windows, to multiples of the interval on the wall clock. Those are
    the same boundaries the operator gives ring changes.
    """
    if spec.influxdb is None:
        raise ValueError("missing spec.sink.influxdb, which flavor 'telegraf' requires")
    interval = _toml(f"{spec.flush_interval_seconds}s")
    lines = [
        f"# Written by statsd-operator for StatsdCluster {cluster}; edits are replaced.",
        "[global_tags]",
        f'  shard = "${{{SHARD_NAME_ENV}}}"',
        "",
        "[agent]",
        f"  interval = {interval}",
        "  round_interval = true",
        f"  flush_interval = {interval}",
        '  flush_jitter = "0s"',
        '  collection_jitter = "0s"',
        f"  metric_buffer_limit = {TELEGRAF_BUFFER_LIMIT}",
        "  omit_hostname = true",
        "",
        "[[inputs.statsd]]",
        '  protocol = "udp"',
        f'  service_address = ":{spec.port}"',
        "  delete_counters = true",
        "  delete_gauges = true",
        "  delete_sets = true",
        "  delete_timings = true",
        "  percentiles = [50.0, 90.0, 99.0]",
        "  parse_data_dog_tags = true",
        "  datadog_extensions = true",
        "  datadog_distributions = true",
        "",
        "[[outputs.influxdb]]",
        f"  urls = [{_toml(spec.influxdb.url)}]",
        f"  database = {_toml(spec.influxdb.database)}",
    ]
    if spec.influxdb.retention_policy is not None:
        lines.append(f"  retention_policy = {_toml(spec.influxdb.retention_policy)}")
    lines += ["", "[[outputs.health]]", f'  service_address = "http://:{ADMIN_PORT}"']
    return "\n".join(lines) + "\n"


def _toml(text: str) -> str:
    # A JSON string with only ASCII characters is also a TOML basic string.
    return json.dumps(text, ensure_ascii=True)
