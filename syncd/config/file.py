"""Reading the YAML config file safely: bounded, unambiguous, and with line numbers.

A config file is operator input that a SIGHUP reload parses inside the running
daemon, so parsing must be bounded and must not guess:

- the file is capped at :data:`MAX_BYTES` before it is parsed;
- anchors and aliases (``&x``, ``*x``, ``<<: *x``) may expand the document to
  at most :data:`~syncd.config.yamlwalk.MAX_NODES` values (the walk in
  :mod:`syncd.config.yamlwalk`): a few lines of aliases can otherwise expand
  to billions (the "billion laughs" bomb) when the result is walked. Aliases
  themselves stay allowed because YAML writers such as PyYAML emit them for
  shared objects;
- a key given twice in one mapping is an error, not "the last one wins";
- every key and list item keeps its line, so validation errors can say where.

libyaml (``CSafeLoader``) does the parsing when PyYAML was built with it; it is
several times faster than the pure-Python parser on large configs, and it
bounds nesting depth itself.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syncd.config.yamlwalk import MAP_TAG, SEQ_TAG, STR_TAG, Location, Unusual, Walk
from syncd.errors import ConfigError

__all__ = [
    "MAX_BYTES",
    "Document",
    "Location",
    "Part",
    "gc_paused",
    "parse",
    "parse_part",
    "read",
    "text_of",
    "too_large",
]

MAX_BYTES = 1024 * 1024
"""The largest config file syncd parses (1 MiB: about 7,000 targets written out in block style).

