"""A config in several files: the main file's ``include:`` names fragment files.

One file is capped at 1 MiB (:data:`syncd.config.file.MAX_BYTES`), about 7,000
targets; a fleet beyond that is split into fragments::

    include: ["targets.d/*.yaml"]     # globs, relative to the main file

Each pattern's matches are taken in sorted order, patterns in the order given.
A fragment holds ``targets:`` and, optionally, ``sinks:`` and ``providers:``
that no other file defines; everything else (and ``include:``: fragments do
not nest) belongs in the main file. Every file keeps the bounds of one config
file (size, duplicate keys, aliases) and is read like the file sink reads:
a regular file, never a FIFO or a device; a symbolic link is followed, since
a Kubernetes ConfigMap volume is made of them. Over all files: at most
:data:`MAX_FRAGMENTS` fragments, :data:`MAX_TOTAL_BYTES` bytes and
:data:`MAX_TARGETS` targets, checked before any target is validated.

With ``keep`` (a shard's :meth:`~syncd.config.sharding.Shard.holds`), a fragment's
targets of other shards are parsed and their names checked for duplicates,
nothing more (:func:`syncd.config.file.parse_part`): a shard's start-up time and
memory grow with its share, not with the fleet. The main file's targets are
always built whole, as without fragments.

The result is one :class:`Assembled` document; its :meth:`~Assembled.where`
names the file, line and location a value came from, so every validation
error still names the file to fix.
"""

from __future__ import annotations

import errno
import glob
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd import localfile
from syncd.config.file import (
    MAX_BYTES,
    Document,
    Location,
    Part,
    parse_part,
    text_of,
    too_large,
)
from syncd.errors import ConfigError

KEY = "include"
MAX_PATTERNS = 64
"""The most patterns one ``include:`` may list."""
MAX_FRAGMENTS = 256
"""The most fragment files all patterns together may match."""
MAX_TOTAL_BYTES = 64 * 1024 * 1024
"""The most bytes all fragments together may hold (64 MiB), checked before any is parsed."""
MAX_TARGETS = 200_000
"""The most targets the main file and its fragments may define together."""
SECTIONS = ("targets", "sinks", "providers")
_NAMED = ("sinks", "providers")


@dataclass(frozen=True)
class Assembled(Document):
    """The main file's document with its fragments' sections merged in.

    ``data["targets"]`` is the main file's targets, then the built targets of
    each fragment in order; ``refs`` says, for each fragment target, which
    fragment and index it came from.
    """

    main_count: int = 0
    sources: tuple[str, ...] = ()
    parts: tuple[Document, ...] = ()
    refs: tuple[tuple[int, int], ...] = ()
    owners: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Each file (the main file first) and how many targets it defines.
    files: tuple[tuple[str, int], ...] = ()

    def where(self, location: Location, source: str) -> tuple[str, int | None, Location]:
        """The fragment, line and location in it that ``location`` came from."""
        if len(location) >= 2:  # noqa: PLR2004 - a section and a key or index
            head, key = location[0], location[1]
            if head == "targets" and isinstance(key, int) and key >= self.main_count:
                part, index = self.refs[key - self.main_count]
                shown = ("targets", index, *location[2:])
                return self.sources[part], self.parts[part].line_of(shown), shown
            owner = self.owners.get((str(head), str(key)))
            if owner is not None:
                return self.sources[owner], self.parts[owner].line_of(location), location
        return super().where(location, source)


def assemble(path: Path, main: Document, keep: Callable[[str], bool] | None = None) -> Assembled:
    """Read the fragments ``main`` (read from ``path``) includes, and merge them into it.

    ``main.data`` is consumed: its ``include:`` is removed. Every problem is a
    :class:`ConfigError` naming the file (and line) to fix.
    """
    source = str(path)
    data = dict(main.data)
    patterns = _patterns(data.pop(KEY), main, source)
    paths = _expand(patterns, path, main, source)
    _check_total(paths)
    merged = _Merge(source, main, data)
    for fragment in paths:
        merged.add(str(fragment), _read(fragment, keep or _everything))
    return merged.result()


