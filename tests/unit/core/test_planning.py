"""Tests for syncd.core.planning: the decision table, rendering, messages, crash wrapping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from syncd.core import timebox
from syncd.core.fingerprint import Fingerprint
from syncd.core.models import (
    Action,
    ConnectionInfo,
    Owner,
    RotationMark,
    SecretState,
    SinkBinding,
    Target,
)
from syncd.core.planning import (
    check_owner,
    decide,
    failure,
    provider_crashed,
    render_binding,
    sink_crashed,
    time_box,
    unexpected,
    where,
    write_request,
)
from syncd.errors import (
    ProviderError,
    ProviderResponseError,
    SecretNotManaged,
    SecretOwnedElsewhere,
    SinkError,
    SinkUnavailable,
    SyncdError,
)


def conn() -> ConnectionInfo:
    return ConnectionInfo.parse(
        "postgresql://u:pw-plan-123@h.example/db?sslmode=require",
        project="p1",
        branch="main",
        pooled=False,
    )


def test_decide_table() -> None:
    """The decision table: missing, foreign, unchanged, drift, update."""
    fp = Fingerprint.of("v1")
    assert decide(SecretState.missing(), "v1", adopt=False, where="w") is Action.CREATE
    with pytest.raises(SecretNotManaged):
        decide(SecretState(exists=True), "v1", adopt=False, where="w")
    assert decide(SecretState(exists=True), "v1", adopt=True, where="w") is Action.UPDATE
    assert decide(SecretState(True, True, fp), "v1", adopt=False, where="w") is Action.UNCHANGED
    assert decide(SecretState(True, True, None), "v1", adopt=False, where="w") is Action.DRIFT
    assert decide(SecretState(True, True, fp), "v2", adopt=False, where="w") is Action.UPDATE


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (None, Action.UNCHANGED),  # managed, nothing recorded: nothing to compare
        (Owner("prod", "t"), Action.UNCHANGED),
        (Owner(None, "t"), Action.UNCHANGED),  # older syncd: the target name decides
        (Owner("staging", "t"), SecretOwnedElsewhere),
        (Owner("prod", "other"), SecretOwnedElsewhere),
        (Owner(None, "other"), SecretOwnedElsewhere),
    ],
)
def test_decide_ownership(recorded: Owner | None, expected: object) -> None:
    """A secret owned by another instance or target is refused; its own and legacy ones are not."""
    fp = Fingerprint.of("v1")
    state = SecretState(True, True, fp, owner=recorded)
    me = Owner("prod", "t")
    if expected is SecretOwnedElsewhere:
        with pytest.raises(SecretOwnedElsewhere, match="adopt: true"):
            decide(state, "v1", adopt=False, where="w", owner=me)
        assert decide(state, "v1", adopt=True, where="w", owner=me) is Action.UPDATE
    else:
        assert decide(state, "v1", adopt=False, where="w", owner=me) is expected


def test_where_names_the_secret_and_its_sink() -> None:
    """Messages name a binding by its secret and sink, in the words operators grep for."""
    assert where(SinkBinding("vault", "app/db", "uri")) == "secret app/db in sink vault"


def test_check_owner_refuses_what_decide_refuses_whatever_the_value() -> None:
    """The ownership check alone: someone else's secret refused, one's own and a new one allowed."""
    binding = SinkBinding("mem", "app/db", "uri")
    me = Owner("prod", "t")
    theirs = SecretState(True, True, Fingerprint.of("v1"), owner=Owner("staging", "t"))
    with pytest.raises(SecretOwnedElsewhere, match="secret app/db in sink mem"):
        check_owner(theirs, binding, me)
    with pytest.raises(SecretNotManaged):
        check_owner(SecretState(exists=True), binding, me)
    check_owner(SecretState(True, True, Fingerprint.of("v1"), owner=me), binding, me)
    check_owner(SecretState.missing(), binding, me)


def test_render_binding_uses_the_binding_format() -> None:
    """A binding's format and env_var shape the document."""
    binding = SinkBinding("mem", "app/env", "env", env_var="PG_URL")
    document = render_binding(conn(), binding, "w")
    assert document.text.startswith("PG_URL=postgresql://")


def test_render_binding_failure_names_the_secret_never_the_value() -> None:
    """A value the format cannot hold fails that binding, named by ``where``, without the URI."""
    binding = SinkBinding("mem", "app/env", "env", env_var="1-not-a-name")
    with pytest.raises(ProviderResponseError, match="nothing was written") as caught:
        render_binding(conn(), binding, "secret app/env in sink mem")
    assert str(caught.value).startswith("secret app/env in sink mem: ")
    assert "pw-plan-123" not in str(caught.value)


def test_write_request_carries_what_the_sink_records() -> None:
    """The request holds the document's fingerprint, the observed state, the owner and the mark."""
    binding = SinkBinding("mem", "app/db", "uri")
    document = render_binding(conn(), binding, "w")
    state = SecretState.missing()
    mark = RotationMark(datetime(2024, 1, 1, tzinfo=UTC), "u")
    request = write_request(
        Target("t", "prov", "p1"), binding, document, state, Action.CREATE, instance="prod"
    )
    assert (request.target, request.secret, request.action) == ("t", "app/db", Action.CREATE)
    assert request.observed is state and request.rotation is None
    assert request.fingerprint.matches(document.text) and request.owner == Owner("prod", "t")
    rotated = write_request(
        Target("t", "prov", "p1"),
        binding,
        document,
        state,
        Action.UPDATE,
        instance="prod",
        rotation=mark,
    )
    assert rotated.rotation == mark


def test_failure_fields_say_what_and_whether_to_retry() -> None:
    """An expected failure is logged with its message, its type and whether it is transient."""
    fields = failure(SinkUnavailable("vault sink v: sealed"))
    assert fields == {
        "error": "vault sink v: sealed",
        "error_type": "SinkUnavailable",
        "transient": True,
    }
    assert failure(SinkError("refused"))["transient"] is False


def test_unexpected_names_the_type_never_the_message() -> None:
    """A plugin's unexpected exception becomes our error; its message (maybe a secret) is dropped."""
    exc = KeyError("postgresql://u:hunter2@h/db")
    error = unexpected(SyncdError, exc, "rotation of target t")
    assert type(error) is SyncdError
    assert str(error) == "rotation of target t: unexpected KeyError"
    bare = unexpected(SyncdError, exc, then="while building the new configuration")
    assert str(bare) == "unexpected KeyError while building the new configuration"


def test_provider_and_sink_crashes_keep_their_messages() -> None:
    """The provider and sink wrappings read as they always did, in their own error classes."""
    provider = provider_crashed("neon", RuntimeError("x"))
    sink = sink_crashed("secret a in sink b", RuntimeError("x"))
    assert isinstance(provider, ProviderError) and isinstance(sink, SinkError)
    assert str(provider) == "provider neon: unexpected RuntimeError"
    assert str(sink) == "secret a in sink b: unexpected RuntimeError in sink plugin"


def test_time_box_is_named_for_the_target_and_carries_stop() -> None:
    """A target's time box names the target in its timeout and ends its waits on ``stop``."""
    stop = threading.Event()
    with time_box(Target("t", "prov", "p1"), 5.0, stop=stop, clock=lambda: 0.0) as box:
        assert box.name == "target t"
        assert timebox.current() is box
        assert box.stop is stop
