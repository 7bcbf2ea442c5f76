"""Walking a composed YAML document: bound its expansion, refuse duplicate keys, record lines.

The part of reading a config (:mod:`syncd.config.file`) that guards against
hostile input: aliases followed as the data will expand them, up to
:data:`MAX_NODES` values and :data:`MAX_DEPTH` levels, before anything else
expands them; and, for a sharded start, only checking the targets another
shard builds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import yaml

from syncd.errors import ConfigError

MAX_NODES = 250_000
"""The most values (keys, scalars, lists, mappings) a document may expand to through aliases.

About what a 1 MiB file holds written out, so aliases cannot make a config
bigger than the file cap allows anyway.
"""

MAX_DEPTH = 64
"""How deep keys and lists may nest (a config needs about 6; a recursive alias is endless)."""

Location = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
STR_TAG = "tag:yaml.org,2002:str"


def _name_of(node: yaml.Node) -> str | None:
    """The plain string under ``name:`` of a target's mapping node, else None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "name":
            is_str = isinstance(value_node, yaml.ScalarNode) and value_node.tag == STR_TAG
            return str(value_node.value) if is_str and key_node.tag == STR_TAG else None
    return None


#: Stands for a merge key (``<<``) among a mapping's keys in :class:`Walk`.
_MERGE = object()


class Unusual(Exception):
    """The document needs PyYAML's constructor (see :class:`Walk`)."""


