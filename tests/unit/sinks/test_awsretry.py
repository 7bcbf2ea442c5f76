"""Retry and throttling decisions of the AWS sink come from botocore's standard retry mode."""

from __future__ import annotations

import pytest

from syncd.sinks import awsretry
from syncd.sinks.awsapi import classify


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "ThrottlingException", True),
        (400, "SlowDown", True),
        (400, "RequestTimeout", True),
        (400, "LimitExceededException", True),
        (500, "InternalServiceError", True),
        (503, "ServiceUnavailable", True),
        (400, "ResourceNotFoundException", False),
        (400, "AccessDeniedException", False),
        (400, "InvalidParameterException", False),
    ],
)
def test_retryable_is_botocores_decision(status: int, code: str, expected: bool) -> None:
    """What the lean read retries is what botocore's standard mode retries for DescribeSecret."""
    assert awsretry.retryable("DescribeSecret", status, code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", True),
        ("Throttling", True),
        ("TooManyRequestsException", True),
        ("RequestLimitExceeded", True),
        ("SlowDown", True),
        ("LimitExceededException", False),
        ("InternalServiceError", False),
        ("", False),
    ],
)
def test_throttling_is_botocores_list_less_quotas(code: str, expected: bool) -> None:
    """Throttling codes are botocore's, but a Secrets Manager quota is no request-rate signal."""
    assert awsretry.throttling(code) is expected
    assert (classify(400, code) == "throttled") is expected
