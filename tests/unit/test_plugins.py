"""Plugin discovery: a real third-party distribution, and broken plugins named clearly."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from syncd.testing.casedev import FakeCaseDev
from syncd.testing.contract import MarkWriter, ReadBack, SinkContract, Writer
from tests.conftest import run_syncd
from tests.support.configs import ConfigBuilder, binding

PLUGIN = Path(__file__).resolve().parents[1] / "support" / "plugins" / "syncd-echo-sink"
ECHO_SOURCE = PLUGIN / "syncd_echo_sink" / "__init__.py"


def load_echo() -> ModuleType:
    """The echo plugin's module, imported from the repository (not installed)."""
    spec = importlib.util.spec_from_file_location("syncd_echo_sink", ECHO_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestEchoSinkContract(SinkContract):
    """The repository's third-party example sink passes the whole sink contract."""

    @pytest.fixture
    def sink(self, tmp_path: Path) -> Any:
        return load_echo().EchoSink("echo", tmp_path / "echo")

    @staticmethod
    def edit(sink: Any, secret: str, change: Any) -> None:
        path = sink.directory / f"{secret}.json"
        record = json.loads(path.read_text()) if path.exists() else {}
        change(record)
        sink.directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))

    @pytest.fixture
    def read_back(self, sink: Any) -> ReadBack:
        return lambda secret: json.loads((sink.directory / f"{secret}.json").read_text())["value"]

    @pytest.fixture
    def write_foreign(self, sink: Any) -> Writer:
        return lambda secret, text: self.edit(sink, secret, lambda r: r.update(value=text))

    @pytest.fixture
    def create_unmanaged(self, sink: Any) -> Writer:
        return lambda secret, text: self.edit(sink, secret, lambda r: r.update(value=text))

    @pytest.fixture
    def write_raw_mark(self, sink: Any) -> MarkWriter:
        def write(secret: str, rotated_at: str, role: str) -> None:
            mark = {"syncd:rotated-at": rotated_at, "syncd:role": role}
            self.edit(sink, secret, lambda r: r["meta"].update(mark))

        return write


def test_echo_plugin_imports_only_the_plugin_kit() -> None:
    """The example plugin uses syncd through syncd.plugin alone, as the README tells authors to."""
    tree = ast.parse(ECHO_SOURCE.read_text())
    used = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert {name for name in used if name and name.split(".")[0] == "syncd"} == {"syncd.plugin"}


KEY = "cdk_plugin_test_123456"
URI = "postgresql://o:PluginPw123456@h.example/db?sslmode=require"


def fake_dist(root: Path, name: str, entry: str, module: str | None = None) -> None:
    """Lay out an installed distribution (dist-info with entry points) under ``root``."""
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[syncd.sinks]\n{entry}\n")
    if module:
        (root / f"{entry.split('=')[1].strip().split(':')[0]}.py").write_text(module)


def config(tmp_path: Path, base_url: str, sink: dict[str, object]) -> Path:
    return (
        ConfigBuilder(tmp_path, log_level=None)
        .casedev(base_url, name="c")
        .set(sinks={"s": sink})
        .target("t", [binding("s", "db")], provider="c", project="proj_p")
        .write()
    )


@pytest.mark.e2e
def test_third_party_sink_is_installed_and_used(tmp_path: Path) -> None:
    """A sink distribution installed with pip is listed by `syncd plugins` and syncs via its type."""
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(site), "CASEDEV_API_KEY": KEY}
    listed = run_syncd("plugins", env=env)
    assert listed.code == 0
    assert any(
        line.split()[:3] == ["sink", "echo", "syncd-echo-sink"]
        for line in listed.stdout.splitlines()
    )

    api = FakeCaseDev(KEY)
    api.set_branch("proj_p", "main", direct=URI, pooled=URI)
    with api.serve() as server:
        path = config(
            tmp_path, server.base_url, {"type": "echo", "directory": str(tmp_path / "echo")}
        )
        first = run_syncd("run", "--once", "--config", str(path), env=env)
        second = run_syncd("run", "--once", "--config", str(path), env=env)
    assert first.code == 0 and "1 created" in first.stdout, first.output
    assert second.code == 0 and "1 unchanged" in second.stdout
    assert URI in json.loads((tmp_path / "echo" / "db.json").read_text())["value"]


