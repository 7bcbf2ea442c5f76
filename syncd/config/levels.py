"""The log levels and formats syncd accepts.

Apart from :mod:`syncd.logs` because the command line's parser needs them
before anything heavy (structlog, pydantic) is imported: ``syncd --version``
and ``syncd --help`` start in the time the interpreter does.
"""

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("json", "console")