def _everything(_name: str) -> bool:
    return True


def _patterns(value: object, main: Document, source: str) -> list[str]:
    line = main.line_of((KEY,))
    where = f"{source}: line {line}: {KEY}" if line is not None else f"{source}: {KEY}"
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f'{where}: expected a list of file names or glob patterns, e.g. ["targets.d/*.yaml"]'
        )
    if len(value) > MAX_PATTERNS:
        raise ConfigError(f"{where}: {len(value)} patterns; at most {MAX_PATTERNS} are allowed")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where}: every item must be a file name or glob pattern (text)")
        if "**" in item:
            raise ConfigError(
                f"{where}: {item!r}: '**' is not supported; name each directory's files"
            )
    return value


def _expand(patterns: list[str], path: Path, main: Document, source: str) -> list[Path]:
    """Each pattern's matches, sorted, relative to the main file's directory; no repeats."""
    base = path.parent
    line = main.line_of((KEY,))
    where = f"{source}: line {line}: {KEY}" if line is not None else f"{source}: {KEY}"
    found: list[Path] = []
    seen: set[str] = set()
    itself = os.path.abspath(path)  # noqa: PTH100 - lexical: resolve() would follow links
    for pattern in patterns:
        full = str(base / pattern)  # an absolute pattern stays itself
        if not glob.has_magic(pattern):
            matches = [full]  # a plain name that is missing is reported by _read
        else:
            # iglob, islice: a directory of a million files is not listed whole.
            found_here = glob.iglob(full)  # noqa: PTH207 - Path.glob takes no absolute pattern
            matches = sorted(itertools.islice(found_here, MAX_FRAGMENTS + 1))
            if not matches:
                raise ConfigError(f"{where}: {pattern!r} matches no file in {base}")
        for match in matches:
            key = os.path.abspath(match)  # noqa: PTH100 - lexical, as above
            if key == itself:
                raise ConfigError(f"{where}: {pattern!r} matches the main config file itself")
            if key in seen:
                continue
            seen.add(key)
            found.append(Path(match))
            if len(found) > MAX_FRAGMENTS:
                raise ConfigError(
                    f"{where}: the patterns match more than {MAX_FRAGMENTS} files; "
                    "merge fragments into fewer, larger ones (each up to 1 MiB)"
                )
    return found


def _check_total(paths: list[Path]) -> None:
    total = 0
    for fragment in paths:
        try:
            total += os.stat(fragment).st_size  # noqa: PTH116 - follows links, as the read does
        except OSError:
            continue  # _read says what is wrong with it
    if total > MAX_TOTAL_BYTES:
        raise ConfigError(
            f"the {len(paths)} fragments hold {total:,} bytes together; the limit is "
            f"{MAX_TOTAL_BYTES:,} bytes ({MAX_TOTAL_BYTES // 2**20} MiB)"
        )


def _read(path: Path, keep: Callable[[str], bool]) -> Part:
    """Read one fragment as the file sink reads: regular files only, bounded, no blocking."""
    try:
        raw = localfile.read(path, MAX_BYTES, follow=True)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: fragment not found (or a symbolic link to nothing); "
            "fix the main file's include or create it"
        ) from None
    except localfile.NotRegular as exc:
        raise ConfigError(f"{path}: fragment {exc}; a fragment must be a regular file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{path}: fragment is a loop of symbolic links") from None
        raise ConfigError(f"{path}: cannot read fragment: {exc.strerror}") from None
    if raw is None:
        try:
            size = os.stat(path).st_size  # noqa: PTH116 - follows links, as the read did
        except OSError:
            size = 0
        raise too_large(str(path), size)
    return parse_part(text_of(raw, len(raw), str(path)), str(path), keep)


