"""structlog set-up: JSON lines in the cluster, readable console output locally."""

from __future__ import annotations

import logging
import sys

import structlog

LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")


def default_log_format() -> str:
    """Return ``console`` when standard error is a terminal, else ``json``."""
    return "console" if sys.stderr.isatty() else "json"


def configure_logging(log_format: str, level: str, **context: object) -> None:
    """Configure structlog to write to standard error with ``context`` on every event."""
    renderer: structlog.typing.Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.dict_tracebacks if log_format == "json" else _keep_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    if context:
        structlog.contextvars.bind_contextvars(**context)


def _keep_exc_info(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    # The console renderer formats exc_info itself.
    return event
