"""Tests for syncd.redaction and the logging pipeline."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import threading
from urllib.parse import quote

import structlog
from pydantic import SecretStr
from pytest import MonkeyPatch

from syncd import knownvalues, logs, redaction


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


def test_registry_is_bounded() -> None:
    """The known-values registry drops the oldest entries instead of growing forever."""
    for i in range(knownvalues.MAX_KNOWN + 50):
        redaction.register(f"value-{i:08d}")
    assert len(redaction._registry) <= knownvalues.MAX_KNOWN
    assert "value-00000000" in redaction.scrub("value-00000000")  # evicted
    assert redaction.scrub(f"x value-{knownvalues.MAX_KNOWN + 49:08d} y") == "x *** y"


def test_prose_about_tokens_survives() -> None:
    """Error prose mentioning a token or a path ending in 'secret' is not mangled."""
    text = "mounts/secret: permission denied; the token itself is expired"
    assert redaction.scrub(text) == text


def test_longest_known_value_wins_and_overlaps_are_masked() -> None:
    """A URI registered with its password is masked whole; adjacent values both go."""
    redaction.register("pw-abc-123", "postgresql://u:pw-abc-123@h/db")
    assert redaction.scrub("uri=postgresql://u:pw-abc-123@h/db.") == "uri=***."
    assert redaction.scrub("pw-abc-123pw-abc-123") == "******"


def test_short_known_values_are_masked_as_whole_tokens_only() -> None:
    """A 4-character password is masked wherever it stands alone, never inside a longer word."""
    redaction.register("Qz7x")
    assert redaction.scrub("postgresql://u:Qz7x@h/d") == "postgresql://u:***@h/d"
    assert redaction.scrub('{"password": "Qz7x"}') == '{"password": "***"}'
    assert redaction.scrub("Qz7x") == "***"
    assert redaction.scrub("aQz7x Qz7xb Qz7x_") == "aQz7x Qz7xb Qz7x_"


def test_one_character_password_is_still_masked() -> None:
    """Even a one-character credential never appears in clear as a token of its own."""
    redaction.register("Z")
    assert redaction.scrub("pw=Z; Zebra") == "pw=***; Zebra"


def test_special_character_password_is_masked_in_botocore_body_dumps() -> None:
    """A password with quotes, a backslash and non-ASCII is masked in a double-escaped bytes repr."""
    password = "pw\"q'\\é-8c1f"
    redaction.register(password)
    document = json.dumps({"password": password}, separators=(",", ":"))
    for ascii_only in (True, False):
        body = json.dumps({"SecretString": document}, ensure_ascii=ascii_only).encode()
        for dump in (f"'body': {body!r}", repr(body.decode()), body.decode()):
            assert "8c1f" not in redaction.scrub(dump), dump


def test_base64_echo_is_masked_at_any_alignment() -> None:
    """Base64 of a known credential is masked alone and inside a longer base64 blob."""
    key = "cdk_live_4f9a7b2c1d0e"
    redaction.register(key)
    whole = base64.b64encode(key.encode()).decode()
    assert redaction.scrub(f"error: {whole}") == "error: ***"
    for prefix in (b"Bearer ", b"Bearer  ", b"x", b"abc"):
        blob = base64.b64encode(prefix + key.encode() + b"!tail").decode()
        inner = blob[len(prefix) * 4 // 3 + 2 : (len(prefix) + len(key)) * 4 // 3 - 2]
        assert inner not in redaction.scrub(f"echo {blob}"), prefix


def test_amz_security_token_bytes_repr_is_masked_by_pattern() -> None:
    """botocore's header dump ``'X-Amz-Security-Token': b'...'`` loses the token even if unknown."""
    out = redaction.scrub("headers={'X-Amz-Security-Token': b'FwoGZXIvYXdzEXAMPLE', 'A': b'1'}")
    assert "FwoGZXIvYXdzEXAMPLE" not in out
    assert "'X-Amz-Security-Token': b'***'" in out


def test_pinned_values_survive_any_number_of_rotations() -> None:
    """Pinned credentials are never evicted by the aging registry of fetched credentials."""
    redaction.register("cdk_pinned_api_key_0001", pinned=True)
    for i in range(knownvalues.MAX_KNOWN + 100):
        redaction.register(f"rotated-{i:08d}")
    assert redaction.scrub("key cdk_pinned_api_key_0001") == "key ***"
    assert "rotated-00000000" in redaction.scrub("rotated-00000000")