Per file: a bigger fleet is split into fragments (:mod:`syncd.config.fragments`).
"""

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The first characters for which a plain scalar may be something other than a string.
_TYPED_FIRST = frozenset(key for key in _BaseLoader.yaml_implicit_resolvers if key)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc] # a class chosen at import time
    """The safe loader, with tag resolution short-cut for what a config is made of.

    libyaml composes in C but asks Python for every value's tag and calls the
    path-resolver hooks for every node; with 100,000 targets in fragments
    those calls were a third of the parse. The answers are the same: a plain
    scalar whose first character no implicit resolver claims is a string,
    as is a quoted one, and the safe loader has no path resolvers.
    """

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            if not implicit[0] or (value and value[0] not in _TYPED_FIRST):
                return STR_TAG
        elif kind is yaml.MappingNode:
            return MAP_TAG
        elif kind is yaml.SequenceNode:
            return SEQ_TAG
        tag: str = super().resolve(kind, value, implicit)
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """Nothing to do: the safe loader has no path resolvers."""

    def ascend_resolver(self) -> None:
        """Nothing to do: the safe loader has no path resolvers."""


assert None not in _BaseLoader.yaml_implicit_resolvers  # noqa: S101 - _Loader.resolve relies on it
assert not _BaseLoader.yaml_path_resolvers  # noqa: S101 - and on this

# libyaml's and PyYAML's wordings of the mistakes that are really indentation.
_INDENTATION = (
    ("mapping values are not allowed", "a 'key: value' cannot start here"),
    ("did not find expected key", "this line does not line up with the keys above it"),
    ("expected <block end>", "this line does not line up with the lines above it"),
    ("did not find expected '-' indicator", "this line does not line up with the list above it"),
)


@dataclass(frozen=True)
class Document:
    """A parsed config file: its data and the line of each key and list item."""

    data: dict[str, Any]
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int | None:
        """The line of ``location``, else of its nearest enclosing key that has one."""
        for end in range(len(location), 0, -1):
            line = self.lines.get(location[:end])
            if line is not None:
                return line
        return None

    def where(self, location: Location, source: str) -> tuple[str, int | None, Location]:
        """The file (``source`` here), line and location to name in a message about ``location``.

        A config assembled from several files (:mod:`syncd.config.fragments`) answers
        with the file the value came from and its location in that file.
        """
        return source, self.line_of(location), location


def read(path: Path, *, origin: str | None = None) -> Document:
    """Read and parse the file at ``path``; every problem is a one-line :class:`ConfigError`.

    ``origin`` says how ``path`` was chosen; it is added to the "not found" message.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise ConfigError(
            f"no config file at {path}" + (f" ({origin})" if origin else "")
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    return parse(text_of(raw, size, str(path)), str(path))


def text_of(raw: bytes, size: int, source: str) -> str:
    """The text of a file read as ``raw`` (at most ``MAX_BYTES + 1`` bytes of its ``size``).

    Refuses a file over :data:`MAX_BYTES` and one that is not UTF-8.
    """
    if len(raw) > MAX_BYTES:
        raise too_large(source, size)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: config file is not UTF-8 text") from None


def too_large(source: str, size: int) -> ConfigError:
    """The error for a file over :data:`MAX_BYTES` (``size`` 0 when unknown, as for a pipe)."""
    shown = f" ({size:,} bytes)" if size > MAX_BYTES else ""
    return ConfigError(
        f"{source}: config file is too large{shown}; the limit is {MAX_BYTES:,} bytes (1 MiB)"
    )


def parse(text: str, source: str) -> Document:
    """Parse YAML ``text``; ``source`` names it in errors. An empty document is ``{}``."""
    return parse_part(text, source).document


@dataclass(frozen=True)
class Part:
    """A parsed file whose ``targets:`` were perhaps only partly built (see :func:`parse_part`).

    ``document.data["targets"]`` holds the built targets only; ``built`` is the
    index in the file of each, and ``names`` the name and line of every target
    whose name could be read without building it.
    """

    document: Document
    built: tuple[int, ...] = ()
    names: tuple[tuple[str, int], ...] = ()
    count: int = 0


def parse_part(text: str, source: str, keep: Callable[[str], bool] | None = None) -> Part:
    """Parse ``text`` like :func:`parse`, building only the targets whose name ``keep`` accepts.

    The other targets are checked as every value is (duplicate keys, the
    alias bound) and their names and lines kept, nothing more: a shard of a
    fleet pays for its own targets. A target whose name is not a plain
    string is always built, so that validating it reports what is wrong.
    """
    loader = _Loader(text)
    try:
        with gc_paused():
            return _parse(loader, text, source, keep)
    finally:
        loader.dispose()


def _parse(
    loader: yaml.SafeLoader, text: str, source: str, keep: Callable[[str], bool] | None
) -> Part:
    walk = Walk(loader, source, build=True, keep=keep)
    try:
        node = loader.get_single_node()
        if node is None:
            return Part(Document({}))
        try:
            data, lines = walk.run(node)
        except Unusual:
            # Tags, keys or merges beyond plain maps, lists and scalars: let
            # PyYAML's constructor build them, after the same checks, from a
            # clean state (a failed construction leaves its node marked).
            loader.constructed_objects = {}
            loader.recursive_objects = {}
            walk = Walk(loader, source, build=False, keep=keep)
            lines = walk.run(node)[1]
            data = loader.construct_document(node)
            if keep is not None and isinstance(data, dict):
                _drop_unbuilt(data, walk.built)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: {_yaml_problem(exc, text)}") from None
    except ValueError as exc:  # PyYAML's constructor on a value such as the date 2001-13-45
        raise ConfigError(f"{source}: invalid value ({exc})") from None
    if data is None:
        return Part(Document({}))
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: line 1: the top level must be a mapping of keys (like 'targets:'), "
            f"not a {_kind(data)}"
        )
    return Part(Document(data, lines), tuple(walk.built), tuple(walk.names), walk.targets)


def _drop_unbuilt(data: dict[str, Any], built: list[int]) -> None:
    targets = data.get("targets")
    if isinstance(targets, list):
        data["targets"] = [targets[i] for i in built]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off while a config is turned into objects.

    Parsing and validating build hundreds of thousands of objects that all
    stay alive, and each collection the allocations trigger walks them again:
    with 10,000 targets that made composing the YAML five times slower. None
    of these objects is garbage, so there is nothing to collect until the end.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or "invalid YAML")
    if mark is None:
        return f"invalid YAML: {problem}"
    line, column = mark.line + 1, mark.column + 1
    lines = text.splitlines()
    here = lines[mark.line] if mark.line < len(lines) else ""
    if "\t" in here[: mark.column + 1] and "cannot start any token" in problem:
        return f"line {line}: a tab character indents this line; YAML indents with spaces only"
    for wording, plain in _INDENTATION:
        if wording in problem:
            return f"line {line}: {plain} (check indentation)"
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and start.line != mark.line:
        problem += f" ({context} that starts at line {start.line + 1})"
    return f"line {line}, column {column}: invalid YAML: {problem}"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
