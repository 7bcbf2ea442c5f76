"""Tests for syncd.redaction and the logging pipeline."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from urllib.parse import quote

import structlog
from pydantic import SecretStr

from syncd import logs, redaction


def test_patterns_mask_credentials_never_registered() -> None:
    """URI passwords, bearer tokens and key=value secrets are masked by shape."""
    text = (
        "postgresql://user:hunter2pw@db:5432/x Authorization: Bearer abcdef123456 "
        'password=topsecret "token": "s.vaulttoken9"'
    )
    out = redaction.scrub(text)
    for secret in ("hunter2pw", "abcdef123456", "topsecret", "s.vaulttoken9"):
        assert secret not in out
    assert "postgresql://user:***@db:5432/x" in out


def test_registered_values_are_masked_in_every_encoding() -> None:
    """A registered credential is masked raw, URL-encoded and JSON-escaped."""
    redaction.register('p@ss"word/42')
    for form in ('p@ss"word/42', "p%40ss%22word%2F42", 'p@ss\\"word/42'):
        assert "42" not in redaction.scrub(f"value {form} end")


def test_sensitive_keys_are_masked_whole() -> None:
    """Values under password/token/uri keys are replaced entirely."""
    out = redaction.scrub_value({"password": "x", "nested": {"api_key": "y"}, "target": "app"})
    assert out == {"password": "***", "nested": {"api_key": "***"}, "target": "app"}


def test_pipeline_scrubs_syncd_and_library_events_and_tracebacks() -> None:
    """structlog events, stdlib library records and exception tracebacks pass the redactor."""
    redaction.register("canary-pass-9f8e7d")
    stream = io.StringIO()
    logs.configure("debug", "json", stream)
    structlog.get_logger("syncd.x").info("evt", detail="has canary-pass-9f8e7d inside")
    logging.getLogger("botocore.endpoint").debug(
        "body=%s", '{"SecretString": "canary-pass-9f8e7d"}'
    )
    try:
        raise ValueError("boom canary-pass-9f8e7d")
    except ValueError:
        structlog.get_logger("syncd.x").exception("failed")
    output = stream.getvalue()
    assert "canary-pass-9f8e7d" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["event"] == "evt"
    assert {"timestamp", "level", "event"} <= set(lines[0])
    assert any("Traceback" in line.get("exception", "") for line in lines)


def test_library_noise_is_quiet_at_info() -> None:
    """At info level, httpx/botocore chatter below WARNING is dropped."""
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    assert stream.getvalue() == ""


def test_prose_about_tokens_survives() -> None:
    """Error prose mentioning a token or a path ending in 'secret' is not mangled."""
    text = "mounts/secret: permission denied; the token itself is expired"
    assert redaction.scrub(text) == text


def test_amz_security_token_bytes_repr_is_masked_by_pattern() -> None:
    """botocore's header dump ``'X-Amz-Security-Token': b'...'`` loses the token even if unknown."""
    out = redaction.scrub("headers={'X-Amz-Security-Token': b'FwoGZXIvYXdzEXAMPLE', 'A': b'1'}")
    assert "FwoGZXIvYXdzEXAMPLE" not in out
    assert "'X-Amz-Security-Token': b'***'" in out


def test_secret_names_are_not_sensitive_keys_but_credentials_are() -> None:
    """``secret`` and ``secret_name`` are identifiers; keys naming a credential are masked."""
    names = {"secret": "prod/app/db", "secret_name": "x/y", "api_key_file": "/run/key"}
    assert redaction.scrub_value(names) == names
    credentials = {
        "password": "a",
        "db_password": "b",
        "X-Amz-Security-Token": "c",
        "sessionToken": "d",
        "secret_id": "e",
        "SecretString": "f",
        "aws_secret_access_key": "g",
        "connectionUri": "h",
        "Authorization": "i",
    }
    assert set(redaction.scrub_value(credentials).values()) == {redaction.MASK}