def test_slot_keeps_the_latest_generations_of_a_refreshed_credential() -> None:
    """A refreshed credential replaces its old value after one grace generation."""
    for generation in range(3):
        redaction.register(f"session-token-gen{generation}", slot="aws:test")
    out = redaction.scrub("session-token-gen0 session-token-gen1 session-token-gen2")
    assert out == "session-token-gen0 *** ***"


def test_forgetting_an_aging_value_keeps_it_when_also_pinned() -> None:
    """A value both pinned and fetched stays masked after its fetched copy ages out."""
    redaction.register("shared-credential-1", pinned=True)
    redaction.register("shared-credential-1")
    for i in range(knownvalues.MAX_KNOWN + 10):
        redaction.register(f"rotated-{i:08d}")
    assert redaction.scrub("shared-credential-1") == "***"


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


def test_value_registered_then_logged_at_once_is_masked_in_every_encoding() -> None:
    """A value is masked by the very next scrub, in each of its encodings, though expansion is lazy."""
    value = 'pw "q\\é/8c1f x'
    for form in sorted(redaction.encodings(value)):
        redaction.forget_all()
        redaction.register(value)
        assert form not in redaction.scrub(f"<{form}>"), form


def test_registration_is_lazy_and_expands_each_value_once(monkeypatch: MonkeyPatch) -> None:
    """Registering computes no encodings; the next read expands each new value once, repeats never."""
    calls: list[str] = []
    real = redaction.encodings

    def counting(value: str) -> set[str]:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(knownvalues, "encodings", counting)
    # Twice each, and fewer than the queue's bound, past which the registering thread expands.
    uris = [
        f"postgresql://owner:pw-{i:04d}-secret@h/db" for i in range(knownvalues.MAX_PENDING // 2 - 1)
    ]
    for uri in uris:
        redaction.register(uri)
        redaction.register(uri)
    assert calls == []
    assert redaction.scrub(f"x {uris[7]} y") == "x *** y"
    assert calls == uris
    for uri in uris:  # a daemon's next cycle fetches the same values
        redaction.register(uri)
    assert redaction.scrub(uris[0]) == "***"
    assert calls == uris


def test_pending_registrations_stay_bounded_without_readers() -> None:
    """A daemon that never logs still expands its queue, so it never grows past the bound."""
    for i in range(knownvalues.MAX_PENDING + 10):
        redaction.register(f"never-read-{i:06d}")
    assert len(redaction._registry._pending) < knownvalues.MAX_PENDING


def test_reregistered_value_is_kept_as_recent_and_old_values_age_out_whole() -> None:
    """A fetched value registered again outlives later ones; an evicted value loses all its forms."""
    redaction.register("refetched-credential-0")
    redaction.register("older-credential-0001")
    forms = len(redaction.encodings("value-00000000"))
    for i in range(knownvalues.MAX_KNOWN // forms - 4):
        redaction.register(f"value-{i:08d}")
        if i == 10:
            redaction.register("refetched-credential-0")
    for i in range(8):
        redaction.register(f"newer-{i:08d}")
    assert redaction.scrub("refetched-credential-0") == "***"
    assert redaction.scrub("older-credential-0001") == "older-credential-0001"


def test_value_with_a_lone_surrogate_is_masked_and_breaks_nothing() -> None:
    """A credential decoded from a JSON ``\\ud800`` escape is masked and does not break scrubbing."""
    value = "pw-\ud800-tail-9"
    redaction.register(value)
    assert redaction.scrub(f"a {value} b") == "a *** b"
    assert redaction.scrub("plain text") == "plain text"


def test_values_registered_concurrently_are_masked_by_any_later_scan() -> None:
    """A scan that starts after a registration returned masks it, while other threads register."""
    done: list[str] = []
    failures: list[str] = []

    def writer() -> None:
        for i in range(3000):
            value = f"concurrent-credential-{i:05d}"
            redaction.register(value)
            done.append(value)

    def reader() -> None:
        while len(done) < 3000:
            if done:
                value = done[-1]
                if value in redaction.scrub(f"[{value}]"):
                    failures.append(value)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


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
