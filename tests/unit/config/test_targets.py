"""Unit tests for syncd.config.targets: a provider's own keys on a target belong to that provider."""

from __future__ import annotations

import pytest

from syncd.config import settings as config
from syncd.errors import ConfigError
from syncd.providers.neon import NeonTarget
from tests.support.configs import ConfigBuilder, binding


def _two_providers(config_builder: ConfigBuilder, **casedev_keys: str) -> ConfigBuilder:
    return (
        config_builder.casedev("http://127.0.0.1:9", name="cd")
        .provider("n", "neon")
        .file_sink("f")
        .target("a", [binding("f", "a")], provider="cd", **casedev_keys)
        .target("b", [binding("f", "b")], provider="n", database="neondb", role="app")
    )


def test_a_providers_keys_reach_its_targets_as_options(config_builder: ConfigBuilder) -> None:
    """Neon's database and role become the Neon target's options; the casedev target has none."""
    cfg = config.load(_two_providers(config_builder).write())
    by_name = {t.name: t for t in cfg.targets}
    assert by_name["b"].options == NeonTarget(database="neondb", role="app")
    assert by_name["a"].options is None


@pytest.mark.parametrize("providers", ["casedev only", "casedev and neon"])
def test_another_providers_key_on_a_target_is_refused(
    config_builder: ConfigBuilder, providers: str
) -> None:
    """A neon key on a casedev target is an unknown key, whether or not a neon provider exists."""
    if providers == "casedev only":
        config_builder.casedev("http://127.0.0.1:9", name="cd").file_sink("f").target(
            "a", [binding("f", "a")], provider="cd", database="neondb"
        )
    else:
        _two_providers(config_builder, database="neondb")
    with pytest.raises(ConfigError) as refused:
        config.load(config_builder.write())
    message = str(refused.value)
    assert "targets.0.database: unknown key 'database'" in message
    assert "\n" not in message