class Walk:
    """Walk the document as it will expand: bound it, refuse duplicate keys, record lines.

    The composer returns an alias as the very node it refers to, so the node
    graph stays small however far aliases would expand; this walk follows
    aliases as the data will, and stops at :data:`MAX_NODES` values, before
    anything (the constructor, pydantic) would expand a bomb or loop forever on a
    recursive alias. Recursion is bounded by :data:`MAX_DEPTH`.

    With ``build`` the walk also constructs the data, as PyYAML's constructor
    would (an alias becomes a copy rather than the same object), which halves
    the cost of a large config. Plain mappings, lists and scalars are all a
    config usually holds; anything else (merge keys, ``!!set``, complex keys,
    a scalar PyYAML refuses) raises :class:`Unusual`, and the caller walks
    again without building and lets PyYAML construct the data.
    """

    def __init__(
        self,
        loader: yaml.SafeLoader,
        source: str,
        *,
        build: bool,
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        self.loader = loader
        self.source = source
        self.build = build
        self.record = True
        self.lines: dict[Location, int] = {}
        self.count = 0
        self.keep = keep
        self.built: list[int] = []
        self.names: list[tuple[str, int]] = []
        self.targets = 0

    def run(self, root: yaml.Node) -> tuple[Any, dict[Location, int]]:
        """The data (None without ``build``) and the line of each key and list item."""
        return self._visit(root, (), root.start_mark.line + 1), self.lines

    def _visit(self, node: yaml.Node, location: Location, line: int) -> Any:
        self.count += 1  # a value and its key count once, so this bounds keys + items
        if self.count > MAX_NODES:
            raise ConfigError(
                f"{self.source}: line {line}: YAML aliases (*name) expand this file beyond "
                f"{MAX_NODES:,} values (an alias bomb, or an alias inside its own anchor); "
                "write the values out instead"
            )
        if len(location) > MAX_DEPTH:
            raise ConfigError(
                f"{self.source}: line {line}: values are nested more than {MAX_DEPTH} levels "
                "deep (is an alias inside its own anchor?)"
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, location)
        if isinstance(node, yaml.SequenceNode):
            if self.build and node.tag != SEQ_TAG:
                raise Unusual
            if self.keep is not None and location == ("targets",):
                return self._targets(node, line)
            items = []
            for index, item in enumerate(node.value):
                child = (*location, index)
                if self.record:
                    self.lines.setdefault(child, item.start_mark.line + 1)
                items.append(self._visit(item, child, line))
            return items
        if not self.build:
            return None
        if node.tag == STR_TAG:
            return node.value
        try:
            return self.loader.construct_object(node)
        except yaml.YAMLError:
            raise Unusual from None  # reported by PyYAML's constructor, as before
        except ValueError as exc:  # a date such as 2001-13-45
            raise ConfigError(
                f"{self.source}: line {node.start_mark.line + 1}: invalid value ({exc})"
            ) from None

    def _targets(self, node: yaml.SequenceNode, line: int) -> list[Any]:
        """The ``targets:`` list with ``keep``: build the kept, only check the others."""
        assert self.keep is not None  # noqa: S101 - only called with keep
        items = []
        self.targets += len(node.value)
        for index, item in enumerate(node.value):
            child: Location = ("targets", index)
            item_line = item.start_mark.line + 1
            name = _name_of(item)
            if name is not None:
                self.names.append((name, item_line))
            if name is None or self.keep(name):
                self.lines.setdefault(child, item_line)
                self.built.append(index)
                items.append(self._visit(item, child, line))
                continue
            if not self._plain(item, len(child)):
                # Something to report or to expand (a merge key): the full walk says what.
                build, self.build, self.record = self.build, False, False
                try:
                    self._visit(item, child, line)
                finally:
                    self.build, self.record = build, True
        return items

    def _plain(self, root: yaml.Node, depth: int) -> bool:
        """Check a target another shard builds; True when it holds nothing unusual.

        The same bounds as :meth:`_visit`, without building or recording: the
        count, the depth and duplicate keys. Anything beyond plain string keys
        (a merge key, a duplicate, a key of another type) answers False with the
        count as it was, and the caller walks the target the full way.
        """
        count = self.count
        stack = [(root, depth)]
        while stack:
            node, level = stack.pop()
            self.count += 1
            if self.count > MAX_NODES or level > MAX_DEPTH:
                break
            if isinstance(node, yaml.MappingNode):
                keys = set()
                for key_node, value_node in node.value:
                    if key_node.tag != STR_TAG or key_node.value in keys:
                        break
                    keys.add(key_node.value)
                    stack.append((value_node, level + 1))
                else:
                    continue
                break
            if isinstance(node, yaml.SequenceNode):
                stack.extend((item, level + 1) for item in node.value)
        else:
            return True
        self.count = count
        return False

    def _mapping(self, node: yaml.MappingNode, location: Location) -> Any:
        if self.build and node.tag != MAP_TAG:
            raise Unusual
        first: dict[Hashable, int] = {}
        children: list[tuple[Hashable, yaml.Node, Location, int]] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                # '<<: *base' puts base's keys here; the mapping's own keys override them.
                # Which merged key wins is PyYAML's to say (its rule has changed).
                if self.build:
                    raise Unusual
                children.append((_MERGE, value_node, location, key_line))
                continue
            if self.build and not isinstance(key_node, yaml.ScalarNode):
                raise Unusual
            key = _key(self.loader, key_node)
            if key in first:
                raise ConfigError(
                    f"{self.source}: line {key_line}: duplicate key {key!r} "
                    f"(first at line {first[key]}); remove one of them"
                )
            first[key] = key_line
            child = (*location, key) if isinstance(key, str | int) else location
            if self.record:
                self.lines.setdefault(child, key_line)
            children.append((key, value_node, child, key_line))
        if not self.build:
            for key, value_node, child, key_line in children:
                if key is not _MERGE:
                    self._visit(value_node, child, key_line)
                    continue
                many = isinstance(value_node, yaml.SequenceNode)
                for part in value_node.value if many else [value_node]:
                    self._visit(part, location, key_line)
            return None
        return {
            key: self._visit(value_node, child, key_line)
            for key, value_node, child, key_line in children
        }



def _key(loader: yaml.SafeLoader, node: yaml.Node) -> Hashable:
    """A mapping key as the loader constructs it (``1`` and ``"1"`` differ)."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == STR_TAG:
            return str(node.value)
        key: Hashable = loader.construct_object(node)
        return key
    # A complex key is rare; the constructor reports it if it is unhashable.
    return (node.tag, node.start_mark.line, node.start_mark.column)
