"""Config mistakes as one line each, said where the operator can fix them.

A pydantic error location (``("targets", 0, "interval")``) becomes either
``<file>: line 12: targets.0.interval: ...`` or, when the value came from the
environment, ``SYNCD_CONCURRENCY: ...``. Unknown keys and names get the closest
valid one ("did you mean 'interval'?"); a key that is valid one level up or
down, and a section that holds nothing or the wrong shape, are reported as the
indentation mistakes they almost always are. Internal model names never show.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from syncd.config.file import Document, Location
from syncd.redaction import SENSITIVE_KEY

ENV_PREFIX = "SYNCD_"
ENV_CONFIG = "SYNCD_CONFIG"  # the config path, read by the CLI; not a setting

_MAPPING_ERRORS = {"model_type", "dict_type", "model_attributes_type"}
#: The error type of a validator whose message must not be followed by the value.
NOT_ECHOED = "value_not_echoed"
_CHECK = " (check indentation)"


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def syncd_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``SYNCD_`` variables that can be settings, by upper-case name."""
    return {
        name.upper(): value
        for name, value in environ.items()
        if name.upper().startswith(ENV_PREFIX) and name.upper() != ENV_CONFIG
    }


def unknown_environment(
    settings_model: type[BaseModel], environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``SYNCD_`` variables that match no top-level setting, with a hint for each.

    pydantic-settings only looks up the variables of known settings, so a typo
    (``SYNCD_CONCURENCY``) would otherwise be ignored without a word.
    """
    fields = {name.upper(): name for name in settings_model.model_fields}
    found = []
    for name in sorted(syncd_environment(environ)):
        head = name.removeprefix(ENV_PREFIX).split("__", 1)[0]
        if head not in fields:
            close = difflib.get_close_matches(head, list(fields), n=1, cutoff=0.6)
            found.append((name, f"{ENV_PREFIX}{close[0]}" if close else ""))
    return found


def describe_settings_error(exc: SettingsError, environ: Mapping[str, str]) -> str:
    """A ``SYNCD_`` variable that is not valid JSON, named, without a traceback."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1).upper() if match else ""
    env = syncd_environment(environ)
    for name, value in sorted(env.items()):
        own = f"{ENV_PREFIX}{field}"
        if field and name != own and not name.startswith(f"{own}__"):
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError as error:
            where = f"line {error.lineno} " if error.lineno > 1 else ""
            return f"{name}: not valid JSON ({error.msg} at {where}column {error.colno})"
    name = f"{ENV_PREFIX}{field}" if field else "a SYNCD_ variable"
    return f"{name}: cannot be read: {exc}"


class Explainer:
    """Turns validation errors of one config into lines naming file and line, or variable."""

    def __init__(self, source: str, document: Document, environ: Mapping[str, str]) -> None:
        self.source = source
        self.document = document
        self.env = syncd_environment(environ)

    def at(self, location: Location, message: str) -> str:
        """``message`` about ``location``, prefixed by the variable or the file and line."""
        variable = self._variable(location)
        if variable is not None:
            name, rest = variable
            return f"{name}: {_dotted(rest)}: {message}" if rest else f"{name}: {message}"
        source, line, shown = self.document.where(location, self.source)
        where = f"{source}: line {line}" if line is not None else source
        return f"{where}: {_dotted(shown)}: {message}" if shown else f"{where}: {message}"

    def describe(
        self, exc: ValidationError, model: type[BaseModel], prefix: Location = ()
    ) -> str:
        """One line per error of ``exc``, raised validating ``model`` found at ``prefix``."""
        lines = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            location = (*prefix, *loc)
            lines.append(self.at(location, self._message(error, model, loc, location)))
        return "\n".join(lines)

    def _message(
        self, error: Any, model: type[BaseModel], loc: Location, location: Location
    ) -> str:
        kind = error["type"]
        value = error.get("input")
        from_file = self._variable(location) is None
        secret = any(SENSITIVE_KEY.search(str(part)) for part in location)
        if kind == "extra_forbidden":
            return _unknown_key(str(loc[-1]), model, loc[:-1])
        if kind in _MAPPING_ERRORS:
            return _wrong_shape("a mapping of keys", value, from_file, secret)
        if kind == "list_type":
            return _wrong_shape("a list of '- ' items", value, from_file, secret)
        message = str(error["msg"]).removeprefix("Value error, ")
        quiet = kind in ("missing", NOT_ECHOED)
        if not quiet and not isinstance(value, dict | list) and not secret:
            message += f" (got {value!r:.80})"
        return message

    def _variable(self, location: Location) -> tuple[str, Location] | None:
        """The ``SYNCD_`` variable ``location``'s value came from, and the rest of the path.

        The environment beats the file, so a variable named after ``location`` or
        one of its parents, whose JSON holds the rest of the path (but perhaps not
        its last key: that may be the missing one), is the source.
        """
        for end in range(len(location), 0, -1):
            name = ENV_PREFIX + "__".join(str(part) for part in location[:end]).upper()
            if name not in self.env:
                continue
            rest = location[end:]
            if not rest or _holds(self.env[name], rest[:-1]):
                return name, rest
        return None


def _holds(text: str, path: Location) -> bool:
    try:
        value: Any = json.loads(text)
    except ValueError:
        return False
    for part in path:
        is_key = isinstance(value, dict) and part in value
        is_index = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (is_key or is_index):
            return False
        value = value[part]
    return True


def _wrong_shape(expected: str, value: object, from_file: bool, secret: bool) -> str:
    hint = _CHECK if from_file else ""
    if value is None:
        return f"nothing is set here; expected {expected}{hint}"
    return f"expected {expected}, not {_kind(value, secret)}{hint}"


def _kind(value: object, secret: bool) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret:
        return f"a {type(value).__name__} value"
    if isinstance(value, str):
        return f"the text {value!r:.40}"
    return f"the value {value!r:.40}"


def _unknown_key(key: str, model: type[BaseModel], parent: Location) -> str:
    here = _model_at(model, parent)
    valid = sorted(here.model_fields) if here is not None else []
    hint = suggest(key, valid)
    if hint:
        return f"unknown key {key!r}{hint}"
    homes = [home for home in _homes(model).get(key, ()) if home != _schema_path(parent)]
    if homes:
        return f"unknown key {key!r} here; it belongs under {' or '.join(homes)}{_CHECK}"
    listed = f"; valid keys: {', '.join(valid)}" if valid else ""
    return f"unknown key {key!r}{listed}"


def _model_at(model: type[BaseModel], location: Location) -> type[BaseModel] | None:
    """The model that validates the mapping at ``location`` inside ``model``."""
    current: Any = model
    for part in location:
        current = _container(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (list, tuple) and get_args(current):
            current = get_args(current)[0]
        elif get_origin(current) is dict and get_args(current):
            current = get_args(current)[1]
        else:
            return None
    current = _container(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _container(annotation: Any) -> Any:
    """``X`` out of ``Annotated[X, ...]`` and ``X | None``, when ``X`` can hold keys."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            if arg is not type(None):
                return _container(arg)
    return annotation


@cache
def _homes(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Every key ``model`` knows, with the places (``defaults``, ``targets[]``) it is valid."""
    homes: dict[str, list[str]] = {}

    def visit(current: type[BaseModel], path: str) -> None:
        for name, field in current.model_fields.items():
            homes.setdefault(name, []).append(path or "the top level")
            inner = _container(field.annotation)
            suffix = ""
            while get_origin(inner) in (list, tuple, dict) and get_args(inner):
                suffix += "[]" if get_origin(inner) is not dict else ".<name>"
                inner = _container(get_args(inner)[-1 if get_origin(inner) is dict else 0])
            # A plugin section (extra="allow") is checked by the plugin's own model.
            nested = isinstance(inner, type) and issubclass(inner, BaseModel)
            if nested and inner.model_config.get("extra") != "allow":
                visit(inner, f"{path}.{name}{suffix}".lstrip("."))

    visit(model, "")
    return {key: tuple(places) for key, places in homes.items()}


def _schema_path(location: Location) -> str:
    text = ".".join(str(part) if not isinstance(part, int) else "[]" for part in location)
    return text.replace(".[]", "[]") or "the top level"


def _dotted(location: Location) -> str:
    return ".".join(str(part) for part in location)
