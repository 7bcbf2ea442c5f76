"""Log configuration: one structlog pipeline for syncd and its libraries.

Everything is routed through the standard library's root logger and rendered
by a single :class:`structlog.stdlib.ProcessorFormatter`, so the stdlib loggers
of httpx, httpcore, botocore, urllib3, hvac and apscheduler pass the very same
processors as syncd's own events, redaction included. Redaction runs after
exceptions are formatted, so tracebacks are scrubbed too.

Three botocore loggers dump whole requests and responses at DEBUG: bodies
(a ``SecretString`` with the password, JSON-escaped twice inside a bytes
repr), headers (``X-Amz-Security-Token``) and the signing input. They stay at
INFO even when syncd logs at debug, unless ``log.vendor_debug`` asks for them;
then the redactor still masks every credential it knows in those encodings.

A library's line is an event like any other, with a stable name: its
``event`` is :data:`VENDOR_EVENT` (``vendor_log``), ``logger`` says which
library, and the formatted text goes to ``message`` (redacted like every
other value). Before, the text itself was the event, so no two lines of an
outage had the same one and a filter on ``event`` could not catch them.

Configure once, from the CLI. Modules only call ``structlog.get_logger()``.
A module's logger is named for its part of syncd (``syncd.engine``,
``syncd.rotation``, ``syncd.scheduler``), which is what a line's ``logger``
says: the name stays when the code moves between modules or packages.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from syncd.redaction import scrub_value

#: Libraries that are chatty at INFO; they only speak at WARNING unless syncd logs at DEBUG.
_NOISY = ("httpx", "httpcore", "botocore", "boto3", "urllib3", "hvac", "apscheduler", "moto")
#: Loggers that print request/response bodies, headers or signing input at DEBUG.
#: (hvac logs nothing; httpx/httpcore log request lines and response headers only.)
BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.auth")
#: The ``event`` of every line logged through a stdlib logger (a library's, or Python's warnings).
VENDOR_EVENT = "vendor_log"
#: structlog keys that are ours and never carry a credential.
_SAFE_KEYS = frozenset({"timestamp", "level", "logger", "event"})


def redact(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Structlog processor masking credentials in every value of an event."""
    return {
        key: value if key in _SAFE_KEYS and key != "event" else scrub_value(value, key)
        for key, value in event_dict.items()
    }


def _event_to_str(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    # Foreign (stdlib) records may pass objects as the message; the redactor wants text.
    for key in ("event", "message"):
        value = event_dict.get(key)
        if value is not None and not isinstance(value, str):
            event_dict[key] = str(value)
    return event_dict


def _vendor_event(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    # Runs for stdlib records only (foreign_pre_chain): their text moves to "message".
    event_dict["message"] = event_dict.get("event")
    event_dict["event"] = VENDOR_EVENT
    return event_dict


def configure(
    level: str = "info",
    fmt: str | None = None,
    stream: IO[str] | None = None,
    *,
    vendor_debug: bool = False,
) -> None:
    """Set up structlog and the stdlib root logger to emit redacted events on ``stream``.

    ``fmt`` None picks ``console`` on a terminal and ``json`` otherwise.
    ``vendor_debug`` lets the :data:`BODY_LOGGERS` speak at debug level too.
    """
    stream = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "console" if stream.isatty() else "json"
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _vendor_event],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _event_to_str,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric)
    libraries = logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
    for name in _NOISY:
        logging.getLogger(name).setLevel(libraries)
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if vendor_debug else max(libraries, logging.INFO)
        )
    structlog.configure(
        processors=[
            # First: an event below the level costs no timestamp, context or rendering.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    logging.captureWarnings(True)


def reset() -> None:
    """Undo :func:`configure` (tests call this between runs)."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    structlog.reset_defaults()
