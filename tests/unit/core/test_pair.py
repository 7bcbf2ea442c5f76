"""Tests for syncd.core.pair: the other connection fetched only when asked, and never mixed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from syncd.core.engine import Engine
from syncd.core.models import ConnectionInfo, SinkBinding, Target
from syncd.core.pair import fetch_pair, wants_other
from syncd.errors import ProviderResponseError
from syncd.testing.fakes import MemorySink, StaticProvider


def direct(pw: str, user: str = "app") -> str:
    return f"postgresql://{user}:{pw}@ep-x.example/db?sslmode=require"


def pooled(pw: str, user: str = "app") -> str:
    return f"postgresql://{user}:{pw}@ep-x-pooler.example/db?sslmode=require"


PRISMA = SinkBinding("mem", "app/prisma.env", "env", preset="prisma")
URI = SinkBinding("mem", "app/uri", "uri")


def target(*sinks: SinkBinding, pooled_target: bool = False) -> Target:
    return Target("app", "prov", "p1", pooled=pooled_target, sinks=sinks)


def provider(pw_direct: str = "pw-111111", pw_pooled: str = "pw-111111") -> StaticProvider:
    return StaticProvider(
        {("p1", "main", False): direct(pw_direct), ("p1", "main", True): pooled(pw_pooled)}
    )


class Sequenced(StaticProvider):
    """Hands out a new URI per call from a list, per (pooled)."""

    def __init__(self, answers: dict[bool, list[str]]) -> None:
        super().__init__()
        self.answers = answers

    def fetch(self, target: Target) -> ConnectionInfo:
        self.calls += 1
        uri = self.answers[target.pooled].pop(0)
        return ConnectionInfo.parse(uri, project=target.project, branch=target.branch, pooled=target.pooled)


@pytest.mark.parametrize(
    ("binding", "pooled_target", "expected"),
    [
        (URI, False, False),
        (SinkBinding("m", "s", "env", preset="libpq"), False, False),
        (SinkBinding("m", "s", "env", preset="spring"), True, False),
        (PRISMA, False, True),
        (PRISMA, True, True),
        (SinkBinding("m", "s", "json", keys=(("D", "direct_uri"),)), False, False),
        (SinkBinding("m", "s", "json", keys=(("D", "direct_uri"),)), True, True),
        (SinkBinding("m", "s", "json", keys=(("P", "pooled_uri"),)), True, False),
        (SinkBinding("m", "s", "json", keys=(("P", "pooled_uri"),)), False, True),
    ],
)
def test_only_a_binding_naming_the_other_connection_asks_for_it(
    binding: SinkBinding, pooled_target: bool, expected: bool
) -> None:
    """pooled_uri of a direct target, or direct_uri of a pooled one, asks; nothing else does."""
    assert wants_other(target(binding, pooled_target=pooled_target)) is expected


def test_a_target_that_does_not_ask_costs_one_fetch() -> None:
    """Without a binding needing both, the engine fetches once, as before."""
    prov = provider()
    outcome = Engine({"prov": prov}, {"mem": MemorySink("mem")}).sync_target(target(URI))
    assert outcome.ok and prov.calls == 1


@pytest.mark.parametrize("pooled_target", [False, True])
def test_prisma_gets_pooled_and_direct_from_one_cycle(pooled_target: bool) -> None:
    """A prisma binding makes the target fetch both connections, written into one document."""
    prov, sink = provider(), MemorySink("mem")
    outcome = Engine({"prov": prov}, {"mem": sink}).sync_target(
        target(PRISMA, URI, pooled_target=pooled_target)
    )
    assert outcome.ok and prov.calls == 2
    assert sink.read("app/prisma.env") == (
        f"DATABASE_URL={pooled('pw-111111')}\nDIRECT_URL={direct('pw-111111')}\n"
    )
    assert sink.read("app/uri") == (pooled if pooled_target else direct)("pw-111111")


def test_different_passwords_are_fetched_again_once() -> None:
    """A rotation between the two fetches costs one more pair of fetches, then both agree."""
    prov = Sequenced(
        {False: [direct("old-111111"), direct("new-222222")], True: [pooled("new-222222")] * 2}
    )
    conn, other = fetch_pair(prov.fetch, target(PRISMA))
    assert other is not None and prov.calls == 4
    assert conn.password.get_secret_value() == other.password.get_secret_value() == "new-222222"


@pytest.mark.parametrize(
    "answers",
    [
        {False: [direct("aaa-111111")] * 2, True: [pooled("bbb-222222")] * 2},
        {False: [direct("pw-111111", "one")] * 2, True: [pooled("pw-111111", "two")] * 2},
    ],
)
def test_credentials_that_keep_differing_fail_the_target_and_write_nothing(
    answers: dict[bool, list[str]],
) -> None:
    """Users or passwords that still differ after the second try fail the target in one line."""
    prov, sink = Sequenced(answers), MemorySink("mem")
    outcome = Engine({"prov": prov}, {"mem": sink}).sync_target(target(PRISMA, URI))
    assert isinstance(outcome.error, ProviderResponseError)
    message = str(outcome.error)
    assert "\n" not in message and "different credentials" in message
    assert "aaa-111111" not in message and "bbb-222222" not in message
    assert sink.writes == 0 and prov.calls == 4


def test_the_other_connection_failing_fails_the_target() -> None:
    """A provider without a pooled connection fails the target asking for it, naming why."""
    prov = StaticProvider({("p1", "main", False): direct("pw-111111")})
    sink = MemorySink("mem")
    outcome = Engine({"prov": prov}, {"mem": sink}).sync_target(target(PRISMA, URI))
    assert outcome.error is not None and "not found" in str(outcome.error)
    assert sink.writes == 0


def test_an_unsafe_env_value_fails_only_its_binding() -> None:
    """A password env files cannot hold fails the libpq binding; the URI and json ones are written."""
    prov = StaticProvider({("p1", "main", False): direct("pa%20ss%23%24%22")})
    sink = MemorySink("mem")
    libpq = SinkBinding("mem", "app/libpq.env", "env", preset="libpq")
    as_json = replace(libpq, secret="app/libpq.json", format="json")
    outcome = Engine({"prov": prov}, {"mem": sink}).sync_target(target(libpq, URI, as_json))
    failed = {o.secret: o for o in outcome.sinks if o.error is not None}
    assert list(failed) == ["app/libpq.env"]
    assert "PGPASSWORD" in str(failed["app/libpq.env"].error)
    assert "pa ss" not in str(failed["app/libpq.env"].error)
    assert sink.read("app/libpq.env") is None
    assert sink.read("app/uri") == direct("pa%20ss%23%24%22")
