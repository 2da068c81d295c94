"""InfluxDB 1.6 for the pipeline tests: start, query over HTTP, stop.

The graphite listener turns a key that Etsy StatsD 0.9 flushes with
`legacyNamespace: false` and `globalPrefix` set to the shard name, such as
`shard0.counters.users.logins.count`, into measurement `users.logins`, tags
`shard=shard0` and `type=counters`, and field `count`. Gauges carry no field part
(`shard0.gauges.load`), so InfluxDB stores them in its default field `value`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.pipeline_process import (
    LOOPBACK,
    ManagedProcess,
    free_port,
)

CONFIG_TEMPLATE = Path(__file__).with_name("influxdb_pipeline.conf")
DATABASE = "statsd"
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0

# A metric name with more dot-separated parts than this is stored wrongly: the deepest
# template applies, so the measurement keeps the first MAX_NAME_DEPTH parts and, for
# counters, timers and sets, the next part becomes the field.
MAX_NAME_DEPTH = 10


def graphite_templates(max_depth: int = MAX_NAME_DEPTH) -> list[str]:
    """Build one graphite template per key depth, for metric names of 1 to max_depth parts.

    InfluxDB 1.6 matches a key against the filters part by part and applies the
    template of the filter as long as the key, so each depth needs its own entry.
    Gauge keys end with the metric name and get separate filters on their `gauges` part.
    """
    templates = []
    for depth in range(1, max_depth + 1):
        wildcards = ".*" * depth
        measurement = ".measurement" * depth
        templates.append(f"*.*{wildcards}.* shard.type{measurement}.field")
        templates.append(f"*.gauges{wildcards} shard.type{measurement}")
    # The default template catches StatsD's own short keys such as shard0.statsd.numStats.
    templates.append("shard.type.measurement*")
    return templates


def quote_identifier(name: str) -> str:
    """Quote an InfluxQL identifier such as a field name containing `;` or `=`."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def quote_string(value: str) -> str:
    """Quote an InfluxQL string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class InfluxQueryError(RuntimeError):
    """InfluxDB rejected a query or returned an error in its result."""


@dataclass
class InfluxDB:
    """A running influxd with one database fed by its graphite listener."""

    http_port: int
    graphite_port: int
    database: str
    process: ManagedProcess

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://{LOOPBACK}:{self.http_port}"

    def ping(self) -> bool | None:
        """Return True when /ping returns 204, None otherwise (a wait_for probe)."""
        self.process.check_running()
        with urllib.request.urlopen(f"{self.url}/ping", timeout=HTTP_TIMEOUT) as response:
            return True if response.status == 204 else None

    def query(self, statement: str, *, post: bool = False) -> list[dict[str, Any]]:
        """Run one InfluxQL statement and return the series of its result."""
        params = {"db": self.database, "q": statement, "epoch": "s"}
        encoded = urllib.parse.urlencode(params)
        if post:
            request = urllib.request.Request(f"{self.url}/query", data=encoded.encode())
        else:
            request = urllib.request.Request(f"{self.url}/query?{encoded}")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise InfluxQueryError(f"query {statement!r} failed: {error}: {detail}") from error
        return _series_of(statement, body)

    def aggregate(self, function: str, field: str, metric_type: str) -> dict[str, dict[str, float]]:
        """Apply an InfluxQL aggregate such as sum or last to a field over all time.

        Covers every measurement of one StatsD metric type (the `type` tag) and returns
        {measurement: {shard: value}}; measurements without the field are absent.
        """
        if not function.isidentifier():
            raise ValueError(f"invalid InfluxQL function name {function!r}")
        statement = (
            f"SELECT {function}({quote_identifier(field)}) FROM /.*/ "
            f'WHERE "type" = {quote_string(metric_type)} GROUP BY "shard"'
        )
        values: dict[str, dict[str, float]] = {}
        for series in self.query(statement):
            shard = series.get("tags", {}).get("shard", "")
            values.setdefault(series["name"], {})[shard] = float(series["values"][0][1])
        return values

    def field_totals(self, field: str, metric_type: str) -> dict[str, dict[str, float]]:
        """Sum a field over all time, per measurement and per shard tag."""
        return self.aggregate("sum", field, metric_type)

    def counter_totals(self) -> dict[str, dict[str, float]]:
        """Sum each counter's flushed `count` field, per measurement and per shard."""
        return self.field_totals("count", "counters")

    def field_keys(self, measurement: str) -> list[str]:
        """Return the field names stored for one measurement."""
        series = self.query(f"SHOW FIELD KEYS FROM {quote_identifier(measurement)}")
        return [row[0] for row in series[0]["values"]] if series else []


def _series_of(statement: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    if "error" in body:
        raise InfluxQueryError(f"query {statement!r} failed: {body['error']}")
    result = body["results"][0]
    if "error" in result:
        raise InfluxQueryError(f"query {statement!r} failed: {result['error']}")
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def influxd_path() -> str | None:
    """Return the path of influxd on PATH, or None."""
    return shutil.which("influxd")


def write_config(workdir: Path, http_port: int, graphite_port: int) -> Path:
    """Fill the configuration template for one run and return its path."""
    state_dir = workdir / "influxdb"
    state_dir.mkdir(parents=True, exist_ok=True)
    templates = ",\n".join(f'    "{template}"' for template in graphite_templates())
    text = string.Template(CONFIG_TEMPLATE.read_text()).substitute(
        rpc_port=free_port(),
        http_port=http_port,
        graphite_port=graphite_port,
        state_dir=state_dir,
        database=DATABASE,
        templates=templates,
    )
    config_path = workdir / "influxdb.conf"
    config_path.write_text(text)
    return config_path


def _graphite_accepts(process: ManagedProcess, port: int) -> bool:
    process.check_running()
    with socket.create_connection((LOOPBACK, port), timeout=HTTP_TIMEOUT):
        return True


@contextlib.contextmanager
def run_influxdb(workdir: Path) -> Iterator[InfluxDB]:
    """Start influxd, wait until it serves, create the database; always stop and reap it."""
    binary = influxd_path()
    if binary is None:
        raise FileNotFoundError("influxd not found on PATH")
    http_port, graphite_port = free_port(), free_port()
    config_path = write_config(workdir, http_port, graphite_port)
    process = ManagedProcess(
        "influxd", [binary, "-config", str(config_path)], workdir / "influxd.log"
    )
    try:
        server = InfluxDB(http_port, graphite_port, DATABASE, process)
        process.wait_for(server.ping, START_TIMEOUT, f"/ping 204 on port {http_port}")
        process.wait_for(
            lambda: _graphite_accepts(process, graphite_port),
            START_TIMEOUT,
            f"graphite listener on port {graphite_port}",
        )
        # The graphite service creates a missing database too, but StatsD drops a flush
        # that fails, so the database must exist before the first shard flushes.
        server.query(f"CREATE DATABASE {quote_identifier(DATABASE)}", post=True)
        yield server
    finally:
        process.stop()
