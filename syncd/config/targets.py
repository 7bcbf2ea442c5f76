"""A target's config: the models of a ``targets:`` entry, and turning one into a Target.

The keys every target has are :class:`TargetSettings`'. A provider may add
keys of its own (Neon: ``database``, ``role``) by declaring their model
(:class:`~syncd.providers.base.TargetKeys`): :func:`settings_model` makes one
target model of the core keys and those of every configured provider, so a
target is validated, and its mistakes worded, in one pass as before, and
:func:`build` hands each provider's keys to it as :attr:`Target.options
<syncd.core.models.Target.options>`. What a provider refuses beyond its
model's fields (a key it needs, say) it says through
:class:`~syncd.providers.base.TargetChecker`, and the config reports it at
the key's line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from syncd import plugins
from syncd.config import errors as configerrors
from syncd.config.durations import DEFAULT_JITTER, Interval, Jitter, RotationPeriod
from syncd.config.strict import Strict
from syncd.core.formats import ENV_VAR_PATTERN, FIELDS, FORMATS, KEYED_FORMATS, PRESETS
from syncd.core.models import Rotation, RotationMode, SinkBinding, Target
from syncd.errors import ConfigError, PluginError
from syncd.providers.base import ConnectsAs, ProviderFactory, Rotator, TargetChecker, TargetKeys
from syncd.sinks.base import SinkFactory

Format = Literal["json", "uri", "env"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# A project id is one path segment of the API URL: no '/', no '..', no '%'.
PROJECT = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
#: A Postgres database or role name: printable ASCII identifier-ish, within NAMEDATALEN - 1.
PG_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,62}$"
assert set(FORMATS) == {"json", "uri", "env"}  # noqa: S101 - keeps Format and formats.py in step


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
    alternate_role: str | None = Field(default=None, pattern=PG_NAME)

    @model_validator(mode="after")
    def _complete(self) -> RotationSettings:
        if self.mode != "refresh" and self.every is None:
            raise ValueError(f"mode {self.mode} needs 'every' (how often to rotate, e.g. 30d)")
        if self.alternate_role is not None and self.mode != "alternate":
            raise ValueError("alternate_role is only used with mode alternate")
        return self


class TargetSettings(Strict):
    """One entry of ``targets:``: the keys every target has (a provider may add its own)."""

    name: str = Field(pattern=NAME)
    provider: str
    project: str = Field(pattern=PROJECT)
    branch: str = Field(default="main", min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")
    pooled: bool = False
    interval: Interval | None = None
    jitter: Jitter | None = None
    sinks: list[BindingSettings] = Field(min_length=1)
    rotation: RotationSettings | None = None




@cache
def settings_model(models: tuple[type[BaseModel], ...]) -> type[TargetSettings]:
    """The model of a ``targets:`` entry: the core keys and the keys of ``models``.

    ``models`` are the configured providers' target models; a key two of them
    declare is validated by the first. Cached, so a reload builds no new class.
    """
    if not models:
        return TargetSettings
    namespace = {"__module__": __name__, "__doc__": TargetSettings.__doc__}
    combined: type[TargetSettings] = type("TargetSettings", (TargetSettings, *models), namespace)
    return combined


def target_models(factories: Iterable[ProviderFactory[BaseModel]]) -> tuple[type[BaseModel], ...]:
    """The target models of those ``factories`` that declare one, each once, in order."""
    found: dict[type[BaseModel], None] = {}
    for factory in factories:
        if isinstance(factory, TargetKeys):
            found[factory.target_model] = None
    return tuple(found)


class Builder:
    """Turns validated ``targets:`` entries into Targets, and lets their providers refuse them.

    ``providers`` maps each configured provider's name to its type and factory.
    What each factory offers (its own keys, a check, rotation) is asked once
    here, not once a target: a config may hold thousands.
    """

    def __init__(
        self,
        explain: configerrors.Explainer,
        defaults: Defaults,
        sinks: Mapping[str, SinkFactory[BaseModel]],
        providers: Mapping[str, tuple[str, ProviderFactory[BaseModel]]],
    ) -> None:
        self._explain = explain
        self._defaults = defaults
        self._sinks = sinks
        self._types = {name: kind for name, (kind, _) in providers.items()}
        self._keys = {
            name: f.target_model if isinstance(f, TargetKeys) else None
            for name, (_, f) in providers.items()
        }
        self._checkers = {
            name: f for name, (_, f) in providers.items() if isinstance(f, TargetChecker)
        }
        self._rotators = {name for name, (_, f) in providers.items() if isinstance(f, Rotator)}
        # Targets naming the same database and role share one options object.
        self._options: dict[tuple[type[BaseModel], tuple[tuple[str, Any], ...]], BaseModel] = {}

    def build(self, index: int, spec: TargetSettings) -> Target:
        """The Target of entry ``index``; ConfigError for a secret name its sink refuses."""
        bindings = []
        for j, b in enumerate(spec.sinks):
            try:
                self._sinks[b.sink].validate_secret_name(b.secret)
            except ValueError as exc:
                raise ConfigError(
                    self._explain.at(
                        ("targets", index, "sinks", j, "secret"),
                        f"{b.secret!r} is invalid for sink {b.sink!r}: {exc}",
                    )
                ) from None
            fmt = b.format or self._defaults.format
            keys = tuple(b.keys.items()) if b.keys is not None else ()
            if (keys or b.preset) and fmt not in KEYED_FORMATS:
                raise ConfigError(
                    self._explain.at(
                        ("targets", index, "sinks", j, "preset" if b.preset else "keys"),
                        f"needs format env or json, and defaults.format is {fmt}; set format "
                        "on this binding",
                    )
                )
            bindings.append(
                SinkBinding(b.sink, b.secret, fmt, b.env_var, b.adopt, keys=keys, preset=b.preset)
            )
        options = self._provider_options(index, spec)
        return Target(
            name=spec.name,
            provider=spec.provider,
            project=spec.project,
            branch=spec.branch,
            pooled=spec.pooled,
            interval=spec.interval or self._defaults.interval,
            jitter=spec.jitter or self._defaults.jitter,
            sinks=tuple(bindings),
            options=options,
            rotation=_rotation(spec, options),
        )

    def check(self, index: int, target: Target) -> None:
        """Let the provider refuse ``target``, then check its rotation (ConfigError)."""
        checker = self._checkers.get(target.provider)
        problem = checker.check_target(target) if checker is not None else None
        if problem is not None:
            raise ConfigError(self._explain.at(("targets", index, problem.key), problem.message))
        self._check_rotation(index, target)

    def _provider_options(self, index: int, spec: TargetSettings) -> BaseModel | None:
        model = self._keys.get(spec.provider)
        given = spec.model_fields_set
        own = model.model_fields if model is not None else {}
        for key in sorted(given - TargetSettings.model_fields.keys() - own.keys()):
            # Another configured provider's key: the combined model let it through.
            kind = self._types[spec.provider]
            valid = ", ".join(sorted({*TargetSettings.model_fields, *own}))
            raise ConfigError(
                self._explain.at(
                    ("targets", index, key),
                    f"unknown key {key!r} for a {kind} target; valid keys: {valid}",
                )
            )
        if model is None:
            return None
        values = tuple((key, getattr(spec, key)) for key in model.model_fields if key in given)
        known = self._options.get((model, values))
        if known is not None:
            return known
        try:
            options = model.model_validate(dict(values))
        except ValidationError as exc:
            raise ConfigError(self._explain.describe(exc, model, ("targets", index))) from None
        self._options[(model, values)] = options
        return options

    def _check_rotation(self, index: int, target: Target) -> None:
        """Reset and alternate need a provider that can reset passwords, and two distinct roles."""
        rotation = target.rotation
        if rotation is None or not rotation.rotates:
            return
        if target.provider not in self._rotators:
            raise ConfigError(
                self._explain.at(
                    ("targets", index, "rotation", "mode"),
                    f"mode {rotation.mode} needs a provider that can reset passwords"
                    f"{_rotating_types()}; provider {target.provider!r} is type "
                    f"{self._types[target.provider]!r}",
                )
            )
        if not rotation.role:
            message = f"required for mode {rotation.mode}"
            raise ConfigError(self._explain.at(("targets", index, "role"), message))
        if rotation.mode is RotationMode.ALTERNATE and rotation.alternate_role == rotation.role:
            raise ConfigError(
                self._explain.at(
                    ("targets", index, "rotation", "alternate_role"),
                    "must differ from role (alternate mode switches between two roles)",
                )
            )


def _rotation(spec: TargetSettings, options: BaseModel | None) -> Rotation | None:
    """The target's rotation, with alternate mode's second role defaulting to ``<role>_b``."""
    settings = spec.rotation
    if settings is None or settings.mode == "refresh":
        return None if settings is None else Rotation(RotationMode.REFRESH)
    assert settings.every is not None  # noqa: S101 - RotationSettings requires it
    role = options.role if isinstance(options, ConnectsAs) else None
    second = None
    if settings.mode == "alternate":
        second = settings.alternate_role or (f"{role}_b" if role else None)
    return Rotation(RotationMode(settings.mode), settings.every, second, role)


def _rotating_types() -> str:
    """`` (type neon)``: the installed provider types that can reset passwords, if any.

    Only a refused config asks, so loading every installed provider costs nothing
    in the common case; one that does not load is left out.
    """
    found = []
    for name in sorted(plugins.discover(plugins.PROVIDER_GROUP)):
        try:
            factory = plugins.load_provider(name)
        except (ConfigError, PluginError):
            continue
        if isinstance(factory, Rotator):
            found.append(name)
    return f" (type {' or '.join(found)})" if found else ""