class _Merge:
    """Merges fragments into the main file's data one by one, checking names across files."""

    def __init__(self, source: str, main: Document, data: dict[str, Any]) -> None:
        self.main = main
        self.data = data
        self.sources = [source]
        self.parts: list[Document] = []
        self.refs: list[tuple[int, int]] = []
        self.owners: dict[tuple[str, str], int] = {}
        targets = data.get("targets")
        self.targets: list[Any] = list(targets) if isinstance(targets, list) else []
        self.main_count = len(self.targets)
        self.files = [(source, self.main_count)]
        self.total = self.main_count
        # name -> (file index, line): every target name of every file, built or not.
        self.names: dict[str, tuple[int, int]] = {}
        for i, target in enumerate(self.targets):
            name = target.get("name") if isinstance(target, dict) else None
            if isinstance(name, str):
                self.names.setdefault(name, (0, main.line_of(("targets", i)) or 0))

    def add(self, source: str, part: Part) -> None:
        index = len(self.sources)
        self.sources.append(source)
        document = part.document
        for key in document.data:
            self._allowed(source, document, key)
        self.total += part.count
        if self.total > MAX_TARGETS:
            raise ConfigError(
                f"{source}: the config defines more than {MAX_TARGETS:,} targets across "
                "its files; split the fleet between several syncd deployments"
            )
        for name, line in part.names:
            first = self.names.get(name)
            if first is not None:
                raise ConfigError(
                    f"{source}: line {line}: duplicate target name {name!r}; first defined at "
                    f"{self._at(*first)}"
                )
            self.names[name] = (index, line)
        for section in _NAMED:
            self._named(source, index, document, section)
        targets = document.data.get("targets")
        if targets is not None and not isinstance(targets, list):
            raise ConfigError(
                self._line(
                    source,
                    document,
                    ("targets",),
                    "expected a list of '- ' items (check indentation)",
                )
            )
        self.targets.extend(targets or ())
        self.refs.extend((index - 1, i) for i in part.built)
        self.parts.append(document)
        self.files.append((source, part.count))

    def _allowed(self, source: str, document: Document, key: object) -> None:
        if key == KEY:
            raise ConfigError(
                self._line(
                    source,
                    document,
                    (KEY,),
                    "a fragment cannot include other fragments; list every fragment in the "
                    f"main file's include ({self.sources[0]})",
                )
            )
        if key not in SECTIONS:
            raise ConfigError(
                self._line(
                    source,
                    document,
                    (str(key),),
                    f"a fragment may only define {', '.join(SECTIONS)}; set {key!s:.40} in "
                    f"the main file ({self.sources[0]})",
                )
            )

    def _named(self, source: str, index: int, document: Document, section: str) -> None:
        """A fragment's sinks or providers: each name defined in exactly one file."""
        entries = document.data.get(section)
        if entries is None:
            return
        if not isinstance(entries, dict):
            raise ConfigError(
                self._line(
                    source, document, (section,), "expected a mapping of names (check indentation)"
                )
            )
        mine = self.data.get(section)
        merged: dict[str, Any] = dict(mine) if isinstance(mine, dict) else {}
        for name, value in entries.items():
            key = (section, str(name))
            if name in merged:
                owner = self.owners.get(key)
                if owner is None:
                    first = self._at(0, self.main.line_of(key) or 0)
                else:
                    first = self._at(owner + 1, self.parts[owner].line_of(key) or 0)
                raise ConfigError(
                    self._line(
                        source,
                        document,
                        key,
                        f"{section[:-1]} {name!r} is already defined at {first}; define it "
                        "in one file only",
                    )
                )
            merged[name] = value
            self.owners[key] = index - 1
        if mine is None or isinstance(mine, dict):
            self.data[section] = merged

    def _at(self, file: int, line: int) -> str:
        return f"{self.sources[file]}: line {line}" if line else self.sources[file]

    @staticmethod
    def _line(source: str, document: Document, location: Location, message: str) -> str:
        line = document.line_of(location)
        where = f"{source}: line {line}" if line is not None else source
        return f"{where}: {'.'.join(str(p) for p in location)}: {message}"

    def result(self) -> Assembled:
        self.data["targets"] = self.targets
        return Assembled(
            self.data,
            self.main.lines,
            main_count=self.main_count,
            sources=tuple(self.sources[1:]),
            parts=tuple(self.parts),
            refs=tuple(self.refs),
            owners=self.owners,
            files=tuple(self.files),
        )
