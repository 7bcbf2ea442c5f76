"""The AWS sink's calls to Secrets Manager: paced per attempt, observed, and translated.

Every HTTP attempt (botocore's retries included) is paced by one of two
:class:`~syncd.net.ratelimit.TokenBucket` limiters shared by all workers,
writes (:data:`WRITE_OPERATIONS`) or reads, through botocore's event hooks:
``before-send`` waits for the limiter, ``response-received`` slows it down
on a throttling answer (honouring ``Retry-After``, read by
:mod:`syncd.net.retry`), and ``needs-retry`` raises what a retry would meet
(:class:`~syncd.errors.RateLimited`, an open breaker) before botocore sleeps
its own backoff. ``DescribeSecret`` goes through syncd's lean reader
(:mod:`syncd.sinks.awsjson`) when the sink has one.

Every vendor error is turned here into syncd's error tree, with an actionable
message naming the operation and the secret: a denial names the IAM action
to allow, an unreachable endpoint the cause (DNS, refused, TLS, timeout).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog

from syncd import errors
from syncd.core import breaker
from syncd.net import cause as netcause
from syncd.net.observe import Outcome, RequestObserver, http_outcome
from syncd.net.ratelimit import TokenBucket
from syncd.net.retry import parse_retry_after
from syncd.net.untrusted import one_line
from syncd.redaction import scrub
from syncd.sinks import awsdescribe, awsretry
from syncd.sinks.awsjson import JsonReader

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

#: Calls are logged under the sink's module, the name operators know from its log lines.
_LOGGER = "syncd.sinks.aws_secrets_manager"
log = structlog.get_logger(_LOGGER)
# Checked before building the per-call debug event (see syncd.core.engine).
_debug_enabled = logging.getLogger(_LOGGER).isEnabledFor

_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "KMSAccessDeniedException",
        "DecryptionFailure",
        "EncryptionFailure",
    }
)
#: Failures at AWS's end that a later attempt may not meet; throttling is botocore's word
#: (:func:`syncd.sinks.awsretry.throttling`), the same on both of the sink's read paths.
_SERVER_FAULT_CODES = frozenset({"InternalServiceError", "InternalFailure", "ServiceUnavailable"})
#: Operations paced by the write limiter; every other one is a read.
WRITE_OPERATIONS = frozenset(
    {
        "PutSecretValue",
        "UpdateSecret",
        "UpdateSecretVersionStage",
        "CreateSecret",
        "TagResource",
        "UntagResource",
        "DeleteSecret",
        "RestoreSecret",
    }
)


class SecretsManagerApi:
    """One sink's Secrets Manager client, with its limiters and its lean reader (if any)."""

    def __init__(
        self,
        name: str,
        client: SecretsManagerClient,
        *,
        writes: TokenBucket,
        reads: TokenBucket,
        reader: JsonReader | None = None,
    ) -> None:
        self.name = name
        self.writes = writes
        self.reads = reads
        self._client = client
        # DescribeSecret, the one call of an unchanged cycle, skips botocore when it can.
        self._reader = reader
        # Per attempt, so botocore's own retries are paced and slowed down too.
        events = client.meta.events
        events.register("before-send.secrets-manager", self._pace)
        events.register("response-received.secrets-manager", self._adapt)
        events.register("needs-retry.secrets-manager", self._before_retry)

    def describe(self, secret: str) -> dict[str, Any]:
        """``DescribeSecret`` of a secret that must exist (SinkConflict: deleted meanwhile)."""
        return self.existing("DescribeSecret", secret, SecretId=secret)

    def existing(self, operation: str, secret: str, **params: Any) -> dict[str, Any]:
        """:meth:`call` on a secret that was inspected: gone since is a conflict, not a 404."""
        try:
            return self.call(operation, secret, **params)
        except errors.SecretNotFound as exc:
            raise errors.SinkConflict(
                f"aws sink {self.name}: secret {secret} was deleted since it was inspected"
            ) from exc

    def call(self, operation: str, secret: str, **params: Any) -> dict[str, Any]:
        """Send ``operation`` with ``params``; the answer, or the error translated into syncd's.

        Raises :class:`~syncd.errors.SecretNotFound` for a missing secret and
        the other :class:`~syncd.errors.SinkError` subclasses like
        :meth:`Sink.inspect <syncd.sinks.base.Sink.inspect>`.
        """
        result: dict[str, Any]
        import botocore  # noqa: PLC0415 - see syncd.sinks.awsclient
        import botocore.exceptions  # noqa: PLC0415

        reader = self._reader if operation == "DescribeSecret" else None
        where = f"aws sink {self.name}: {operation} on secret {secret}"
        try:
            if reader is not None:
                result = reader.call(operation, params)
            else:
                # botocore's own operation-to-method naming (PutSecretValue -> put_secret_value).
                result = getattr(self._client, botocore.xform_name(operation))(**params)
        except (AttributeError, TypeError, KeyError, RecursionError) as exc:
            if reader is not None:
                raise  # syncd's own reader checks what it parses: this would be a bug
            # botocore's parser trusts the answer to have the model's shape: a list where
            # it expects an object, or JSON nested too deep for json.loads, crashes it.
            raise errors.SinkError(
                f"{where}: the answer is not shaped like Secrets Manager's "
                f"(botocore could not parse it: {type(exc).__name__})"
            ) from exc
        except botocore.exceptions.ClientError as exc:
            raise self._translate(operation, secret, exc) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise errors.SinkAuthError(
                f"aws sink {self.name}: no AWS credentials found (env, profile, web identity "
                "or instance role)"
            ) from exc
        except (
            botocore.exceptions.ConnectionError,  # endpoint, connect timeout, TLS, proxy
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
        ) as exc:
            raise errors.SinkUnreachable(f"aws sink {self.name}: {unreachable(exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise errors.SinkError(f"{where} failed: {one_line(scrub(str(exc)), 300)}") from exc
        if operation == "DescribeSecret" and (problem := awsdescribe.shape_problem(result)):
            raise errors.SinkError(
                f"{where}: the answer is not shaped like Secrets Manager's: {problem}"
            )
        if _debug_enabled(logging.DEBUG):
            log.debug("aws_call", sink=self.name, operation=operation, secret=secret)
        return result

    def _translate(self, operation: str, secret: str, exc: Any) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        if message.lstrip().startswith("<"):
            # An XML error body on this JSON API (seen from proxies and emulators): dig it out.
            code = _xml_field(message, "Code") or code
            message = _xml_field(message, "Message") or ""
        if code.isdigit() and int(code) == 403:  # noqa: PLR2004 - HTTP Forbidden
            code = "AccessDeniedException"
        # Both may be any endpoint's text (an HTML page, a proxy's): one line, capped.
        code = one_line(code, 64)
        message = one_line(scrub(message), 300)
        where = f"aws sink {self.name}: {operation} on secret {secret}"
        if code == "ResourceNotFoundException":
            return errors.SecretNotFound(where)
        if code in _AUTH_CODES:
            return errors.SinkAuthError(
                f"{where} denied ({code}): allow secretsmanager:{operation} on this secret"
                + (f" - {message}" if message else "")
            )
        if code in _SERVER_FAULT_CODES or awsretry.throttling(code):
            return errors.SinkUnavailable(
                f"{where} throttled or failed at AWS ({code}); retrying later"
            )
        if code == "InvalidParameterException" and operation == "UpdateSecretVersionStage":
            # The label is no longer on the version we named: someone moved it meanwhile.
            return _StageMoved(f"{where}: {message}")
        if code == "ResourceExistsException":
            return errors.SinkConflict(f"{where}: the secret was created by someone else meanwhile")
        return errors.SinkError(f"{where} failed ({code}): {message}")

    def move_stage(self, secret: str, stage: str, to: str | None, away: str | None) -> None:
        """Move label ``stage`` to version ``to`` from ``away`` (None: add, or remove).

        AWS refuses the move when ``stage`` is not on ``away``: another writer
        moved it, which is a :class:`~syncd.errors.SinkConflict`.
        """
        params: dict[str, Any] = {"SecretId": secret, "VersionStage": stage}
        if to is not None:
            params["MoveToVersionId"] = to
        if away is not None:
            params["RemoveFromVersionId"] = away
        try:
            self.existing("UpdateSecretVersionStage", secret, **params)
        except _StageMoved as exc:
            raise self.changed(secret) from exc

    def tag(self, secret: str, tags: dict[str, str]) -> None:
        """Set ``tags`` on the secret (others' tags stay)."""
        self.existing(
            "TagResource",
            secret,
            SecretId=secret,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    def changed(self, secret: str) -> errors.SinkConflict:
        """The conflict of a secret another writer changed since it was inspected."""
        return errors.SinkConflict(
            f"aws sink {self.name}: secret {secret} changed since it was inspected "
            "(another writer); retried next cycle"
        )

    def close(self) -> None:
        """Close the clients' connection pools."""
        self._client.close()
        if self._reader is not None:
            self._reader.close()

    def observe(self, observer: RequestObserver) -> None:
        """Report every HTTP attempt, botocore's retries included, to ``observer``."""

        def received(**event: Any) -> None:
            if isinstance(event.get("exception"), errors.SyncdError):
                return  # refused by syncd itself (a limiter, a signal): nothing was sent
            observer.request("sink", self.name, _outcome(event))

        # botocore emits response-received once per attempt, with the parsed error if any.
        self._client.meta.events.register("response-received.secrets-manager", received)
        if self._reader is not None:
            self._reader.observer = observer

    def _limiter(self, event_name: str) -> TokenBucket:
        operation = event_name.rpartition(".")[2]
        return self.writes if operation in WRITE_OPERATIONS else self.reads

    def _pace(self, event_name: str, **_event: Any) -> None:
        """``before-send``: wait for the operation's limiter (None lets botocore send)."""
        self._limiter(event_name).acquire()

    def _adapt(self, event_name: str, **event: Any) -> None:
        """``response-received``: a throttling answer slows the operation's limiter."""
        if _outcome(event) != "throttled":
            return
        headers = (event.get("response_dict") or {}).get("headers") or {}
        self._limiter(event_name).throttled(parse_retry_after(headers.get("Retry-After")))

    def _before_retry(self, event_name: str, **event: Any) -> None:
        """``needs-retry``: raise now what the retry would meet, instead of sleeping first.

        botocore sleeps its own backoff before retrying a throttled, failed or
        unreachable attempt; when the operation's limiter would refuse that
        retry (a pause it does not wait out) or syncd is stopping, the sleep
        is skipped and the limiter's error ends the call. Answers botocore
        does not retry (success, not found, denied) pass untouched.
        """
        caught = event.get("caught_exception")
        if caught is not None and _is_unanswered(caught) and not breaker.keep_trying():
            # The sink's breaker opened on this attempt: no more attempts at a hung endpoint.
            raise errors.SinkUnreachable(f"aws sink {self.name}: {unreachable(caught)}") from caught
        if caught is None:
            response = event.get("response")
            if response is None:
                return
            http, parsed = response
            code = str((parsed or {}).get("Error", {}).get("Code", ""))
            status = int(getattr(http, "status_code", 0))
            if classify(status, code) != "throttled" and status < 500:  # noqa: PLR2004
                return
        self._limiter(event_name).check()


def unreachable(exc: BaseException) -> str:
    """Say which endpoint could not be reached and why (DNS, refused, TLS, timeout).

    botocore's message names neither well; the cause is found by walking the
    chain of exceptions (botocore wraps urllib3, which wraps the socket error).
    """
    kwargs = getattr(exc, "kwargs", None) or {}
    url = str(kwargs.get("endpoint_url") or "")
    parts = urlsplit(url)
    endpoint = f"{parts.scheme}://{parts.hostname}" if parts.hostname else "its endpoint"
    if parts.hostname and parts.port:
        endpoint += f":{parts.port}"
    return f"cannot reach Secrets Manager at {endpoint} ({_cause(exc, parts.hostname)})"


def _is_unanswered(exc: BaseException) -> bool:
    """Whether botocore's ``exc`` means no answer at all (what the sink's breaker counts)."""
    import botocore.exceptions  # noqa: PLC0415 - see syncd.sinks.awsclient

    return isinstance(
        exc,
        (
            botocore.exceptions.ConnectionError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
        ),
    )


def _cause(exc: BaseException, host: str | None) -> str:
    import botocore.exceptions  # noqa: PLC0415 - see syncd.sinks.awsclient

    known = (
        (botocore.exceptions.ConnectTimeoutError, "connect timed out"),
        (botocore.exceptions.ReadTimeoutError, "timed out waiting for a response"),
        (botocore.exceptions.ConnectionClosedError, "connection closed before a response"),
    )
    return netcause.describe(exc, host, known)


class _StageMoved(errors.SinkError):
    """Internal: a staging label was not on the version named (re-raised as a conflict)."""


def _outcome(event: dict[str, Any]) -> Outcome:
    if event.get("exception") is not None or not event.get("response_dict"):
        return "unavailable"
    code = str((event.get("parsed_response") or {}).get("Error", {}).get("Code", ""))
    return classify(int(event["response_dict"].get("status_code", 0)), code)


def classify(status: int, code: str) -> Outcome:
    """The request outcome of an answer with HTTP ``status`` and error ``code`` ("" if none)."""
    if awsretry.throttling(code):
        return "throttled"
    if code == "ResourceNotFoundException":
        return "not_found"
    if code in _AUTH_CODES:
        return "denied"
    return http_outcome(status)


def _xml_field(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>([^<]*)</{tag}>", text)
    return match.group(1) if match else None
