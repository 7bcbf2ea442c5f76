"""The configuration: one settings model, validated whole before anything runs.

Sources, highest precedence first: CLI flags, ``SYNCD_*`` environment
variables (``SYNCD_LOG__LEVEL=debug``, ``SYNCD_CONCURRENCY=4``; nested keys use
``__``), the YAML file, defaults. Unknown keys are errors everywhere, including
in each plugin's section, which the plugin's own model validates.

Anything wrong becomes one :class:`~syncd.errors.ConfigError` whose lines each
name the file, the key and the offending value (values under secret-looking
keys are never echoed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict
from pydantic_settings.sources import PydanticBaseSettingsSource

from syncd import plugins
from syncd.durations import parse_duration, parse_jitter
from syncd.errors import ConfigError
from syncd.formats import ENV_VAR_PATTERN, FORMATS
from syncd.models import SinkBinding, Target
from syncd.redaction import SENSITIVE_KEY

DEFAULT_PATH = Path("/etc/syncd/syncd.yaml")
MIN_INTERVAL = 10.0

Duration = Annotated[float, BeforeValidator(parse_duration)]
Format = Literal["json", "uri", "env"]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# A project id is one path segment of the API URL: no '/', no '..', no '%'.
_PROJECT = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
assert set(FORMATS) == {"json", "uri", "env"}  # noqa: S101 - keeps Format and formats.py in step


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSettings(_Strict):
    """``log:``: level and rendering of the structured logs."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] | None = None
    #: Also log botocore's request/response dumps at debug level (see syncd.logging).
    vendor_debug: bool = False


class MetricsSettings(_Strict):
    """``metrics:``: the Prometheus and health listener of daemon mode."""

    enabled: bool = True
    listen: str = Field(
        default="127.0.0.1:9464", pattern=r"^(\[[0-9a-fA-F:]+\]|[^:\[\]]+):\d{1,5}$"
    )


class Defaults(_Strict):
    """``defaults:``: values each target inherits unless it sets its own."""

    format: Format = "json"
    interval: Duration = 900.0
    jitter: str = "10%"

    @field_validator("interval")
    @classmethod
    def _min_interval(cls, value: float) -> float:
        if value < MIN_INTERVAL:
            raise ValueError(f"interval must be at least {MIN_INTERVAL:g}s")
        return value

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, value: str) -> str:
        parse_jitter(value)
        return value


class BindingSettings(_Strict):
    """One entry of a target's ``sinks:`` list."""

    sink: str
    secret: str = Field(min_length=1, max_length=512)
    format: Format | None = None
    env_var: str = Field(default="DATABASE_URL", pattern=f"^{ENV_VAR_PATTERN.pattern}$")
    adopt: bool = False


