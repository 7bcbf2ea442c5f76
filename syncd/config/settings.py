"""The configuration: one settings model, validated whole before anything runs.

Sources, highest precedence first: CLI flags, ``SYNCD_*`` environment
variables (``SYNCD_LOG__LEVEL=debug``, ``SYNCD_CONCURRENCY=4``; nested keys use
``__``), the YAML file, defaults. Unknown keys are errors everywhere, including
in each plugin's section, which the plugin's own model validates.

Anything wrong becomes one :class:`~syncd.errors.ConfigError` whose lines each
name the file and line (or the ``SYNCD_`` variable), the key and the offending
value (values under secret-looking keys are never echoed). Reading the file
safely is :mod:`syncd.config.file`; wording the mistakes is :mod:`syncd.config.errors`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict, SettingsError
from pydantic_settings.sources import PydanticBaseSettingsSource

from syncd import plugins
from syncd.config import errors as configerrors
from syncd.config import file as configfile
from syncd.config import fragments
from syncd.config.durations import DEFAULT_JITTER, Interval, Jitter, RotationPeriod, parse_duration
from syncd.config.strict import Strict
from syncd.core.formats import ENV_VAR_PATTERN, FIELDS, FORMATS, KEYED_FORMATS, PRESETS
from syncd.core.models import Rotation, RotationMode, SinkBinding, Target
from syncd.errors import ConfigError
from syncd.providers.base import ProviderFactory, Rotator
from syncd.sinks.base import MAX_CONCURRENCY, SinkFactory

DEFAULT_PATH = Path("/etc/syncd/syncd.yaml")

Duration = Annotated[float, BeforeValidator(parse_duration)]
Format = Literal["json", "uri", "env"]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# A project id is one path segment of the API URL: no '/', no '..', no '%'.
_PROJECT = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
# A Postgres database or role name: printable ASCII identifier-ish, within NAMEDATALEN - 1.
_PG_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,62}$"
assert set(FORMATS) == {"json", "uri", "env"}  # noqa: S101 - keeps Format and formats.py in step


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


class Defaults(Strict):
    """``defaults:``: values each target inherits unless it sets its own."""

    format: Format = "json"
    interval: Interval = 900.0
    jitter: Jitter = DEFAULT_JITTER


def _one_of(
    kind: str, choices: tuple[str, ...] | list[str], *, echo: bool = True
) -> Callable[[str], str]:
    """A validator accepting one of ``choices``; anything else is refused with did-you-mean.

    Without ``echo`` the message never repeats the value: a ``keys`` value
    under ``PGPASSWORD`` may be a password pasted by mistake.
    """

    def check(value: str) -> str:
        if value not in choices:
            message = f"unknown {kind}; use one of {', '.join(choices)}"
            message += configerrors.suggest(value, choices)
            if not echo:
                raise PydanticCustomError(configerrors.NOT_ECHOED, message)
            raise ValueError(message)
        return value

    return check


KeyField = Annotated[str, AfterValidator(_one_of("field", FIELDS, echo=False))]
Preset = Annotated[str, AfterValidator(_one_of("preset", sorted(PRESETS)))]


class BindingSettings(Strict):
    """One entry of a target's ``sinks:`` list."""

    sink: str
    secret: str = Field(min_length=1, max_length=512)
    format: Format | None = None
    env_var: str = Field(default="DATABASE_URL", pattern=f"^{ENV_VAR_PATTERN.pattern}$")
    adopt: bool = False
    #: NAME -> field, the variables (env) or keys (json) written instead of one URI.
    keys: dict[str, KeyField] | None = None
    #: A named set of keys (syncd.core.formats.PRESETS).
    preset: Preset | None = None

    @field_validator("keys")
    @classmethod
    def _names(cls, keys: dict[str, str] | None) -> dict[str, str] | None:
        if keys is None:
            return None
        if not keys:
            raise ValueError("is empty; map at least one NAME to a field")
        for name in keys:
            if not ENV_VAR_PATTERN.fullmatch(name):
                raise ValueError(
                    f"{name[:64]!r} is not a variable name (letters, digits and '_', "
                    "not starting with a digit)"
                )
        return keys

    @model_validator(mode="after")
    def _keyed(self) -> BindingSettings:
        keyed = self.keys is not None or self.preset is not None
        if self.keys is not None and self.preset is not None:
            raise ValueError("preset and keys exclude each other; use one")
        if keyed and "env_var" in self.model_fields_set:
            raise ValueError(
                "env_var names the one variable of a plain env binding; with keys or a "
                "preset the names come from there"
            )
        if keyed and self.format is not None and self.format not in KEYED_FORMATS:
            raise ValueError(
                f"format {self.format} holds one URI; keys and preset need format env or json"
            )
        return self


class RotationSettings(Strict):
    """A target's ``rotation:`` (see README: Rotation)."""

    mode: Literal["refresh", "reset", "alternate"] = "refresh"
    every: RotationPeriod | None = None
    alternate_role: str | None = Field(default=None, pattern=_PG_NAME)

    @model_validator(mode="after")
    def _complete(self) -> RotationSettings:
        if self.mode != "refresh" and self.every is None:
            raise ValueError(f"mode {self.mode} needs 'every' (how often to rotate, e.g. 30d)")
        if self.alternate_role is not None and self.mode != "alternate":
            raise ValueError("alternate_role is only used with mode alternate")
        return self


