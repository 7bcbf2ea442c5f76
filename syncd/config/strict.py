"""The one strict model base: unknown keys are errors and values never change.

Every section of syncd's settings (:mod:`syncd.config.settings`) and every plugin's
config section derive from :class:`Strict`, so a typo in any of them is an
error rather than a silently ignored key (``extra="forbid"``), and a loaded
config can be shared between threads (``frozen=True``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A pydantic model that refuses unknown keys and cannot be changed once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PluginConfig(Strict):
    """Base of a provider's or sink's ``config_model``: its section of the config file.

    ``type`` is the plugin's entry-point name; a plugin may narrow it to a
    ``Literal``. Everything else in the section is the plugin's own fields.
    """

    type: str
