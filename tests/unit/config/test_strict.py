"""Tests for syncd.config.strict: the one model base, refusing unknown keys and changes."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest

from syncd.config.strict import PluginConfig, Strict


class Section(Strict):
    """A settings section as syncd declares them."""

    interval: int = 60


class EchoConfig(PluginConfig):
    """A plugin's section that narrows ``type`` to its own name."""

    type: Literal["echo"] = "echo"
    prefix: str = ""


def test_an_unknown_key_is_an_error_naming_it() -> None:
    """A typo is refused, not silently turned into the default."""
    with pytest.raises(pydantic.ValidationError) as info:
        Section.model_validate({"intervall": 5})
    (error,) = info.value.errors()
    assert error["type"] == "extra_forbidden" and error["loc"] == ("intervall",)


def test_a_built_model_cannot_be_changed() -> None:
    """A loaded config can be shared between threads: assigning to a field fails."""
    section = Section(interval=5)
    with pytest.raises(pydantic.ValidationError):
        section.interval = 6  # type: ignore[misc]
    assert section.interval == 5


def test_a_plugin_section_needs_its_type() -> None:
    """PluginConfig requires ``type``, the plugin's entry-point name, and forbids extras too."""
    with pytest.raises(pydantic.ValidationError):
        PluginConfig.model_validate({})
    assert PluginConfig(type="vault").type == "vault"
    with pytest.raises(pydantic.ValidationError):
        PluginConfig.model_validate({"type": "vault", "adress": "x"})


def test_a_plugin_may_narrow_its_type_and_add_its_own_fields() -> None:
    """A subclass takes its own fields and refuses another plugin's type name."""
    assert EchoConfig.model_validate({"type": "echo", "prefix": "p-"}).prefix == "p-"
    with pytest.raises(pydantic.ValidationError):
        EchoConfig.model_validate({"type": "vault"})