class TargetSettings(_Strict):
    """One entry of ``targets:``."""

    name: str = Field(pattern=_NAME)
    provider: str
    project: str = Field(pattern=_PROJECT)
    branch: str = Field(default="main", min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")
    pooled: bool = False
    interval: Duration | None = None
    jitter: str | None = None
    sinks: list[BindingSettings] = Field(min_length=1)

    @field_validator("interval")
    @classmethod
    def _min_interval(cls, value: float | None) -> float | None:
        if value is not None and value < MIN_INTERVAL:
            raise ValueError(f"interval must be at least {MIN_INTERVAL:g}s")
        return value

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, value: str | None) -> str | None:
        if value is not None:
            parse_jitter(value)
        return value


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
    concurrency: int = Field(default=8, ge=1, le=256)
    shutdown_timeout: Duration = 30.0
    metrics: MetricsSettings = MetricsSettings()
    providers: dict[str, PluginSection] = Field(default_factory=dict)
    sinks: dict[str, PluginSection] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    targets: list[TargetSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        names: set[str] = set()
        written: dict[tuple[str, str], str] = {}
        for i, target in enumerate(self.targets):
            where = f"targets[{i}] ({target.name})"
            if target.name in names:
                raise ValueError(f"{where}: duplicate target name {target.name!r}")
            names.add(target.name)
            if target.provider not in self.providers:
                raise ValueError(
                    f"{where}.provider: {target.provider!r} is not defined under providers "
                    f"(defined: {', '.join(sorted(self.providers)) or 'none'})"
                )
            for j, binding in enumerate(target.sinks):
                if binding.sink not in self.sinks:
                    raise ValueError(
                        f"{where}.sinks[{j}].sink: {binding.sink!r} is not defined under sinks "
                        f"(defined: {', '.join(sorted(self.sinks)) or 'none'})"
                    )
                key = (binding.sink, binding.secret)
                if key in written:
                    raise ValueError(
                        f"{where}.sinks[{j}].secret: {binding.secret!r} in sink {binding.sink!r} "
                        f"is already written by target {written[key]!r}"
                    )
                written[key] = target.name
        return self


@dataclass(frozen=True)
class Plugin:
    """A configured provider or sink: its factory and its validated section."""

    name: str
    type: str
    factory: Any
    config: BaseModel


@dataclass(frozen=True)
class Config:
    """A configuration checked end to end, ready to build providers and sinks from."""

    path: Path | None
    settings: Settings
    providers: dict[str, Plugin]
    sinks: dict[str, Plugin]
    targets: tuple[Target, ...]

    jitters: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def jitter_for(self, target: str) -> tuple[float, bool]:
        """The jitter of ``target`` as ``(amount, relative)``."""
        return self.jitters.get(target) or parse_jitter(self.settings.defaults.jitter)


def default_path(environ: dict[str, str] | None = None) -> Path:
    """``$SYNCD_CONFIG`` if set, else ``/etc/syncd/syncd.yaml``."""
    env = os.environ if environ is None else environ
    return Path(env["SYNCD_CONFIG"]) if env.get("SYNCD_CONFIG") else DEFAULT_PATH


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse the YAML file; every problem is a one-line :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML at {where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, not {type(data).__name__}"
        )
    return data


def load(
    path: Path | None,
    overrides: dict[str, Any] | None = None,
    *,
    data: dict[str, Any] | None = None,
) -> Config:
    """Read, merge and validate the configuration, plugins' sections included.

    ``data`` replaces reading ``path`` (the demo passes its embedded config).
    """
    if data is None:
        data = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "config"
    try:
        settings = _build_settings(dict(overrides or {}), data)
    except ValidationError as exc:
        raise ConfigError(_describe(source, exc)) from None
    providers = {
        name: _plugin(source, "providers", name, section, plugins.PROVIDER_GROUP)
        for name, section in settings.providers.items()
    }
    sinks = {
        name: _plugin(source, "sinks", name, section, plugins.SINK_GROUP)
        for name, section in settings.sinks.items()
    }
    targets = tuple(
        _target(source, settings, i, spec, sinks) for i, spec in enumerate(settings.targets)
    )
    default_jitter = settings.defaults.jitter
    jitters = {t.name: parse_jitter(t.jitter or default_jitter) for t in settings.targets}
    return Config(path, settings, providers, sinks, targets, jitters)


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


def _plugin(source: str, group_key: str, name: str, section: PluginSection, group: str) -> Plugin:
    if not re.fullmatch(_NAME, name):
        raise ConfigError(
            f"{source}: {group_key}.{name}: invalid name; use letters, digits, '.', '_', '-'"
        )
    try:
        factory = plugins.load(group, section.type)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {group_key}.{name}.type: {exc}") from None
    raw = section.model_dump()
    try:
        config = factory.config_model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(source, exc, prefix=f"{group_key}.{name}")) from None
    return Plugin(name, section.type, factory, config)


def _target(
    source: str, settings: Settings, index: int, spec: TargetSettings, sinks: dict[str, Plugin]
) -> Target:
    bindings = []
    for j, b in enumerate(spec.sinks):
        try:
            sinks[b.sink].factory.validate_secret_name(b.secret)
        except ValueError as exc:
            raise ConfigError(
                f"{source}: targets[{index}] ({spec.name}).sinks[{j}].secret: "
                f"{b.secret!r} is invalid for sink {b.sink!r}: {exc}"
            ) from None
        fmt = b.format or settings.defaults.format
        bindings.append(SinkBinding(b.sink, b.secret, fmt, b.env_var, b.adopt))
    return Target(
        name=spec.name,
        provider=spec.provider,
        project=spec.project,
        branch=spec.branch,
        pooled=spec.pooled,
        interval=spec.interval or settings.defaults.interval,
        sinks=tuple(bindings),
    )


def _describe(source: str, exc: ValidationError, prefix: str = "") -> str:
    lines = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = str(error["msg"]).removeprefix("Value error, ")
        shown = ""
        if error["type"] not in ("missing", "model_type") and "input" in error:
            value = error["input"]
            secret = any(SENSITIVE_KEY.search(str(part)) for part in error["loc"])
            if not isinstance(value, dict | list) and not secret:
                shown = f" (got {value!r:.80})"
        if error["type"] == "extra_forbidden":
            message = "unknown key"
            shown = ""
        lines.append(f"{source}: {loc}: {message}{shown}" if loc else f"{source}: {message}{shown}")
    return "\n".join(lines)
