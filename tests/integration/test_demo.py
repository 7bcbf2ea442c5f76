"""The embedded demo: the README's first set-up command."""

import pytest

from tests.conftest import run_syncd


@pytest.mark.e2e
def test_demo_runs_three_cycles_and_masks_credentials() -> None:
    """`syncd demo` creates, leaves unchanged, picks up a rotation, and prints no password."""
    result = run_syncd("demo")
    assert result.code == 0, result.output
    out = result.stdout
    assert (
        "6 created" in out
        and "6 unchanged" in out
        and "4 updated, 0 drift repaired, 2 unchanged" in out
    )
    assert "now holds (masked): DATABASE_URL=***" in out
    assert "demo finished: all cycles behaved as expected" in out
    assert "postgresql://neondb_owner:" not in out
