"""Command line of statsd-proxy (placeholder until the data plane lands)."""


def main() -> None:
    """Run the command line."""
    raise SystemExit("statsd-proxy: not built yet")
