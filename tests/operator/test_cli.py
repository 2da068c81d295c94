"""The statsd-operator command line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from statsd_operator import cli


def test_run_options() -> None:
    args = cli.build_parser().parse_args(
        ["run", "--namespace", "a", "--namespace", "b", "--ring-lead-seconds", "1.5"]
    )

    options = cli.options_from(args)

    assert args.namespace == ["a", "b"]
    assert args.all_namespaces is False
    assert options.ring_lead == timedelta(seconds=1.5)
    assert options.statsd_image == "statsd/statsd:v0.10.2"


def test_options_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_OPERATOR_NAMESPACE", "metrics web")
    monkeypatch.setenv("STATSD_OPERATOR_TELEGRAF_IMAGE", "mirror/telegraf:1")
    monkeypatch.setenv("STATSD_OPERATOR_RESYNC_SECONDS", "30")

    args = cli.build_parser().parse_args(["run"])

    assert args.namespace == ["metrics", "web"]
    assert cli.options_from(args).telegraf_image == "mirror/telegraf:1"
    assert cli.options_from(args).resync_interval == timedelta(seconds=30)


def test_scope_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["run"])

    assert caught.value.code == 2
    assert "--all-namespaces" in capsys.readouterr().err


def test_scopes_exclusive() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--namespace", "a", "--all-namespaces"])


def test_positive_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--all-namespaces", "--poll-seconds", "0"])

    assert "--poll-seconds must be greater than 0" in capsys.readouterr().err
