"""Discovering providers and sinks through entry points.

Built-in plugins register in syncd's own ``pyproject.toml`` under the same
groups a third-party distribution uses (``syncd.providers``, ``syncd.sinks``),
so there is exactly one way in. Only the plugins a config names are imported.
A plugin that fails to import, does not match its Protocol
(:class:`~syncd.providers.base.ProviderFactory`,
:class:`~syncd.sinks.base.SinkFactory`), or whose name is claimed by two
distributions is a :class:`~syncd.errors.PluginError` naming the plugin and
its distribution. :func:`load_provider` and :func:`load_sink` return the
factory typed by that Protocol, so callers are type-checked end to end.
:func:`~syncd.extras.require`, which imports a plugin's optional SDK, lives in
:mod:`syncd.extras` (below the sinks that call it) and is importable from here too.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from typing import cast

from pydantic import BaseModel

from syncd.errors import ConfigError, PluginError
from syncd.extras import require
from syncd.providers.base import ProviderFactory
from syncd.sinks.base import SinkFactory

__all__ = [
    "PROVIDER_GROUP",
    "SINK_GROUP",
    "PluginInfo",
    "Usability",
    "all_plugins",
    "discover",
    "load",
    "load_provider",
    "load_sink",
    "require",
    "usability",
]

PROVIDER_GROUP = "syncd.providers"
SINK_GROUP = "syncd.sinks"
_PROTOCOL: dict[str, type] = {PROVIDER_GROUP: ProviderFactory, SINK_GROUP: SinkFactory}
_KIND = {PROVIDER_GROUP: "provider", SINK_GROUP: "sink"}
#: The SDKs built-in plugins import lazily, and the extra of syncd that installs them.
#: A third-party plugin may name its extras in its entry point (``module:Class [extra]``).
_BUILTIN_NEEDS = {
    (SINK_GROUP, "aws-secrets-manager"): (("botocore",), "aws"),
    (SINK_GROUP, "vault"): (("hvac", "requests"), "vault"),
}


@dataclass(frozen=True)
class PluginInfo:
    """One discovered plugin, before it is imported."""

    group: str
    name: str
    value: str
    distribution: str
    version: str
    extras: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``provider`` or ``sink``."""
        return _KIND[self.group]


def discover(group: str) -> dict[str, PluginInfo]:
    """Every plugin registered in ``group``, by name; rejects a name claimed twice."""
    found: dict[str, PluginInfo] = {}
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist
        info = PluginInfo(
            group=group,
            name=ep.name,
            value=ep.value,
            distribution=dist.name if dist is not None else "unknown",
            version=dist.version if dist is not None else "unknown",
            extras=tuple(ep.extras),
        )
        previous = found.get(ep.name)
        if previous is not None and previous != info:
            raise PluginError(
                f"{_KIND[group]} plugin {ep.name!r} is registered twice: by "
                f"{previous.distribution} ({previous.value}) and by {info.distribution} "
                f"({info.value}); uninstall one of them"
            )
        found[ep.name] = info
    return found


def load_provider(name: str) -> ProviderFactory[BaseModel]:
    """Import provider plugin ``name`` and check it against :class:`ProviderFactory`."""
    return cast("ProviderFactory[BaseModel]", load(PROVIDER_GROUP, name))


def load_sink(name: str) -> SinkFactory[BaseModel]:
    """Import sink plugin ``name`` and check it against :class:`SinkFactory`."""
    return cast("SinkFactory[BaseModel]", load(SINK_GROUP, name))


def load(group: str, name: str) -> object:
    """Import plugin ``name`` of ``group`` and check it against the group's Protocol.

    Raises :class:`ConfigError` for an unknown name (listing the known ones) and
    :class:`PluginError` for a plugin that cannot be used.
    """
    available = discover(group)
    info = available.get(name)
    kind = _KIND[group]
    if info is None:
        known = ", ".join(sorted(available)) or "none installed"
        raise ConfigError(f"unknown {kind} type {name!r}; available: {known}")
    where = f"{kind} plugin {name!r} ({info.value}) from distribution {info.distribution}"
    try:
        plugin = importlib.metadata.EntryPoint(info.name, info.value, group).load()
    except Exception as exc:
        raise PluginError(f"{where} cannot be imported: {type(exc).__name__}: {exc}") from exc
    config_model = getattr(plugin, "config_model", None)
    if not (isinstance(config_model, type) and issubclass(config_model, BaseModel)):
        raise PluginError(f"{where} has no config_model (a pydantic model class)")
    protocol = _PROTOCOL[group]
    # The Protocol's own members, so its shape is written once; isinstance() alone
    # would neither name what is missing nor tell a method from an attribute.
    methods = [m for m in _members(protocol) if m != "config_model"]
    missing = [m for m in methods if not callable(getattr(plugin, m, None))]
    if missing or not isinstance(plugin, protocol):
        raise PluginError(f"{where} lacks {', '.join(missing)}")
    return plugin


def _members(protocol: type) -> list[str]:
    return sorted(name for name in vars(protocol) if not name.startswith("_"))


def all_plugins() -> list[PluginInfo]:
    """Every registered provider and sink, sorted for display."""
    return sorted(
        [*discover(PROVIDER_GROUP).values(), *discover(SINK_GROUP).values()],
        key=lambda p: (p.group, p.name),
    )


@dataclass(frozen=True)
class Usability:
    """Whether a plugin can be used here, why not, and what installs what it needs."""

    ok: bool
    reason: str = ""
    install: str = ""


def usability(info: PluginInfo) -> Usability:
    """Tell whether ``info``'s module and SDK are importable, without importing them.

    ``find_spec`` only locates modules (importing at most their parent
    packages), so listing plugins stays fast and never runs a plugin's code.
    """
    needs, extra = _BUILTIN_NEEDS.get((info.group, info.name), ((), ""))
    install = ""
    if extra and info.distribution == "syncd":
        install = f"pip install 'syncd[{extra}]'"
    elif info.extras:
        install = f"pip install '{info.distribution}[{','.join(info.extras)}]'"
    module = info.value.split(":", maxsplit=1)[0].strip()
    for name in (module, *needs):
        if not _importable(name):
            package = name.split(".", maxsplit=1)[0]
            return Usability(False, f"{package} not installed", install)
    return Usability(True, "", install)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