class TargetSettings(Strict):
    """One entry of ``targets:``."""

    name: str = Field(pattern=_NAME)
    provider: str
    project: str = Field(pattern=_PROJECT)
    branch: str = Field(default="main", min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")
    pooled: bool = False
    interval: Interval | None = None
    jitter: Jitter | None = None
    sinks: list[BindingSettings] = Field(min_length=1)
    database: str | None = Field(default=None, pattern=_PG_NAME)
    role: str | None = Field(default=None, pattern=_PG_NAME)
    rotation: RotationSettings | None = None


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
    settings = _validated(dict(overrides or {}), document.data, explain)
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
    providers = {
        name: _plugin(
            explain,
            "providers",
            name,
            section,
            group=plugins.PROVIDER_GROUP,
            load=plugins.load_provider,
        )
        for name, section in settings.providers.items()
    }
    sinks = {
        name: _plugin(
            explain, "sinks", name, section, group=plugins.SINK_GROUP, load=plugins.load_sink
        )
        for name, section in settings.sinks.items()
    }
    targets = tuple(
        _target(explain, settings, i, spec, sinks) for i, spec in enumerate(settings.targets)
    )
    for i, target in enumerate(targets):
        _check_target(explain, i, target, providers[target.provider])
        _check_rotation(explain, i, target, providers[target.provider])
    # The Targets are the config from here on; the validated target models would
    # double the per-target memory of a daemon with thousands of targets.
    settings = settings.model_copy(update={"targets": []})
    return Config(path, settings, providers, sinks, targets, files)


def _validated(
    init: dict[str, Any], data: dict[str, Any], explain: configerrors.Explainer
) -> Settings:
    """:func:`_build_settings`, its errors worded by ``explain``."""
    try:
        return _build_settings(init, data)
    except SettingsError as exc:
        raise ConfigError(configerrors.describe_settings_error(exc, os.environ)) from None
    except ValidationError as exc:
        raise ConfigError(explain.describe(exc, Settings)) from None


def _build_settings(init: dict[str, Any], data: dict[str, Any]) -> Settings:
    """Validate with the precedence init (CLI) > environment > ``data`` (the file)."""

    class _Loader(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, InitSettingsSource(settings_cls, data)

    return _Loader(**init)


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
    if not re.fullmatch(_NAME, name):
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


def _target(
    explain: configerrors.Explainer,
    settings: Settings,
    index: int,
    spec: TargetSettings,
    sinks: dict[str, Plugin[SinkFactory[BaseModel]]],
) -> Target:
    bindings = []
    for j, b in enumerate(spec.sinks):
        try:
            sinks[b.sink].factory.validate_secret_name(b.secret)
        except ValueError as exc:
            raise ConfigError(
                explain.at(
                    ("targets", index, "sinks", j, "secret"),
                    f"{b.secret!r} is invalid for sink {b.sink!r}: {exc}",
                )
            ) from None
        fmt = b.format or settings.defaults.format
        keys = tuple(b.keys.items()) if b.keys is not None else ()
        if (keys or b.preset) and fmt not in KEYED_FORMATS:
            raise ConfigError(
                explain.at(
                    ("targets", index, "sinks", j, "preset" if b.preset else "keys"),
                    f"needs format env or json, and defaults.format is {fmt}; set format "
                    "on this binding",
                )
            )
        bindings.append(
            SinkBinding(b.sink, b.secret, fmt, b.env_var, b.adopt, keys=keys, preset=b.preset)
        )
    return Target(
        name=spec.name,
        provider=spec.provider,
        project=spec.project,
        branch=spec.branch,
        pooled=spec.pooled,
        interval=spec.interval or settings.defaults.interval,
        jitter=spec.jitter or settings.defaults.jitter,
        sinks=tuple(bindings),
        database=spec.database,
        role=spec.role,
        rotation=_rotation(spec),
    )


def _rotation(spec: TargetSettings) -> Rotation | None:
    """The target's rotation, with alternate mode's second role defaulting to ``<role>_b``."""
    settings = spec.rotation
    if settings is None or settings.mode == "refresh":
        return None if settings is None else Rotation(RotationMode.REFRESH)
    assert settings.every is not None  # noqa: S101 - RotationSettings requires it
    second = None
    if settings.mode == "alternate":
        second = settings.alternate_role or (f"{spec.role}_b" if spec.role else None)
    return Rotation(RotationMode(settings.mode), settings.every, second)


def _check_rotation(
    explain: configerrors.Explainer,
    index: int,
    target: Target,
    provider: Plugin[ProviderFactory[BaseModel]],
) -> None:
    """Reset and alternate need a provider that can reset passwords, and two distinct roles."""
    rotation = target.rotation
    if rotation is None or not rotation.rotates:
        return
    where = ("targets", index, "rotation", "mode")
    if not isinstance(provider.factory, Rotator):
        raise ConfigError(
            explain.at(
                where,
                f"mode {rotation.mode} needs a provider that can reset passwords (type neon); "
                f"provider {provider.name!r} is type {provider.type!r}",
            )
        )
    if not target.role:
        message = f"required for mode {rotation.mode}"
        raise ConfigError(explain.at(("targets", index, "role"), message))
    if rotation.mode is RotationMode.ALTERNATE and rotation.alternate_role == target.role:
        raise ConfigError(
            explain.at(
                ("targets", index, "rotation", "alternate_role"),
                "must differ from role (alternate mode switches between two roles)",
            )
        )


def _check_target(
    explain: configerrors.Explainer,
    index: int,
    target: Target,
    provider: Plugin[ProviderFactory[BaseModel]],
) -> None:
    """Let the provider refuse a target it cannot serve (``check_target(target)``, optional)."""
    check = getattr(provider.factory, "check_target", None)
    if check is None:
        return
    try:
        check(target)
    except ValueError as exc:
        field_name, _, message = str(exc).partition(": ")
        raise ConfigError(explain.at(("targets", index, field_name), message)) from None
