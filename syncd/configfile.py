"""Reading the YAML config file safely: bounded, unambiguous, and with line numbers.

A config file is operator input that a SIGHUP reload parses inside the running
daemon, so parsing must be bounded and must not guess:

- the file is capped at :data:`MAX_BYTES` before it is parsed;
- anchors and aliases (``&x``, ``*x``, ``<<: *x``) may expand the document to
  at most :data:`MAX_NODES` values: a few lines of aliases can otherwise expand
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

import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syncd.errors import ConfigError

MAX_BYTES = 1024 * 1024
"""The largest config file syncd parses (1 MiB: about 7,000 targets written out in block style)."""

MAX_NODES = 250_000
"""The most values (keys, scalars, lists, mappings) a document may expand to through aliases.

About what a 1 MiB file holds written out, so aliases cannot make a config
bigger than the file cap allows anyway.
"""

MAX_DEPTH = 64
"""How deep keys and lists may nest (a config needs about 6; a recursive alias is endless)."""

Location = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

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
    if len(raw) > MAX_BYTES:
        shown = f" ({size:,} bytes)" if size > MAX_BYTES else ""  # a pipe has no size
        raise ConfigError(
            f"{path}: config file is too large{shown}; the limit is {MAX_BYTES:,} bytes (1 MiB)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    return parse(text, str(path))


def parse(text: str, source: str) -> Document:
    """Parse YAML ``text``; ``source`` names it in errors. An empty document is ``{}``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document({})
        lines = _check(loader, node, source)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: {_yaml_problem(exc, text)}") from None
    finally:
        loader.dispose()
    if data is None:
        return Document({})
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: line 1: the top level must be a mapping of keys (like 'targets:'), "
            f"not a {_kind(data)}"
        )
    return Document(data, lines)


def _check(loader: yaml.SafeLoader, root: yaml.Node, source: str) -> dict[Location, int]:
    """Walk the document as it will expand: bound it, refuse duplicate keys, record lines.

    The composer returns an alias as the very node it refers to, so the node
    graph stays small however far aliases would expand; this walk follows
    aliases as the data will, and stops at :data:`MAX_NODES` values, before
    anything (the constructor, pydantic) would expand a bomb or loop forever on a
    recursive alias.
    """
    lines: dict[Location, int] = {}
    stack: list[tuple[yaml.Node, Location, int]] = [(root, (), root.start_mark.line + 1)]
    count = 0
    while stack:
        node, location, line = stack.pop()
        count += 1  # a value and its key count once, so this bounds keys + items
        if count > MAX_NODES:
            raise ConfigError(
                f"{source}: line {line}: YAML aliases (*name) expand this file beyond "
                f"{MAX_NODES:,} values (an alias bomb, or an alias inside its own anchor); "
                "write the values out instead"
            )
        if len(location) > MAX_DEPTH:
            raise ConfigError(
                f"{source}: line {line}: values are nested more than {MAX_DEPTH} levels deep "
                "(is an alias inside its own anchor?)"
            )
        children: list[tuple[yaml.Node, Location, int]] = []
        if isinstance(node, yaml.MappingNode):
            first: dict[Hashable, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE_TAG:
                    # '<<: *base' puts base's keys here; the mapping's own keys override them.
                    many = isinstance(value_node, yaml.SequenceNode)
                    merged = value_node.value if many else [value_node]
                    children.extend((part, location, key_line) for part in merged)
                    continue
                key = _key(loader, key_node)
                if key in first:
                    raise ConfigError(
                        f"{source}: line {key_line}: duplicate key {key!r} "
                        f"(first at line {first[key]}); remove one of them"
                    )
                first[key] = key_line
                child = (*location, key) if isinstance(key, str | int) else location
                lines.setdefault(child, key_line)
                children.append((value_node, child, key_line))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*location, index), item.start_mark.line + 1)
                children.append((item, (*location, index), line))
        stack.extend(reversed(children))
    return lines


def _key(loader: yaml.SafeLoader, node: yaml.Node) -> Hashable:
    """A mapping key as the loader constructs it (``1`` and ``"1"`` differ)."""
    if isinstance(node, yaml.ScalarNode):
        key: Hashable = loader.construct_object(node)
        return key
    # A complex key is rare; the constructor reports it if it is unhashable.
    return (node.tag, node.start_mark.line, node.start_mark.column)


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
