"""Static checks the project holds itself to: mypy --strict and ruff on the code."""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_mypy_strict_is_clean() -> None:
    """mypy --strict (configured in pyproject.toml) finds nothing in syncd/."""
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    """ruff finds nothing in syncd/ and tests/."""
    result = run("ruff", "check", "syncd", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


# -- the shape of the code: module size and repeated runs ----------------------------------

#: A module longer than this says in its docstring why it is one module.
MAX_LINES = 450
#: This many identical lines in a row, found twice in syncd/, are one piece of code written twice.
RUN = 6
_NOT_CODE = re.compile(r"#.*|[^A-Za-z0-9]*|(from\s+\S+\s+)?import\s.*")


def modules() -> list[Path]:
    return sorted((ROOT / "syncd").rglob("*.py"))


def test_long_modules_say_why_they_are_one() -> None:
    """A module over MAX_LINES lines has a "Why one module:" paragraph in its docstring."""
    unexplained = []
    for path in modules():
        text = path.read_text()
        if text.count("\n") <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if "\nWhy one module:" not in "\n" + docstring:
            unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, unexplained


def repeated_runs(files: dict[str, str], run: int = RUN) -> list[tuple[str, str]]:
    """Pairs of places that share ``run`` identical lines (blank, comment, import and
    punctuation-only lines skipped, white space folded)."""
    seen: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
    for name, text in files.items():
        kept = [
            (n, folded)
            for n, line in enumerate(text.splitlines(), 1)
            if (folded := " ".join(line.split())) and not _NOT_CODE.fullmatch(folded)
        ]
        for i in range(len(kept) - run + 1):
            seen[tuple(s for _, s in kept[i : i + run])].append((name, kept[i][0]))
    pairs = set()
    for places in seen.values():
        for a, b in itertools.combinations(places, 2):
            if a[0] != b[0] or abs(a[1] - b[1]) >= run:
                pairs.add((f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}"))
    return sorted(pairs)


def test_repeated_runs_finds_a_copy_and_ignores_imports() -> None:
    """The checker sees six copied lines across files, and not shared imports or blanks."""
    body = "\n".join(f"x{i} = {i}" for i in range(6))
    assert repeated_runs({"a.py": body, "b.py": "y = 0\n" + body}) == [("a.py:1", "b.py:2")]
    imports = "\n".join(f"import m{i}" for i in range(8))
    assert repeated_runs({"a.py": imports, "b.py": imports + "\n\n"}) == []


def test_no_six_identical_lines_repeat_within_syncd() -> None:
    """No run of six identical lines stands twice in syncd/: shared code lives in one place."""
    files = {str(p.relative_to(ROOT)): p.read_text() for p in modules()}
    assert repeated_runs(files) == []
