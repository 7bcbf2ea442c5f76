"""Tests for syncd.config.levels: the log levels and formats, known before anything heavy is imported."""

from __future__ import annotations

import subprocess
import sys
import typing

from syncd.config import levels
from syncd.config.settings import LogSettings


def test_the_command_line_and_the_config_accept_the_same_levels_and_formats() -> None:
    """LEVELS and FORMATS are exactly what log.level and log.format validate against."""
    fields = LogSettings.model_fields
    assert typing.get_args(fields["level"].annotation) == levels.LEVELS
    (formats, _none) = typing.get_args(fields["format"].annotation)
    assert typing.get_args(formats) == levels.FORMATS


def test_importing_the_levels_pulls_in_neither_structlog_nor_pydantic() -> None:
    """`syncd --help` can offer the choices without paying for structlog or pydantic."""
    code = (
        "import sys, syncd.config.levels; "
        "print(sorted(m for m in ('structlog', 'pydantic') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
