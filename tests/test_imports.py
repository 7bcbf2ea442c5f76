"""The shape of the package: no import cycle between syncd's modules, no shadowed stdlib name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "syncd"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, known: set[str]) -> set[str]:
    """The syncd modules ``path`` imports, at module level or lazily, but not for typing only."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    # Packages' __init__ modules hold no code that imports back; only real modules count.
    return {name for name in found if name in known and not (PACKAGE / name[6:]).is_dir()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_find_cycle_reports_a_cycle_through_a_lazy_import() -> None:
    """The checker itself sees a cycle, so the real check cannot pass vacuously."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_syncd_modules() -> None:
    """No syncd module imports, directly or through others, a module that imports it back."""
    found = modules()
    graph = {name: imports(path, set(found)) for name, path in found.items()}
    assert graph["syncd.cli"], "the import scan found nothing: it is broken"
    assert find_cycle(graph) is None


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each syncd module can be the first one imported (no import-order dependency)."""
    names = [n for n in modules() if not n.endswith("__main__")]
    script = (
        "import importlib, subprocess, sys\n"
        "for name in sys.argv[1:]:\n"
        "    code = f'import {name}'\n"
        "    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)\n"
        "    if r.returncode:\n"
        "        print(name, r.stderr.strip().splitlines()[-1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *names], capture_output=True, text=True, check=True
    )
    assert result.stdout == ""


def test_no_module_shadows_the_standard_library() -> None:
    """No module in syncd/ is named like a standard-library module (syncd.logging was)."""
    shadowing = {
        name
        for name in modules()
        if name.rsplit(".", 1)[-1] in sys.stdlib_module_names and name.count(".") >= 1
    }
    assert shadowing == set()


VENDOR_SDKS = ("boto3", "botocore", "hvac", "apscheduler", "prometheus_client", "psycopg")


def _vendor_modules_after(code: str, modules: tuple[str, ...] = VENDOR_SDKS) -> list[str]:
    probe = (
        f"{code}\nimport sys\n"
        f"print(','.join(m for m in {modules!r} if any("
        "k == m or k.startswith(m + '.') for k in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    return [m for m in out.split(",") if m]


def test_cli_import_loads_no_vendor_sdk() -> None:
    """A fresh `import syncd.cli` imports none of boto3, hvac, apscheduler, prometheus_client, psycopg."""
    assert _vendor_modules_after("import syncd.cli") == []


def test_version_loads_no_vendor_sdk() -> None:
    """`syncd --version` answers without importing any vendor SDK."""
    code = (
        "import contextlib, io, sys\n"
        "from syncd.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--version'])"
    )
    assert _vendor_modules_after(code) == []


#: What a command that reads no config never needs: the config's and the logs' libraries.
HEAVY = ("pydantic", "pydantic_settings", "structlog", "yaml", "httpx", "asyncio")


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["run", "--help"]])
def test_commands_without_config_stay_light(argv: list[str]) -> None:
    """`syncd --version` and `--help` import no pydantic, structlog, YAML or httpx (start-up)."""
    code = (
        "import contextlib, io, sys\n"
        "from syncd.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({argv!r})"
    )
    assert _vendor_modules_after(code, HEAVY) == []
