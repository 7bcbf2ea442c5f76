"""Which AWS error answers are retried, and which say "slow down": botocore decides.

The AWS sink reads through two clients, botocore and its own lean
``DescribeSecret`` (:mod:`syncd.sinks.awsjson`). Both must agree on what is
worth another attempt and on what throttling is, and both must agree with
botocore's standard retry mode, which the sink configures. So neither keeps a
list: :func:`retryable` asks botocore's ``StandardRetryConditions`` and
:func:`throttling` its ``ThrottledRetryableChecker`` (both in
``botocore.retries.standard``), with a ``RetryContext`` built from the answer
and Secrets Manager's operation model, the way botocore asks them about its
own answers. A botocore upgrade that learns a new code changes both paths at
once. Decisions are cached per answer kind: the model is loaded once (about
15 ms), on the first error answer, never on the unchanged cycle's path.

One deliberate difference: botocore counts ``LimitExceededException`` as
throttling, but Secrets Manager sends it for a resource quota (too many
versions or secrets), which no slower request rate fixes. It is retried like
botocore retries it, but it does not slow the sink's limiter down and is not
reported as a throttled request.

botocore is imported on first use, by which time the sink has imported it.
"""

from __future__ import annotations

import functools
from typing import Any

SERVICE = "secretsmanager"
#: Throttling to botocore, a quota to Secrets Manager (see the module docstring).
QUOTA_CODES = frozenset({"LimitExceededException"})


@functools.cache
def _standard() -> Any:
    import botocore.retries.standard  # noqa: PLC0415 - only an AWS sink gets here

    return botocore.retries.standard


@functools.cache
def _conditions() -> tuple[Any, Any]:
    standard = _standard()
    return standard.StandardRetryConditions(), standard.ThrottledRetryableChecker()


@functools.cache
def _service_model() -> Any:
    # Straight from botocore's data loader: a Session would read the AWS config files.
    import botocore.loaders  # noqa: PLC0415 - see _standard
    import botocore.model  # noqa: PLC0415

    loader = botocore.loaders.create_loader()
    return botocore.model.ServiceModel(loader.load_service_model(SERVICE, "service-2"), SERVICE)


def _context(operation: str | None, status: int, code: str) -> Any:
    import botocore.awsrequest  # noqa: PLC0415 - see _standard
    from botocore.compat import HTTPHeaders  # noqa: PLC0415

    return _standard().RetryContext(
        attempt_number=1,
        operation_model=_service_model().operation_model(operation) if operation else None,
        parsed_response={"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        http_response=botocore.awsrequest.AWSResponse("", status, HTTPHeaders(), None),
    )


@functools.lru_cache(maxsize=256)
def retryable(operation: str, status: int, code: str) -> bool:
    """Whether botocore's standard mode tries ``operation`` again after this error answer.

    ``status`` is the HTTP status and ``code`` the parsed error code. True for
    throttling and transient codes, 5xx statuses and errors the model marks
    retryable, as botocore decides for its own calls (the attempt budget
    aside: the caller counts attempts).
    """
    conditions, _ = _conditions()
    return bool(conditions.is_retryable(_context(operation, status, code)))


@functools.lru_cache(maxsize=256)
def throttling(code: str) -> bool:
    """Whether error ``code`` asks for a slower request rate: botocore's throttling codes.

    Less :data:`QUOTA_CODES`. An empty code (a success, or an answer without
    one) is never throttling.
    """
    if not code or code in QUOTA_CODES:
        return False
    _, throttled = _conditions()
    return bool(throttled.is_retryable(_context(None, 0, code)))
