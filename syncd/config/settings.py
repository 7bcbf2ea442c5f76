"""The configuration: one settings model, validated whole before anything runs.

Sources, highest precedence first: CLI flags, ``SYNCD_*`` environment
variables (``SYNCD_LOG__LEVEL=debug``, ``SYNCD_CONCURRENCY=4``; nested keys use
``__``), the YAML file, defaults. Unknown keys are errors everywhere, including
in each plugin's section, which the plugin's own model validates.

Anything wrong becomes one :class:`~syncd.errors.ConfigError` whose lines each
name the file and line (or the ``SYNCD_`` variable), the key and the offending
value (values under secret-looking keys are never echoed). Reading the file
safely is :mod:`syncd.config.file`; wording the mistakes is :mod:`syncd.config.errors`;
a ``targets:`` entry, with the keys its provider adds, is :mod:`syncd.config.targets`.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict, SettingsError
from pydantic_settings.sources import PydanticBaseSettingsSource

from syncd import plugins
from syncd.config import errors as configerrors
from syncd.config import file as configfile
from syncd.config import fragments
from syncd.config import targets as targetconfig
from syncd.config.durations import parse_duration
from syncd.config.strict import Strict
from syncd.config.targets import NAME, Defaults, TargetSettings
from syncd.core.models import Target
from syncd.errors import ConfigError, PluginError
from syncd.providers.base import ProviderFactory
from syncd.sinks.base import MAX_CONCURRENCY, SinkFactory

DEFAULT_PATH = Path("/etc/syncd/syncd.yaml")

Duration = Annotated[float, BeforeValidator(parse_duration)]


class LogSettings(Strict):
    """``log:``: level and rendering of the structured logs."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] | None = None
    #: Also log botocore's request/response dumps at debug level (see syncd.logs).
    vendor_debug: bool = False


class MetricsSettings(Strict):
    """``metrics:``: the Prometheus and health listener of daemon mode."""

    enabled: bool = True
    listen: str = Field(
        default="127.0.0.1:9464", pattern=r"^(\[[0-9a-fA-F:]+\]|[^:\[\]]+):\d{1,5}$"
    )


class PluginSection(BaseModel):
    """A ``providers.<name>`` or ``sinks.<name>`` section before its plugin validates it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str


class Settings(BaseSettings):
    """The whole configuration file, as the user writes it."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    log: LogSettings = LogSettings()
    #: Names this deployment in the owner recorded on every secret (see README: Ownership).
    instance: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    concurrency: int = Field(default=8, ge=1, le=MAX_CONCURRENCY)
    #: The share of the workers one provider or sink may hold (syncd.core.bulkhead);
    #: unset: half when more than one is configured, else all.
    worker_share: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    #: Processes sharing the targets (syncd.config.sharding); each needs its INDEX.
    shards: int = Field(default=1, ge=1, le=10_000)
    # Not validated: a default in seconds is not the bare number a user would write.
    shutdown_timeout: Duration = Field(default=30.0, validate_default=False)
    metrics: MetricsSettings = MetricsSettings()
    providers: dict[str, PluginSection] = Field(default_factory=dict)
    sinks: dict[str, PluginSection] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    targets: list[TargetSettings] = Field(default_factory=list)


Factory = TypeVar("Factory", ProviderFactory[BaseModel], SinkFactory[BaseModel])


@dataclass(frozen=True)
class Plugin(Generic[Factory]):
    """A configured provider or sink: its factory (checked against its Protocol) and section."""

    name: str
    type: str
    factory: Factory
    config: BaseModel


@dataclass(frozen=True)
class Config:
    """A configuration checked end to end, ready to build providers and sinks from.

    ``targets`` is the one list of targets: ``settings.targets`` is left empty.
    """

    path: Path | None
    settings: Settings
    providers: dict[str, Plugin[ProviderFactory[BaseModel]]]
    sinks: dict[str, Plugin[SinkFactory[BaseModel]]]
    targets: tuple[Target, ...]
    #: Each file (the main file first, then its fragments) and how many targets it defines.
    files: tuple[tuple[str, int], ...] = ()

    @property
    def defined(self) -> int:
        """How many targets the files define, including those a shard did not build."""
        return sum(count for _, count in self.files) if self.files else len(self.targets)


@dataclass(frozen=True)
class Located:
    """Where the config file is, and how that was decided (for "not found" messages)."""

    path: Path
    origin: str


def locate(cli_path: Path | None, environ: Mapping[str, str] | None = None) -> Located:
    """``--config``, else ``$SYNCD_CONFIG``, else ``/etc/syncd/syncd.yaml``."""
    env = os.environ if environ is None else environ
    if cli_path is not None:
        return Located(cli_path, "given by --config")
    if env.get("SYNCD_CONFIG"):
        return Located(
            Path(env["SYNCD_CONFIG"]),
            "from $SYNCD_CONFIG, as --config was not given; pass --config PATH or fix SYNCD_CONFIG",
        )
    return Located(
        DEFAULT_PATH,
        "the default: --config was not given and $SYNCD_CONFIG is not set; "
        "pass --config PATH or set SYNCD_CONFIG",
    )


