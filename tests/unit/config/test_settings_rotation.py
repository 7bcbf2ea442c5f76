"""Tests for a target's ``rotation:`` section: modes, period, second role, provider capability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd.config import settings as config
from syncd.core.models import RotationMode
from syncd.errors import ConfigError
from tests.support.configs import ConfigBuilder, binding


def load(tmp_path: Path, rotation: dict[str, Any] | None, provider: str = "neon", **kw: Any) -> Any:
    # database and role are Neon's keys: another provider's target may not carry them.
    neon_keys = {"database": "neondb", "role": "billing_app"} if provider == "neon" else {}
    fields: dict[str, Any] = {**neon_keys, **kw}
    if rotation is not None:
        fields["rotation"] = rotation
    path = (
        ConfigBuilder(tmp_path, log_level=None)
        .provider("neon", "neon")
        .provider("cd", "casedev")
        .file_sink("files")
        .target(
            "billing",
            [binding("files", "billing.json")],
            provider=provider,
            project="shiny-wind-123456",
            **fields,
        )
        .write()
    )
    return config.load(path).targets[0]


def test_no_rotation_section_is_refresh(tmp_path: Path) -> None:
    """A target without rotation: carries no rotation (today's refresh behaviour)."""
    assert load(tmp_path, None).rotation is None


def test_reset_with_a_period(tmp_path: Path) -> None:
    """mode reset with every: 30d loads as a reset every 30 days."""
    rotation = load(tmp_path, {"mode": "reset", "every": "30d"}).rotation
    assert rotation.mode is RotationMode.RESET and rotation.every == 30 * 86400
    assert rotation.rotates


def test_alternate_role_defaults_to_role_b(tmp_path: Path) -> None:
    """alternate mode's second role is <role>_b unless alternate_role names it."""
    assert load(tmp_path, {"mode": "alternate", "every": "1h"}).rotation.alternate_role == (
        "billing_app_b"
    )
    named = load(tmp_path, {"mode": "alternate", "every": "1h", "alternate_role": "other"})
    assert named.rotation.alternate_role == "other"


def test_refresh_mode_does_not_rotate(tmp_path: Path) -> None:
    """mode refresh needs no period and never resets."""
    assert not load(tmp_path, {"mode": "refresh"}).rotation.rotates


@pytest.mark.parametrize(
    ("rotation", "message"),
    [
        ({"mode": "reset", "every": "59m"}, r"rotation\.every: every must be at least 1h"),
        ({"mode": "reset"}, r"rotation: mode reset needs 'every'"),
        ({"mode": "spin", "every": "1d"}, r"rotation\.mode"),
        ({"mode": "reset", "every": "1d", "extra": 1}, r"rotation\.extra"),
        ({"mode": "reset", "every": "1d", "alternate_role": "x"}, "only used with mode alternate"),
        ({"mode": "alternate", "every": "1d", "alternate_role": "billing_app"}, "must differ"),
        ({"mode": "alternate", "every": "1d", "alternate_role": "a b"}, r"alternate_role"),
    ],
)
def test_invalid_rotation_is_one_config_error(
    tmp_path: Path, rotation: dict[str, Any], message: str
) -> None:
    """A bad rotation section is a config error naming the key."""
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, rotation)


def test_reset_needs_a_provider_that_can_rotate(tmp_path: Path) -> None:
    """A casedev target with mode reset is refused in one line naming the provider and its type."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, {"mode": "reset", "every": "1d"}, provider="cd")
    message = str(info.value)
    assert "\n" not in message
    assert "targets.0.rotation.mode" in message and "'cd' is type 'casedev'" in message
