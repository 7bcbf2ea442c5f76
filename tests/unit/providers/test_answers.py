"""Tests for turning a provider's answer into a connection or a secret, known to redaction first."""

from __future__ import annotations

import pytest

from syncd import redaction
from syncd.core.models import Target
from syncd.errors import ProviderResponseError
from syncd.providers import answers

URI = "postgresql://owner:Answ3redPw-77@ep-a.example/neondb?sslmode=require"
TARGET = Target(name="billing", provider="acme", project="proj_1", branch="dev", pooled=True)


def test_the_connection_carries_the_targets_project_branch_and_pooling() -> None:
    """connection_of parses the URI into parts and labels them with the target's place."""
    conn = answers.connection_of("acme", URI, TARGET, "the answer")
    assert (conn.username, conn.password.get_secret_value(), conn.host, conn.dbname) == (
        "owner",
        "Answ3redPw-77",
        "ep-a.example",
        "neondb",
    )
    assert (conn.project, conn.branch, conn.pooled) == ("proj_1", "dev", True)


def test_the_password_and_uri_are_masked_once_answered() -> None:
    """The answered password and URI are masked in any later log line."""
    answers.connection_of("acme", URI, TARGET, "the answer")
    assert redaction.scrub(f"uri={URI} pw=Answ3redPw-77") == "uri=*** pw=***"


def test_forgetting_the_target_forgets_its_password() -> None:
    """The password is held in the target's slot, so forgetting the target unmasks it."""
    answers.connection_of("acme", URI, TARGET, "the answer")
    assert redaction.forget_target("acme", "billing") == 1
    assert redaction.scrub("pw=Answ3redPw-77") == "pw=Answ3redPw-77"


def test_an_unusable_uri_is_a_response_error_naming_the_answer_and_still_masked() -> None:
    """A URI that does not parse is a ProviderResponseError prefixed by where; the URI is masked anyway."""
    bad = "postgresql://owner:Unpars3dPw-88@ep-a.example/neondb?sslmode=disable"
    with pytest.raises(ProviderResponseError, match=r"^the answer: .*does not require TLS") as info:
        answers.connection_of("acme", bad, TARGET, "the answer")
    assert "Unpars3dPw-88" not in str(info.value)
    assert redaction.scrub(f"got {bad}") == "got ***"


def test_an_answered_secret_is_masked_before_it_is_returned() -> None:
    """answered_secret registers the value, then hands it back as a SecretStr."""
    secret = answers.answered_secret("Res3tPassword-99")
    assert secret.get_secret_value() == "Res3tPassword-99"
    assert redaction.scrub("new Res3tPassword-99") == "new ***"
