"""The ``statsd-proxy`` command line: ``run``, ``demo`` and ``ring``.

Every option of ``run`` can also come from an environment variable named
``STATSD_PROXY_`` plus the option in upper case with dashes as underscores,
for example ``STATSD_PROXY_MAX_DATAGRAM=8932``. A flag given on the command
line wins over the environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from statsd_proxy import __version__
from statsd_proxy.config import (
    DEFAULT_FLUSH_INTERVAL_MS,
    DEFAULT_MAX_DATAGRAM,
    DEFAULT_RECEIVE_BUFFER,
    HostPort,
    ProxyConfig,
    parse_backend,
    parse_bool,
    parse_datagram_size,
    parse_flush_interval,
    parse_host_port,
    parse_namespaced_name,
    parse_non_negative_float,
    parse_positive_int,
    parse_receive_buffer,
    parse_workers,
)
from statsd_proxy.logs import LOG_FORMATS, LOG_LEVELS, configure_logging, default_log_format
from statsd_proxy.ringdoc import HASH_KEYS

T = TypeVar("T")
ENV_PREFIX = "STATSD_PROXY_"


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    raise SystemExit(args.handler(args, parser))


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="statsd-proxy",
        description="Shard a StatsD stream over several StatsD servers by consistent hashing.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the proxy", description="Run the proxy.")
    add_run_options(run)
    run.set_defaults(handler=_run_command)
    demo = commands.add_parser(
        "demo", help="run a local demo with three shards", description=_DEMO_DESCRIPTION
    )
    demo.add_argument(
        "--seconds",
        type=_typed("--seconds", parse_non_negative_float),
        default=3.0,
        help="how long to send traffic, in seconds (default: 3)",
    )
    demo.set_defaults(handler=_demo_command)
    from statsd_proxy.ringcli import add_ring_commands

    add_ring_commands(commands)
    return parser


_DEMO_DESCRIPTION = (
    "Start the proxy and three local shard receivers on 127.0.0.1, send a webapp-like "
    "traffic mix, check that every series reached exactly one shard, then add a fourth "
    "shard and report the share of series that moved."
)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``statsd-proxy run``, with defaults from the environment."""
    add = _EnvOptions(parser)
    add("--listen", parse_host_port, "0.0.0.0:8125", "UDP address to receive StatsD on, HOST:PORT")
    add.flag("--tcp", "also accept newline-delimited StatsD over TCP on the same port")
    add(
        "--backend",
        parse_backend,
        None,
        "a shard, NAME=HOST:PORT[,max-datagram=BYTES]; "
        "repeatable; the environment variable takes a space-separated list",
        repeat=True,
    )
    add(
        "--ring-configmap",
        parse_namespaced_name,
        None,
        "follow the ring ConfigMap NAMESPACE/NAME (key ring.json) through the Kubernetes API",
    )
    add("--ring-file", str, None, "follow a ring.json file, such as a mounted ConfigMap")
    add(
        "--ring-endpoints",
        parse_namespaced_name,
        None,
        "follow the EndpointSlices of the headless Service NAMESPACE/SERVICE",
    )
    add("--endpoint-port-name", str, "statsd", "port name to send to, with --ring-endpoints")
    add(
        "--unready-policy",
        _choice("--unready-policy", ("hold", "failover")),
        "hold",
        "hold: a not-ready member keeps its series; failover: it leaves the ring until ready",
    )
    add(
        "--resolve-interval",
        parse_non_negative_float,
        "30",
        "seconds between DNS lookups of member host names; 0 turns them off",
    )
    add(
        "--hash-key",
        _choice("--hash-key", HASH_KEYS),
        "series",
        "series: route by name and sorted tags; name: by metric name alone",
    )
    add(
        "--max-datagram",
        parse_datagram_size,
        str(DEFAULT_MAX_DATAGRAM),
        "largest datagram sent to a member, in bytes",
    )
    add(
        "--flush-interval-ms",
        parse_flush_interval,
        str(DEFAULT_FLUSH_INTERVAL_MS),
        "longest time a partial batch waits before it is sent, in milliseconds",
    )
    add(
        "--receive-buffer",
        parse_receive_buffer,
        str(DEFAULT_RECEIVE_BUFFER),
        "UDP receive buffer to ask the kernel for, in bytes (capped by net.core.rmem_max); "
        "0 keeps the kernel default",
    )
    add(
        "--route-cache-size",
        parse_positive_int,
        "50000",
        "series whose member is cached; the cache is cleared when full",
    )
    add("--workers", parse_workers, "1", "processes sharing the UDP port")
    add(
        "--metrics-listen",
        _optional_host_port,
        "0.0.0.0:9102",
        "HTTP address for /metrics, /healthz and /readyz; 'off' disables it",
    )
    add(
        "--log-format",
        _choice("--log-format", LOG_FORMATS),
        None,
        "json or console (default: console on a terminal, else json)",
    )
    add("--log-level", _choice("--log-level", LOG_LEVELS), "info", "least severe level logged")


def config_from_args(args: argparse.Namespace) -> ProxyConfig:
    """Build the validated configuration from parsed ``run`` options."""
    resolve_environment(args)
    return ProxyConfig(
        listen=args.listen,
        tcp=args.tcp,
        backends=tuple(args.backend or ()),
        ring_configmap=args.ring_configmap,
        ring_file=args.ring_file,
        ring_endpoints=args.ring_endpoints,
        endpoint_port_name=args.endpoint_port_name,
        unready_policy=args.unready_policy,
        resolve_interval=args.resolve_interval,
        hash_key=args.hash_key,
        max_datagram=args.max_datagram,
        flush_interval_ms=args.flush_interval_ms,
        receive_buffer=args.receive_buffer,
        route_cache_size=args.route_cache_size,
        workers=args.workers,
        metrics_listen=args.metrics_listen,
        log_format=args.log_format or default_log_format(),
        log_level=args.log_level,
    )


