"""Command line of statsd-operator: ``statsd-operator run`` runs the kopf operator.

Every option also reads the environment variable ``STATSD_OPERATOR_<NAME>``
(upper case, dashes to underscores); ``--namespace`` takes a space-separated
list from ``STATSD_OPERATOR_NAMESPACE``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta

import kopf

from statsd_operator.handlers import build_registry
from statsd_operator.options import Options
from statsd_operator.shardconfig import DEFAULT_STATSD_IMAGE, DEFAULT_TELEGRAF_IMAGE

ENV_PREFIX = "STATSD_OPERATOR_"
LOG_FORMATS = {"json": kopf.LogFormat.JSON, "console": kopf.LogFormat.FULL}
LOG_LEVELS = ("debug", "info", "warning", "error")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser, with defaults taken from the environment."""
    top = argparse.ArgumentParser(
        prog="statsd-operator",
        description="Run StatsD shards for StatsdCluster objects and publish their ring.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser = commands.add_parser("run", help="run the operator until SIGTERM or SIGINT")
    _add_scope_options(parser)
    _add_image_options(parser)
    _add_timing_options(parser)
    _add_log_options(parser)
    return top


def _add_scope_options(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        action="append",
        default=_env_list("namespace"),
        help="watch StatsdClusters in this namespace; repeatable",
    )
    scope.add_argument(
        "--all-namespaces",
        action="store_true",
        default=_env_flag("all-namespaces"),
        help="watch StatsdClusters in every namespace (needs cluster-wide RBAC)",
    )
    parser.add_argument(
        "--liveness",
        default=_env("liveness", None),
        metavar="URL",
        help="serve kopf's liveness probe at this URL, such as http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--kubeconfig",
        default=_env("kubeconfig", None),
        metavar="PATH",
        help="kubeconfig file; default: the pod's service account, "
        "else $KUBECONFIG or ~/.kube/config",
    )


def _add_image_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--statsd-image",
        default=_env("statsd-image", DEFAULT_STATSD_IMAGE),
        help="shard image of flavor statsd when spec.image is empty",
    )
    parser.add_argument(
        "--telegraf-image",
        default=_env("telegraf-image", DEFAULT_TELEGRAF_IMAGE),
        help="shard image of flavor telegraf when spec.image is empty",
    )


def _add_timing_options(parser: argparse.ArgumentParser) -> None:
    defaults = Options()
    _seconds(
        parser,
        "ring-lead-seconds",
        defaults.ring_lead,
        "minimum seconds between writing a ring that adds or removes members and its switch time",
    )
    _seconds(
        parser,
        "drain-margin-seconds",
        defaults.drain_margin,
        "extra seconds after a drain before the StatefulSet shrinks",
    )
    _seconds(
        parser,
        "poll-seconds",
        defaults.poll_interval,
        "seconds between checks while waiting for pods",
    )
    _seconds(
        parser,
        "resync-seconds",
        defaults.resync_interval,
        "seconds between reconciliations of an unchanged StatsdCluster",
    )


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=sorted(LOG_FORMATS),
        default=_env("log-format", "console" if sys.stderr.isatty() else "json"),
        help="log format; default: console on a terminal, else json",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=_env("log-level", "info"),
        help="minimum level of the log lines written",
    )


def options_from(args: argparse.Namespace) -> Options:
    """Build the operator options from parsed arguments."""
    return Options(
        statsd_image=args.statsd_image,
        telegraf_image=args.telegraf_image,
        ring_lead=timedelta(seconds=args.ring_lead_seconds),
        drain_margin=timedelta(seconds=args.drain_margin_seconds),
        poll_interval=timedelta(seconds=args.poll_seconds),
        resync_interval=timedelta(seconds=args.resync_seconds),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.all_namespaces and not args.namespace:
        parser.error("give --namespace NAME (repeatable) or --all-namespaces")
    for option in ("ring_lead_seconds", "poll_seconds", "resync_seconds"):
        if getattr(args, option) <= 0:
            parser.error(f"--{option.replace('_', '-')} must be greater than 0")
    kopf.configure(debug=args.log_level == "debug", log_format=LOG_FORMATS[args.log_format])
    # kopf.configure sets only DEBUG, INFO or WARNING, so set the level here.
    logging.getLogger().setLevel(args.log_level.upper())
    registry = build_registry(options_from(args), kubeconfig=args.kubeconfig)
    # One operator replica serves all StatsdClusters; no peering objects are used.
    coroutine = kopf.operator(
        registry=registry,
        standalone=True,
        clusterwide=args.all_namespaces,
        namespaces=[] if args.all_namespaces else args.namespace,
        liveness_endpoint=args.liveness or None,
        memo=kopf.Memo(),
    )
    asyncio.run(coroutine)


def _seconds(parser: argparse.ArgumentParser, name: str, default: timedelta, text: str) -> None:
    parser.add_argument(
        f"--{name}",
        type=float,
        # argparse converts a string default with ``type``, and reports an
        # invalid value from the environment as a usage error.
        default=_env(name, None) or str(default.total_seconds()),
        metavar="SECONDS",
        help=f"{text} (default: {default.total_seconds():g})",
    )


def _env(name: str, default: str | None) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)


def _env_list(name: str) -> list[str] | None:
    value = _env(name, None)
    return value.split() if value else None


def _env_flag(name: str) -> bool:
    return (_env(name, "") or "").lower() in ("1", "true", "yes", "on")
