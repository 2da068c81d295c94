"""Allow ``python -m statsd_proxy``."""

from statsd_proxy.cli import main

main()