def default_path(environ: dict[str, str] | None = None) -> Path:
    """``$SYNCD_CONFIG`` if set, else ``/etc/syncd/syncd.yaml``."""
    return locate(None, environ).path


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``SYNCD_`` variables that set nothing (a typo), each with the closest real one or ``""``."""
    return configerrors.unknown_environment(Settings, os.environ if environ is None else environ)


Selector = Callable[[int], Callable[[str], bool] | None]
"""Given the configured shard count (``shards:``), the target names to build (None: all)."""


def load(
    path: Path | None,
    overrides: dict[str, Any] | None = None,
    *,
    data: dict[str, Any] | None = None,
    origin: str | None = None,
    select: Selector | None = None,
) -> Config:
    """Read, merge and validate the configuration, plugins' sections included.

    ``data`` replaces reading ``path`` (the demo passes its embedded config);
    ``origin`` says how ``path`` was chosen, for the message if it is missing.
    A config without targets is refused: an empty file (a ConfigMap that failed
    to render) must not start a daemon that looks healthy and syncs nothing.
    With ``select`` (a shard), the targets of fragments (:mod:`syncd.config.fragments`)
    that it does not accept are only checked for their names, not built; the
    main file's targets are always built.
    """
    with configfile.gc_paused():  # see there: thousands of targets are many live objects
        return _load(path, overrides, data, origin, select)


def _load(
    path: Path | None,
    overrides: dict[str, Any] | None,
    data: dict[str, Any] | None,
    origin: str | None,
    select: Selector | None = None,
) -> Config:
    if data is not None:
        document = configfile.Document(data)
    elif path is not None:
        document = configfile.read(path, origin=origin)
    else:
        document = configfile.Document({})
    source = str(path) if path is not None else "config"
    if path is not None and fragments.KEY in document.data:
        keep = None
        if select is not None:
            head = {k: v for k, v in document.data.items() if k not in fragments.SECTIONS}
            head.pop(fragments.KEY)
            explain = configerrors.Explainer(source, document, os.environ)
            keep = select(_validated(dict(overrides or {}), head, explain).shards)
        document = fragments.assemble(path, document, keep)
    explain = configerrors.Explainer(source, document, os.environ)
    init = dict(overrides or {})
    loaded = _provider_factories(init, document.data)
    target_model = targetconfig.settings_model(targetconfig.target_models(loaded.values()))
    settings = _validated(init, document.data, explain, target_model)
    problems = _references(settings, explain)
    if problems:
        raise ConfigError("\n".join(problems))
    files = (
        document.files
        if isinstance(document, fragments.Assembled)
        else ((source, len(settings.targets)),)
    )
    if not sum(count for _, count in files):
        what = "the config file is empty" if not document.data else "no targets are configured"
        raise ConfigError(f"{source}: {what}; define at least one under 'targets:'")

    def load_provider(kind: str) -> ProviderFactory[BaseModel]:
        return loaded[kind] if kind in loaded else plugins.load_provider(kind)

    providers = {
        name: _plugin(
            explain, "providers", name, section, group=plugins.PROVIDER_GROUP, load=load_provider
        )
        for name, section in settings.providers.items()
    }
    sinks = {
        name: _plugin(
            explain, "sinks", name, section, group=plugins.SINK_GROUP, load=plugins.load_sink
        )
        for name, section in settings.sinks.items()
    }
    builder = targetconfig.Builder(
        explain,
        settings.defaults,
        {name: sink.factory for name, sink in sinks.items()},
        {name: (provider.type, provider.factory) for name, provider in providers.items()},
    )
    targets = tuple(builder.build(i, spec) for i, spec in enumerate(settings.targets))
    for i, target in enumerate(targets):
        builder.check(i, target)
    # The Targets are the config from here on; the validated target models would
    # double the per-target memory of a daemon with thousands of targets.
    settings = settings.model_copy(update={"targets": []})
    return Config(path, settings, providers, sinks, targets, files)


def _provider_factories(
    init: Mapping[str, Any], data: Mapping[str, Any]
) -> dict[str, ProviderFactory[BaseModel]]:
    """The configured provider types that load, by type, read before validating.

    Their target keys (:class:`~syncd.providers.base.TargetKeys`) are part of
    the target model, so they must be known first. A type that does not load is
    left out here and reported where its section is checked.
    """
    loaded = {}
    for kind in _provider_types(init, data):
        try:
            loaded[kind] = plugins.load_provider(kind)
        except (ConfigError, PluginError):
            continue
    return loaded


def _provider_types(init: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    """Every ``type`` under ``providers:`` in the CLI overrides, the environment and the file."""
    env = configerrors.syncd_environment(os.environ)
    sections: list[object] = []
    for providers in (init.get("providers"), data.get("providers"), _json(env, "SYNCD_PROVIDERS")):
        if isinstance(providers, dict):
            sections.extend(providers.values())
    found = {section.get("type") for section in sections if isinstance(section, dict)}
    found.update(
        value
        for name, value in env.items()
        if name.startswith("SYNCD_PROVIDERS__") and name.endswith("__TYPE")
    )
    return sorted(kind for kind in found if isinstance(kind, str))


def _json(env: Mapping[str, str], name: str) -> object:
    try:
        return json.loads(env.get(name) or "null")
    except ValueError:  # reported by the validation that reads it
        return None


def _validated(
    init: dict[str, Any],
    data: dict[str, Any],
    explain: configerrors.Explainer,
    target_model: type[TargetSettings] = TargetSettings,
) -> Settings:
    """:func:`_build_settings`, its errors worded by ``explain``."""
    try:
        return _build_settings(init, data, target_model)
    except SettingsError as exc:
        raise ConfigError(configerrors.describe_settings_error(exc, os.environ)) from None
    except ValidationError as exc:
        raise ConfigError(explain.describe(exc, _settings_model(target_model))) from None


def _build_settings(
    init: dict[str, Any], data: dict[str, Any], target_model: type[TargetSettings]
) -> Settings:
    """Validate with the precedence init (CLI) > environment > ``data`` (the file).

    ``targets`` entries are validated with ``target_model`` (the core keys and
    the configured providers' own).
    """

    def customise(  # noqa: PLR0917 - pydantic-settings' own signature
        cls: type[BaseSettings],
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, InitSettingsSource(settings_cls, data)

    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {"targets": list[target_model]},  # type: ignore[valid-type]
        "targets": Field(default_factory=list),
        "settings_customise_sources": classmethod(customise),
    }
    loader: type[Settings] = type("_Loader", (Settings,), namespace)
    return loader(**init)


@functools.cache
def _settings_model(target_model: type[TargetSettings]) -> type[Settings]:
    """The Settings model whose targets are ``target_model``: what a mistake is worded against."""
    if target_model is TargetSettings:
        return Settings
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {"targets": list[target_model]},  # type: ignore[valid-type]
        "targets": Field(default_factory=list),
    }
    view: type[Settings] = type("Settings", (Settings,), namespace)
    return view


def _references(settings: Settings, explain: configerrors.Explainer) -> list[str]:
    """Target names are unique; providers and sinks exist; no secret is written twice."""
    problems = []
    names: set[str] = set()
    written: dict[tuple[str, str], str] = {}
    for i, target in enumerate(settings.targets):
        where = ("targets", i)
        if target.name in names:
            problems.append(explain.at((*where, "name"), f"duplicate target name {target.name!r}"))
        names.add(target.name)
        if target.provider not in settings.providers:
            problems.append(
                explain.at(
                    (*where, "provider"),
                    _undefined(target.provider, "providers", settings.providers),
                )
            )
        for j, binding in enumerate(target.sinks):
            if binding.sink not in settings.sinks:
                problems.append(
                    explain.at(
                        (*where, "sinks", j, "sink"),
                        _undefined(binding.sink, "sinks", settings.sinks),
                    )
                )
            key = (binding.sink, binding.secret)
            if key in written:
                problems.append(
                    explain.at(
                        (*where, "sinks", j, "secret"),
                        f"{binding.secret!r} in sink {binding.sink!r} is already written by "
                        f"target {written[key]!r}",
                    )
                )
            written[key] = target.name
    return problems


def _undefined(name: str, section: str, defined: Mapping[str, object]) -> str:
    listed = ", ".join(sorted(defined)) or "none"
    hint = configerrors.suggest(name, defined)
    return f"{name!r} is not defined under {section} (defined: {listed}){hint}"


def _plugin(
    explain: configerrors.Explainer,
    group_key: str,
    name: str,
    section: PluginSection,
    *,
    group: str,
    load: Callable[[str], Factory],
) -> Plugin[Factory]:
    where: tuple[str, ...] = (group_key, name)
    if not re.fullmatch(NAME, name):
        raise ConfigError(explain.at(where, "invalid name; use letters, digits, '.', '_', '-'"))
    try:
        factory = load(section.type)
    except ConfigError as exc:
        hint = configerrors.suggest(section.type, plugins.discover(group))
        raise ConfigError(explain.at((*where, "type"), f"{exc}{hint}")) from None
    raw = section.model_dump()
    try:
        config = factory.config_model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(explain.describe(exc, factory.config_model, where)) from None
    return Plugin(name, section.type, factory, config)
