"""Tests for syncd.redaction and the logging pipeline."""

from __future__ import annotations

import io
import json
import logging

import structlog

from syncd import logging as syncd_logging
from syncd import redaction


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
    syncd_logging.configure("debug", "json", stream)
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
    syncd_logging.configure("info", "json", stream)
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    assert stream.getvalue() == ""


def test_registry_is_bounded() -> None:
    """The known-values registry drops the oldest entries instead of growing forever."""
    for i in range(redaction._MAX_KNOWN + 50):
        redaction.register(f"value-{i:08d}")
    assert len(redaction._registry) <= redaction._MAX_KNOWN
    assert "value-00000000" in redaction.scrub("value-00000000")  # evicted
    assert redaction.scrub(f"x value-{redaction._MAX_KNOWN + 49:08d} y") == "x *** y"


def test_prose_about_tokens_survives() -> None:
    """Error prose mentioning a token or a path ending in 'secret' is not mangled."""
    text = "mounts/secret: permission denied; the token itself is expired"
    assert redaction.scrub(text) == text


def test_longest_known_value_wins_and_overlaps_are_masked() -> None:
    """A URI registered with its password is masked whole; adjacent values both go."""
    redaction.register("pw-abc-123", "postgresql://u:pw-abc-123@h/db")
    assert redaction.scrub("uri=postgresql://u:pw-abc-123@h/db.") == "uri=***."
    assert redaction.scrub("pw-abc-123pw-abc-123") == "******"