def test_pattern_shortcut_never_skips_a_credential_shape() -> None:
    """Every pattern still masks its shape in any letter case, ASCII or not, with the shortcut."""
    samples = (
        "redis://u:Hunter2pw@h",
        "AUTHORIZATION: BEARER abcdef123456",
        "authorization: Basic abcdef123456",
        "PassWord = topsecret9",
        "{'TOKEN': 'abcdef123456'}",
        "X-Vault-Token: hvs.abcdef123",
    )
    for sample in samples:
        secret = sample.rsplit(" ", 1)[-1].split(":")[-1].split("@")[0].strip("'}")
        for text in (sample, f"é {sample}", f"{sample} \u212a"):
            assert secret not in redaction.scrub(text), text
    # U+017F (long s) folds to 's' in the patterns' IGNORECASE: no ASCII shortcut for it.
    assert "abcdef123456" not in redaction.scrub("Ba\u017fic abcdef123456")


def test_every_credential_any_target_holds_is_masked_at_10000_targets() -> None:
    """10,000 targets synced through the case.dev provider: the first one's password, fetched
    first, is still masked in every encoding after all the others, and so is its previous one."""
    import httpx

    from syncd.core.engine import Engine
    from syncd.core.models import SinkBinding, Target
    from syncd.providers.casedev import CaseDevProvider
    from syncd.testing.casedev import FakeCaseDev
    from syncd.testing.fakes import MemorySink

    api = FakeCaseDev("cdk_canary_key_000000")
    count = 10_000
    passwords: list[str] = []
    for i in range(count):
        password = f"pw{i:05d}x{secrets.token_urlsafe(12)}"
        passwords.append(password)
        uri = f"postgresql://app_{i}:{password}@ep-{i}.db.example/neondb?sslmode=require"
        api.set_branch(f"proj-{i}", "main", direct=uri, pooled=uri)
    provider = CaseDevProvider(
        "casedev",
        api_key=SecretStr(api.api_key),
        base_url="https://api.case.dev",
        rate_limit=None,
        transport=httpx.MockTransport(api.handle),
    )
    targets = [
        Target(f"t{i}", "casedev", f"proj-{i}", sinks=(SinkBinding("mem", f"s{i}"),))
        for i in range(count)
    ]
    previous = passwords[0]
    rotated = f"pw00000y{secrets.token_urlsafe(12)}"  # the first target's next credential
    engine = Engine({"casedev": provider}, {"mem": MemorySink("mem")}, concurrency=8)
    assert engine.sync_target(targets[0]).ok
    api.set_branch(
        "proj-0",
        "main",
        direct=f"postgresql://app_0:{rotated}@ep-0.db.example/neondb?sslmode=require",
        pooled=f"postgresql://app_0:{rotated}@ep-0.db.example/neondb?sslmode=require",
    )
    report = engine.run_cycle(targets)  # the first target first, 9,999 after it
    provider.close()
    assert report.ok
    for value in (rotated, previous, passwords[1], passwords[-1]):
        for form in (value, quote(f"x {value}"), base64.b64encode(f"[{value}]".encode()).decode()):
            scrubbed = redaction.scrub(f"log line {form} end")
            assert form not in scrubbed and value not in scrubbed, form
            assert redaction.MASK in scrubbed


def test_forgetting_a_target_drops_its_slots_only() -> None:
    """A target a reload removed: its passwords are no longer known; the others' still are."""
    redaction.forget_all()
    redaction.register("pw-gone-target-1", slot=redaction.connection_slot("cd", "gone", "app"))
    redaction.register("pw-gone-target-2", slot=redaction.connection_slot("cd", "gone", "ro"))
    redaction.register("pw-kept-target-1", slot=redaction.connection_slot("cd", "gone2", "app"))
    assert redaction.forget_target("cd", "gone") == 2
    assert redaction.scrub("a pw-gone-target-1 b") == "a pw-gone-target-1 b"
    assert redaction.scrub("a pw-kept-target-1 b") == "a *** b"
    redaction.forget_all()
