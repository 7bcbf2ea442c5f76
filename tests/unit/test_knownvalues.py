"""Tests for the known-values registry: every encoding of a credential, bounded lifetimes, linear scans."""

from __future__ import annotations

import base64
import json
import threading

from pytest import MonkeyPatch

from syncd import knownvalues, redaction


def test_registry_is_bounded() -> None:
    """The known-values registry drops the oldest entries instead of growing forever."""
    for i in range(knownvalues.MAX_KNOWN + 50):
        redaction.register(f"value-{i:08d}")
    assert len(redaction._registry) <= knownvalues.MAX_KNOWN
    assert "value-00000000" in redaction.scrub("value-00000000")  # evicted
    assert redaction.scrub(f"x value-{knownvalues.MAX_KNOWN + 49:08d} y") == "x *** y"


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


def test_value_registered_then_logged_at_once_is_masked_in_every_encoding() -> None:
    """A value is masked by the very next scrub, in each of its encodings, though expansion is lazy."""
    value = 'pw "q\\é/8c1f x'
    for form in sorted(redaction.encodings(value)):
        redaction.forget_all()
        redaction.register(value)
        assert form not in redaction.scrub(f"<{form}>"), form


def test_value_with_a_lone_surrogate_is_masked_and_breaks_nothing() -> None:
    """A credential decoded from a JSON ``\\ud800`` escape is masked and does not break scrubbing."""
    value = "pw-\ud800-tail-9"
    redaction.register(value)
    assert redaction.scrub(f"a {value} b") == "a *** b"
    assert redaction.scrub("plain text") == "plain text"


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


def test_a_plain_value_has_only_its_url_encodings() -> None:
    """A value with nothing for JSON or repr() to escape is known raw and URL-encoded only."""
    assert knownvalues.encodings("plain-pw 42") == {"plain-pw 42", "plain-pw%2042", "plain-pw+42"}


def test_drop_slots_forgets_only_the_slots_under_the_prefix() -> None:
    """Dropping a prefix unmasks its slots' values, keeps other slots, and counts what it dropped."""
    registry = knownvalues.Registry()
    registry.add(["first-slot-value"], slot="neon:a:owner")
    registry.add(["second-slot-value"], slot="neon:a:app")
    registry.add(["other-slot-value"], slot="neon:b:owner")
    assert registry.drop_slots("neon:a:") == 2
    text = "first-slot-value second-slot-value other-slot-value"
    assert registry.mask(text) == "first-slot-value second-slot-value ***"


def test_clear_forgets_pinned_values_too() -> None:
    """After clear() nothing is masked, not even a pinned value."""
    registry = knownvalues.Registry()
    registry.add(["pinned-api-key-1"], pinned=True)
    assert registry.mask("pinned-api-key-1") == knownvalues.MASK
    registry.clear()
    assert registry.mask("pinned-api-key-1") == "pinned-api-key-1"
    assert len(registry) == 0