def check_sources(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Exit with an error unless exactly one membership source is chosen."""
    resolve_environment(args)
    chosen = [
        option
        for option, value in (
            ("--backend", args.backend),
            ("--ring-configmap", args.ring_configmap),
            ("--ring-file", args.ring_file),
            ("--ring-endpoints", args.ring_endpoints),
        )
        if value
    ]
    if len(chosen) != 1:
        found = ", ".join(chosen) if chosen else "none"
        parser.error(
            "choose exactly one membership source: --backend (repeatable), --ring-configmap, "
            f"--ring-file or --ring-endpoints (found: {found})"
        )
    names = [member.name for member in args.backend or ()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        parser.error(f"--backend: duplicate member names {duplicates!r}; each needs its own name")


def _run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    check_sources(args, parser)
    config = config_from_args(args)
    configure_logging(config.log_format, config.log_level)
    from statsd_proxy.ingress import ListenError

    try:
        if config.workers > 1:
            from statsd_proxy.workers import supervise

            return supervise(config)
        from statsd_proxy.app import run_event_loop, serve

        return run_event_loop(serve(config))
    except ListenError as error:
        print(f"statsd-proxy: error: {error}", file=sys.stderr)
        return 1


def _demo_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from statsd_proxy.demo import run_demo

    configure_logging("console", "info")
    return run_demo(seconds=args.seconds)


SOURCE_OPTIONS = ("--backend", "--ring-configmap", "--ring-file", "--ring-endpoints")
# The parsed value of an option not given on the command line. It cannot be
# None, because `--metrics-listen off` parses to None.
_NOT_GIVEN: Any = object()


@dataclasses.dataclass(frozen=True)
class _EnvOption:
    option: str
    parse: Callable[[str], Any]
    default: str | None
    repeat: bool = False
    flag: bool = False

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")

    def value_from(self, raw: str) -> Any:
        variable = _env_name(self.option)
        if self.flag:
            return _parse_env(variable, parse_bool, raw)
        if self.repeat:
            return [_parse_env(variable, self.parse, item) for item in raw.split()] or None
        return _parse_env(variable, self.parse, raw)


class _EnvOptions:
    """Adds options that fall back to ``STATSD_PROXY_*`` environment variables.

    Every option is parsed with a marker default, so after parsing the marker
    means the flag was not given. `resolve_environment` then fills it from the
    environment, or else from the built-in default.
    """

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._parser = parser
        self._options: list[_EnvOption] = []
        parser.set_defaults(env_options=self._options)

    def __call__(
        self,
        option: str,
        parse: Callable[[str], Any],
        default: str | None,
        help_text: str,
        *,
        repeat: bool = False,
    ) -> None:
        self._options.append(_EnvOption(option, parse, default, repeat=repeat))
        variable = _env_name(option)
        shown = f" (default: {default})" if default is not None else ""
        self._parser.add_argument(
            option,
            type=_typed(option, parse),
            action="append" if repeat else "store",
            # argparse appends to a copy of the default, so a list option needs None.
            default=None if repeat else _NOT_GIVEN,
            help=f"{help_text}{shown} [env {variable}]",
        )

    def flag(self, option: str, help_text: str) -> None:
        self._options.append(_EnvOption(option, parse_bool, "false", flag=True))
        self._parser.add_argument(
            option,
            action="store_const",
            const=True,
            default=_NOT_GIVEN,
            help=f"{help_text} [env {_env_name(option)}]",
        )


def resolve_environment(args: argparse.Namespace) -> None:
    """Fill options not given as flags from the environment, then from their defaults.

    A membership source given as a flag also overrides any source set in the
    environment, so a flag always wins.
    """
    options: list[_EnvOption] = getattr(args, "env_options", [])
    source_flagged = any(
        _given(o, getattr(args, o.dest)) for o in options if o.option in SOURCE_OPTIONS
    )
    for option in options:
        if _given(option, getattr(args, option.dest)):
            continue
        raw = os.environ.get(_env_name(option.option))
        if source_flagged and option.option in SOURCE_OPTIONS:
            raw = None
        if raw is None:
            raw = option.default
        value = option.value_from(raw) if raw is not None else None
        setattr(args, option.dest, value)
    args.env_options = []


def _given(option: _EnvOption, value: Any) -> bool:
    return value is not None if option.repeat else value is not _NOT_GIVEN


def _env_name(option: str) -> str:
    return ENV_PREFIX + option.lstrip("-").upper().replace("-", "_")


def _parse_env(variable: str, parse: Callable[[str], T], raw: str) -> T:
    try:
        return parse(raw)
    except ValueError as error:
        print(
            f"statsd-proxy: error: environment variable {variable}={raw!r}: {error}",
            file=sys.stderr,
        )
        raise SystemExit(2) from error


def _typed(option: str, parse: Callable[[str], T]) -> Callable[[str], T]:
    """Wrap a parser so argparse reports its message beside the option name."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    convert.__name__ = option
    return convert


def _choice(option: str, choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def _optional_host_port(text: str) -> HostPort | None:
    return None if text == "off" else parse_host_port(text)
