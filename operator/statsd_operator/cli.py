"""Command line of statsd-operator (placeholder until the operator lands)."""


def main() -> None:
    """Run the command line."""
    raise SystemExit("statsd-operator: not built yet")