@pytest.mark.parametrize(
    ("dists", "expected"),
    [
        (
            [("broken-import", "broke = broke_mod:Sink", "import does_not_exist\n")],
            "sink plugin 'broke' (broke_mod:Sink) from distribution broken-import cannot be imported: ModuleNotFoundError",
        ),
        (
            [("wrong-shape", "broke = shape_mod:Sink", "class Sink:\n    pass\n")],
            "sink plugin 'broke' (shape_mod:Sink) from distribution wrong-shape has no config_model",
        ),
        (
            [("dist-a", "broke = a_mod:Sink", None), ("dist-b", "broke = b_mod:Sink", None)],
            "sink plugin 'broke' is registered twice: by dist-",
        ),
    ],
)
def test_broken_plugins_are_named(
    tmp_path: Path, dists: list[tuple[str, str, str | None]], expected: str
) -> None:
    """Import errors, wrong shapes and duplicate names give exit 2 naming plugin and distribution."""
    site = tmp_path / "site"
    for name, entry, module in dists:
        fake_dist(site, name, entry, module)
    path = config(tmp_path, "http://127.0.0.1:9", {"type": "broke"})
    result = run_syncd(
        "check", "--config", str(path), env={"PYTHONPATH": str(site), "CASEDEV_API_KEY": KEY}
    )
    assert result.code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_unknown_type_lists_available(tmp_path: Path) -> None:
    """An unknown sink type is a config error listing the installed ones."""
    path = config(tmp_path, "http://127.0.0.1:9", {"type": "s3"})
    result = run_syncd("check", "--config", str(path), env={"CASEDEV_API_KEY": KEY})
    assert result.code == 2
    assert "unknown sink type 's3'; available: aws-secrets-manager, file, vault" in result.stderr


def test_missing_vendor_sdk_names_the_extra(tmp_path: Path) -> None:
    """A built-in sink whose SDK is not installed is a config error naming the pip extra."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "botocore").mkdir()
    (blocker / "botocore" / "__init__.py").write_text("raise ImportError('not installed here')\n")
    path = config(
        tmp_path, "http://127.0.0.1:9", {"type": "aws-secrets-manager", "region": "us-east-1"}
    )
    result = run_syncd(
        "check", "--config", str(path), env={"PYTHONPATH": str(blocker), "CASEDEV_API_KEY": KEY}
    )
    assert result.code == 2, result.output
    assert (
        "needs the Python package botocore" in result.stderr
        and "pip install 'syncd[aws]'" in result.stderr
    )


THIRD_PARTY = """\
from __future__ import annotations

from typing import ClassVar

from syncd.plugin import Fingerprint, PluginConfig, SecretState, SinkFactory, WriteRequest


class ShelfConfig(PluginConfig):
    shelf: str = "top"


class ShelfSink:
    config_model: ClassVar[type[ShelfConfig]] = ShelfConfig

    @classmethod
    def from_config({from_config_args}) -> ShelfSink:
        return cls()

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        pass

    def inspect(self, secret: str) -> SecretState:
        return SecretState(True, True, Fingerprint.decode("v1:" + "0" * 64), None)

    def write(self, request: WriteRequest) -> str | None:
        return None

    def close(self) -> None:
        pass


factory: SinkFactory[ShelfConfig] = ShelfSink
"""


@pytest.mark.e2e
def test_mypy_rejects_a_third_party_plugin_whose_factory_has_the_wrong_signature(
    tmp_path: Path,
) -> None:
    """mypy --strict checks a plugin's from_config against SinkFactory, before anything runs."""
    good = tmp_path / "shelf_good.py"
    bad = tmp_path / "shelf_bad.py"
    good.write_text(THIRD_PARTY.format(from_config_args="cls, name: str, config: ShelfConfig"))
    # The author forgot the plugin's name: syncd would call it with two arguments.
    bad.write_text(THIRD_PARTY.format(from_config_args="cls, config: ShelfConfig"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--follow-imports=silent",
            str(good),
            str(bad),
        ],
        cwd=tmp_path,
        # The editable install's import hook is invisible to mypy: point it at the source.
        env={**os.environ, "MYPYPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 1, result.stdout + result.stderr
    assert errors, result.stdout
    assert all(line.startswith(bad.name) for line in errors), result.stdout
    assert "SinkFactory[ShelfConfig]" in errors[0]
    assert "from_config" in result.stdout
