"""Tests for syncd.testing.sample: the demo project and the config that syncs it."""

from __future__ import annotations

from pathlib import Path

import httpx

from syncd import redaction
from syncd.config import settings as config_mod
from syncd.testing.casedev import FakeCaseDev
from syncd.testing.sample import BRANCHES, PROJECT, SampleProject, sample_config

API_KEY = "cdk_test_0123456789abcdef"


def answer(api: FakeCaseDev, branch: str, *, pooled: bool = False) -> str:
    """What the stand-in API answers for ``branch`` of the sample project."""
    with httpx.Client(
        transport=httpx.MockTransport(api.handle), base_url="https://api.case.dev"
    ) as client:
        response = client.get(
            f"/database/v1/projects/{PROJECT}/connection",
            params={"branch": branch, "pooled": "true" if pooled else "false"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    return response.text


def test_every_sample_branch_points_at_a_host_nothing_can_reach() -> None:
    """Both branches are served, with Neon-style URIs under .demo.invalid, pooler and direct."""
    api = FakeCaseDev(API_KEY)
    project = SampleProject(api)
    assert set(project.passwords) == set(BRANCHES)
    for branch in BRANCHES:
        text = answer(api, branch)
        assert f"ep-demo-{branch}.demo.invalid" in text
        assert f"ep-demo-{branch}-pooler.demo.invalid" in answer(api, branch, pooled=True)
        assert project.passwords[branch] in text


def test_rotate_gives_a_branch_a_new_password_that_is_redacted() -> None:
    """A rotation changes only that branch's password, and the new one is masked in logs."""
    api = FakeCaseDev(API_KEY)
    project = SampleProject(api)
    before = dict(project.passwords)
    project.rotate("main")
    assert project.passwords["main"] != before["main"]
    assert project.passwords["feature-auth"] == before["feature-auth"]
    assert project.passwords["main"] in answer(api, "main")
    assert project.passwords["main"] not in redaction.scrub(f"pw={project.passwords['main']}")


def test_the_sample_config_is_valid_and_has_three_file_targets(tmp_path: Path) -> None:
    """sample_config loads as a config: main direct, main pooled and the feature branch, into files."""
    data = sample_config("http://127.0.0.1:9", tmp_path / "out", key_file=tmp_path / "key")
    cfg = config_mod.load(None, data=data)
    targets = {t.name: t for t in cfg.targets}
    assert set(targets) == {"app-main", "app-main-pooled", "app-feature"}
    assert targets["app-main-pooled"].pooled
    assert targets["app-feature"].branch == "feature-auth"
    assert all(t.project == PROJECT for t in cfg.targets)
    assert [b.sink for t in cfg.targets for b in t.sinks] == ["local"] * 3
    assert data["providers"]["casedev"]["api_key_file"] == str(tmp_path / "key")


def test_with_aws_each_target_also_goes_to_secrets_manager(tmp_path: Path) -> None:
    """with_aws adds an AWS sink and a demo/<target> binding to every target."""
    data = sample_config("http://127.0.0.1:9", tmp_path, with_aws=True)
    cfg = config_mod.load(None, data=data)
    assert {t.name: [b.secret for b in t.sinks if b.sink == "aws"] for t in cfg.targets} == {
        "app-main": ["demo/app-main"],
        "app-main-pooled": ["demo/app-main-pooled"],
        "app-feature": ["demo/app-feature"],
    }
    assert "api_key_file" not in data["providers"]["casedev"]
