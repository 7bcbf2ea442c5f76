"""AWS Secrets Manager sink.

Change detection never calls ``GetSecretValue``. Each write passes the
value's fingerprint (:mod:`syncd.core.fingerprint`) as ``ClientRequestToken``, and
Secrets Manager makes that token the new version's ``VersionId``. So
``DescribeSecret`` alone tells, atomically with the write itself:

* which version is ``AWSCURRENT`` and whether syncd wrote it (a foreign
  version id is drift: someone wrote outside syncd);
* whether the fetched value equals the current one (the fingerprint matches).

The salt is fresh per write, so every token is unique: A -> B -> A creates a
third version, and retrying a failed call reuses its token, which AWS treats as
idempotent. Writing moves ``AWSCURRENT`` and leaves the previous version as
``AWSPREVIOUS``. Ownership is the ``managed-by=syncd`` tag; the owner
(``<instance>/<target>``) is the ``syncd:owner`` tag, set again (before the
value, so a crash leaves the new owner) whenever it is missing or changes.
The last rotation is the ``syncd:rotated-at`` and ``syncd:role`` tags.

Every HTTP attempt (botocore's retries included) is paced by one of two
:class:`~syncd.net.ratelimit.TokenBucket` limiters shared by all workers: writes
(``rate_limit``, default 40/s: PutSecretValue, UpdateSecret and
UpdateSecretVersionStage share AWS's 50/s) and reads (``read_rate_limit``,
default 5,000/s: DescribeSecret allows 10,000/s). A throttling answer halves
the limiter's rate and honours ``Retry-After`` (read by :mod:`syncd.net.retry`:
finite, at most :data:`~syncd.net.retry.MAX_SERVER_PAUSE`). A pause the limiter
does not wait out (one at that cap, or one past the target's deadline) makes
the call fail with :class:`~syncd.errors.RateLimited`: the ``needs-retry``
hook raises it before botocore sleeps its own backoff, and ``before-send``
before anything more is sent.

Rotation follows the staging contract of AWS's own rotation functions
(:class:`~syncd.sinks.base.Stager`): the new value is put as ``AWSPENDING``,
proven, then ``AWSCURRENT`` is moved to it (AWS moves ``AWSPREVIOUS`` to the
old current itself) and ``AWSPENDING`` is removed. Moving ``AWSCURRENT`` names
the version it is taken from, so a second writer that promoted meanwhile makes
the move fail (a conflict) instead of being overwritten.

The rotation lease (:class:`~syncd.sinks.base.Leaser`) uses the same
compare-and-set: a ``SYNCD_LEASE`` label moved onto a version of its own
(see :meth:`AwsSecretsManagerSink.take_lease`). A secret another rotator
manages (``RotationEnabled``, or an ``AWSPENDING`` whose id is not a syncd
fingerprint) is reported as such by :meth:`~AwsSecretsManagerSink.inspect`,
with no pending version, so rotation never touches it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import Field

from syncd import __version__, plugins, redaction
from syncd.config.strict import PluginConfig
from syncd.core import breaker
from syncd.core.fingerprint import Fingerprint
from syncd.core.lease import Lease, Record
from syncd.core.models import Owner, RotationMark, SecretState
from syncd.errors import (
    ConfigError,
    SecretNotFound,
    SinkAuthError,
    SinkConflict,
    SinkError,
    SinkUnavailable,
    SinkUnreachable,
    SyncdError,
)
from syncd.net import bounds as httpbounds
from syncd.net import cause as netcause
from syncd.net.observe import Outcome, RequestObserver, http_outcome
from syncd.net.ratelimit import TokenBucket
from syncd.net.retry import parse_retry_after
from syncd.net.untrusted import one_line
from syncd.redaction import scrub
from syncd.sinks import awsjson, awsretry
from syncd.sinks.awsjson import JsonReader
from syncd.sinks.base import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    MAX_CONCURRENCY,
    OWNER_KEY,
    TARGET_KEY,
    PreflightResult,
    SinkFactory,
    WriteRequest,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = structlog.get_logger(__name__)
# Checked before building the per-call debug event (see syncd.core.engine).
_debug_enabled = logging.getLogger(__name__).isEnabledFor

#: Tags of the rotation mark (:class:`~syncd.core.models.RotationMark`).
ROTATED_AT_TAG = "syncd:rotated-at"
ROLE_TAG = "syncd:role"
_CURRENT = "AWSCURRENT"
_PENDING = "AWSPENDING"
#: The label on the version that holds a target's rotation lease (see :meth:`take_lease`).
LEASE_STAGE = "SYNCD_LEASE"
#: The label a new lease version is put with, before the lease label is moved to it.
LEASE_NEXT_STAGE = "SYNCD_LEASE_NEXT"
#: The tag with the lease's intent and holder (:meth:`syncd.core.lease.Lease.encode`).
LEASE_TAG = "syncd:lease"
_LEASE_TOKEN = re.compile(r"syncd-lease-([0-9]{10})-([0-9a-f]{16})")

_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
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
#: Writes per second: under AWS's 50/s that PutSecretValue, UpdateSecret and
#: UpdateSecretVersionStage share per region (CreateSecret and TagResource too).
DEFAULT_WRITE_RATE = 40.0
#: Reads per second: DescribeSecret and GetSecretValue allow 10,000/s.
DEFAULT_READ_RATE = 5000.0
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


class AwsSecretsManagerConfig(PluginConfig):
    """The ``sinks.<name>`` section for ``type: aws-secrets-manager``."""

    type: Literal["aws-secrets-manager"] = "aws-secrets-manager"
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    profile: str | None = None
    endpoint_url: str | None = Field(
        default=None, description="default: $AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS"
    )
    kms_key_id: str | None = None
    description: str = "Managed by syncd: database connection"
    tags: dict[str, str] = Field(default_factory=dict)
    max_attempts: int = Field(default=5, ge=1, le=20)
    timeout: float = Field(default=10.0, gt=0, le=300)
    rate_limit: float = Field(
        default=DEFAULT_WRITE_RATE, gt=0, description="writes per second (AWS allows 50)"
    )
    burst: float | None = Field(default=None, ge=1, description="default: rate_limit")
    read_rate_limit: float = Field(
        default=DEFAULT_READ_RATE, gt=0, description="reads per second (AWS allows 10,000)"
    )
    read_burst: float | None = Field(default=None, ge=1, description="default: read_rate_limit")
    describe_via: Literal["syncd", "botocore"] = Field(
        default="syncd",
        description="the client that sends DescribeSecret: syncd's own (half the CPU), or "
        "botocore (when something intercepts botocore's requests in-process, as moto does)",
    )


class AwsSecretsManagerSink:
    """Writes each document as the ``SecretString`` of a Secrets Manager secret."""

    config_model: ClassVar[type[AwsSecretsManagerConfig]] = AwsSecretsManagerConfig

    def __init__(
        self,
        name: str,
        client: SecretsManagerClient,
        *,
        kms_key_id: str | None = None,
        description: str = "Managed by syncd: database connection",
        tags: dict[str, str] | None = None,
        writes: TokenBucket | None = None,
        reads: TokenBucket | None = None,
        reader: JsonReader | None = None,
    ) -> None:
        self.name = name
        self._client = client
        self._kms_key_id = kms_key_id
        self._description = description
        self._tags = dict(tags or {})
        where = f"aws sink {name}"
        self.writes = writes if writes is not None else TokenBucket(DEFAULT_WRITE_RATE, name=where)
        self.reads = reads if reads is not None else TokenBucket(DEFAULT_READ_RATE, name=where)
        # DescribeSecret, the one call of an unchanged cycle, skips botocore when it can.
        self._reader = reader
        # Per attempt, so botocore's own retries are paced and slowed down too.
        events = client.meta.events
        events.register("before-send.secrets-manager", self._pace)
        events.register("response-received.secrets-manager", self._adapt)
        events.register("needs-retry.secrets-manager", self._before_retry)

    @classmethod
    def from_config(cls, name: str, config: AwsSecretsManagerConfig) -> AwsSecretsManagerSink:
        """Build a client through botocore's standard credential chain.

        The region is ``region`` from the config, else ``$AWS_REGION``, else
        ``$AWS_DEFAULT_REGION``, else the profile's ``region`` - the order of
        the other AWS SDKs (botocore alone ignores ``AWS_REGION``). No region
        at all is a :class:`ConfigError`, raised before any target runs.
        """
        # Imported here: only deployments that use AWS pay for importing botocore.
        # botocore alone, not boto3: its resource layer and s3transfer cost 0.1 s a start.
        sessions = plugins.require("botocore.session", extra="aws", plugin=f"aws sink {name}")
        import botocore.config  # noqa: PLC0415 - installed with botocore.session
        import botocore.exceptions  # noqa: PLC0415

        no_region = (
            f"aws sink {name}: no AWS region; set sinks.{name}.region, AWS_REGION or "
            "AWS_DEFAULT_REGION"
        )
        try:
            session = sessions.Session(profile=config.profile)
            region = region_from(config, os.environ) or session.get_config_variable("region")
            if not region:
                raise ConfigError(no_region)
            client = session.create_client(
                "secretsmanager",
                region_name=region,
                endpoint_url=config.endpoint_url,
                config=botocore.config.Config(
                    retries={"mode": "standard", "total_max_attempts": config.max_attempts},
                    connect_timeout=config.timeout,
                    read_timeout=config.timeout,
                    max_pool_connections=MAX_CONCURRENCY,  # one per worker
                    user_agent_extra=f"syncd/{__version__}",
                ),
            )
        except botocore.exceptions.ProfileNotFound as exc:
            raise SinkAuthError(f"aws sink {name}: AWS profile {config.profile} not found") from exc
        except botocore.exceptions.NoRegionError as exc:
            raise ConfigError(no_region) from exc
        watch = _register_credentials(name, session, client)
        reads = TokenBucket(config.read_rate_limit, config.read_burst, name=f"aws sink {name}")
        reader = None
        if (
            config.describe_via == "syncd"
            and watch is not None
            and awsjson.equivalent(session, client)
        ):
            reader = awsjson.JsonReader(
                endpoint_url=client.meta.endpoint_url,
                region=client.meta.region_name,
                credentials=watch,
                reads=reads,
                timeout=config.timeout,
                max_attempts=config.max_attempts,
                name=name,
                classify=classify,
                transport=httpbounds.transport(awsjson.ssl_context(session)),
            )
        return cls(
            name,
            client,
            kms_key_id=config.kms_key_id,
            description=config.description,
            tags=config.tags,
            writes=TokenBucket(config.rate_limit, config.burst, name=f"aws sink {name}"),
            reads=reads,
            reader=reader,
        )

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        """Secrets Manager names: 1-512 of letters, digits and ``/_+=.@-``."""
        if not _NAME.fullmatch(secret):
            raise ValueError("AWS secret names are 1-512 characters of A-Z a-z 0-9 /_+=.@-")

    def inspect(self, secret: str) -> SecretState:
        """``DescribeSecret`` only: ownership tag and the AWSCURRENT version id."""
        try:
            described = self._call("DescribeSecret", secret, SecretId=secret)
        except SecretNotFound:
            return SecretState.missing()
        if described.get("DeletedDate"):
            raise SinkError(
                f"aws sink {self.name}: secret {secret} is scheduled for deletion; "
                "restore it (RestoreSecret) or choose another name"
            )
        tags = _tags(described)
        current, pending = _stages(described)
        if pending == current:
            pending = None
        foreign = _foreign_rotation(described, pending)
        return SecretState(
            exists=True,
            managed=tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE,
            fingerprint=Fingerprint.decode(current),
            version=current,
            owner=Owner.decode(tags.get(OWNER_KEY), legacy_target=tags.get(TARGET_KEY)),
            rotation=RotationMark.decode(tags.get(ROTATED_AT_TAG), tags.get(ROLE_TAG)),
            pending=None if foreign else pending,
            foreign_rotation=foreign,
        )

    def write(self, request: WriteRequest) -> str | None:
        """Create the secret or put a new AWSCURRENT version, tagged as syncd's."""
        token = request.fingerprint.encode()
        value = request.document.text
        ownership = _ownership(request)
        if not request.observed.exists:
            tags = {**self._tags, **ownership}
            params: dict[str, Any] = {
                "Name": request.secret,
                "SecretString": value,
                "ClientRequestToken": token,
                "Description": self._description,
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
            if self._kms_key_id:
                params["KmsKeyId"] = self._kms_key_id
            try:
                created = self._call("CreateSecret", request.secret, **params)
            except SecretNotFound as exc:  # pragma: no cover - CreateSecret does not answer 404
                raise SinkError(f"aws sink {self.name}: cannot create {request.secret}") from exc
            return str(created.get("VersionId", token))
        observed = request.observed
        if not observed.managed or observed.owner != request.owner or request.rotation:
            # Adopting, taking over, recording the owner an older syncd did not, or a
            # rotation's mark: claim first, so a crash after it still reads as ours (drift).
            self._tag(request.secret, ownership)
        put = self._call_existing(
            "PutSecretValue",
            request.secret,
            SecretId=request.secret,
            SecretString=value,
            ClientRequestToken=token,
        )
        return str(put.get("VersionId", token))

    def stage(self, request: WriteRequest) -> str:
        """Put the document as a new ``AWSPENDING`` version; AWSCURRENT does not move.

        The fingerprint token makes a retry of the same request the same
        version. Raises :class:`SinkConflict` when AWSCURRENT is no longer
        ``request.observed.version`` or the secret is gone.
        """
        current, _ = self._stages(request.secret)
        if current != request.observed.version:
            raise self._changed(request.secret)
        token = request.fingerprint.encode()
        put = self._call_existing(
            "PutSecretValue",
            request.secret,
            SecretId=request.secret,
            SecretString=request.document.text,
            ClientRequestToken=token,
            VersionStages=[_PENDING],
        )
        return str(put.get("VersionId", token))

    def promote(self, request: WriteRequest, version: str) -> None:
        """Tag owner and mark, move AWSCURRENT from the observed version, drop AWSPENDING.

        Tags go first, so a crash after them reads as a fresh rotation of ours
        (not due) whose pending version is still to be promoted or discarded.
        Retrying a promotion that moved AWSCURRENT already only cleans up.
        """
        current, pending = self._stages(request.secret)
        if current != version:
            if pending != version:
                raise SinkConflict(
                    f"aws sink {self.name}: version {version} of {request.secret} is not "
                    "staged (AWSPENDING); it was discarded or replaced"
                )
            if current != request.observed.version:
                raise self._changed(request.secret)
        self._tag(request.secret, _ownership(request))
        if current != version:
            self._move_stage(request.secret, _CURRENT, version, current)
        self.discard(request.secret, version)

    def discard(self, secret: str, version: str) -> None:
        """Remove ``AWSPENDING`` from ``version``; a no-op when it is not there (or no secret)."""
        with contextlib.suppress(SecretNotFound, SinkConflict):
            _, pending = self._stages(secret)
            if pending == version:
                self._move_stage(secret, _PENDING, None, version)

    # -- the rotation lease (syncd.sinks.base.Leaser) ------------------------

    def read_lease(self, secret: str) -> Record | None:
        """The version labelled ``SYNCD_LEASE``, read with the ``syncd:lease`` tag.

        The version id carries the holder and the expiry, so they are as
        reliable as the label; the tag adds the intent and the holder's
        process, and counts only when it names the same holder.
        """
        described = self._call_existing("DescribeSecret", secret, SecretId=secret)
        token = _labelled(described, LEASE_STAGE)
        if token is None:
            return None
        match = _LEASE_TOKEN.fullmatch(token)
        if match is None:
            return Record(token, None)
        expires = dt.datetime.fromtimestamp(int(match.group(1)), dt.UTC)
        tagged = Lease.decode(_tags(described).get(LEASE_TAG))
        if tagged is not None and tagged.holder == match.group(2):
            return Record(token, dataclasses.replace(tagged, expires=expires))
        return Record(token, Lease(match.group(2), expires))

    def take_lease(self, secret: str, lease: Lease, replacing: Record | None) -> Record:
        """Put a lease version, then move ``SYNCD_LEASE`` to it from ``replacing``'s version.

        The move is the compare-and-set: AWS refuses it when the label is not
        on the version named as ``RemoveFromVersionId`` (or, with none named,
        when the label is on any version), so of two runs only one moves it.
        The lease version holds no credential, only the holder's id; consumers
        never see it (it is never ``AWSCURRENT``), and versions without a label
        are removed by AWS in time. The tag goes on before and after the move,
        so a crash right after the move still leaves the intent readable.
        """
        token = f"syncd-lease-{int(lease.expires.timestamp()):010d}-{lease.holder}"
        self._tag(secret, {LEASE_TAG: lease.encode()})
        self._call_existing(
            "PutSecretValue",
            secret,
            SecretId=secret,
            SecretString=json.dumps({"syncd-lease": lease.holder}),
            ClientRequestToken=token,
            VersionStages=[LEASE_NEXT_STAGE],
        )
        self._move_stage(secret, LEASE_STAGE, token, replacing.token if replacing else None)
        self._tag(secret, {LEASE_TAG: lease.encode()})
        return Record(token, lease)

    def release_lease(self, secret: str, held: Record) -> None:
        """Take ``SYNCD_LEASE`` off ``held``'s version; a no-op once someone else moved it."""
        with contextlib.suppress(SinkConflict):
            self._move_stage(secret, LEASE_STAGE, None, held.token)

    def _stages(self, secret: str) -> tuple[str | None, str | None]:
        """The versions labelled AWSCURRENT and AWSPENDING (SinkConflict: secret gone)."""
        return _stages(self._call_existing("DescribeSecret", secret, SecretId=secret))

    def _move_stage(self, secret: str, stage: str, to: str | None, away: str | None) -> None:
        params: dict[str, Any] = {"SecretId": secret, "VersionStage": stage}
        if to is not None:
            params["MoveToVersionId"] = to
        if away is not None:
            params["RemoveFromVersionId"] = away
        try:
            self._call_existing("UpdateSecretVersionStage", secret, **params)
        except _StageMoved as exc:
            raise self._changed(secret) from exc

    def _tag(self, secret: str, tags: dict[str, str]) -> None:
        self._call_existing(
            "TagResource",
            secret,
            SecretId=secret,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    def _changed(self, secret: str) -> SinkConflict:
        return SinkConflict(
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
            if isinstance(event.get("exception"), SyncdError):
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
            raise SinkUnreachable(f"aws sink {self.name}: {unreachable(caught)}") from caught
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

    def _call_existing(self, operation: str, secret: str, **params: Any) -> dict[str, Any]:
        try:
            return self._call(operation, secret, **params)
        except SecretNotFound as exc:
            raise SinkConflict(
                f"aws sink {self.name}: secret {secret} was deleted since it was inspected"
            ) from exc

    def _call(self, operation: str, secret: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any]
        import botocore  # noqa: PLC0415 - see from_config
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
            raise SinkError(
                f"{where}: the answer is not shaped like Secrets Manager's "
                f"(botocore could not parse it: {type(exc).__name__})"
            ) from exc
        except botocore.exceptions.ClientError as exc:
            raise self._translate(operation, secret, exc) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise SinkAuthError(
                f"aws sink {self.name}: no AWS credentials found (env, profile, web identity "
                "or instance role)"
            ) from exc
        except (
            botocore.exceptions.ConnectionError,  # endpoint, connect timeout, TLS, proxy
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
        ) as exc:
            raise SinkUnreachable(f"aws sink {self.name}: {unreachable(exc)}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise SinkError(f"{where} failed: {one_line(scrub(str(exc)), 300)}") from exc
        if operation == "DescribeSecret" and (problem := _shape_problem(result)):
            raise SinkError(f"{where}: the answer is not shaped like Secrets Manager's: {problem}")
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
            return SecretNotFound(where)
        if code in _AUTH_CODES:
            return SinkAuthError(
                f"{where} denied ({code}): allow secretsmanager:{operation} on this secret"
                + (f" - {message}" if message else "")
            )
        if code in _SERVER_FAULT_CODES or awsretry.throttling(code):
            return SinkUnavailable(f"{where} throttled or failed at AWS ({code}); retrying later")
        if code == "InvalidParameterException" and operation == "UpdateSecretVersionStage":
            # The label is no longer on the version we named: someone moved it meanwhile.
            return _StageMoved(f"{where}: {message}")
        if code == "ResourceExistsException":
            return SinkConflict(f"{where}: the secret was created by someone else meanwhile")
        return SinkError(f"{where} failed ({code}): {message}")

    def preflight(self, secret: str, state: SecretState) -> PreflightResult:
        """Say which write permission cannot be verified: Secrets Manager has no dry run.

        :meth:`inspect` already proved ``DescribeSecret``. The write actions can
        only be tried by writing, and IAM policy simulation
        (``iam:SimulatePrincipalPolicy``) is outside syncd's least-privilege
        policy, so the check names what it could not verify instead of guessing.
        """
        if not state.exists:
            actions = "secretsmanager:CreateSecret"
        elif not state.managed:
            actions = "secretsmanager:TagResource, secretsmanager:PutSecretValue"
        else:
            actions = "secretsmanager:PutSecretValue"
        return PreflightResult(
            notes=(f"write permission ({actions}) not verifiable without writing",)
        )


#: mypy checks the plugin's shape here, as a third-party plugin author would.
_FACTORY: SinkFactory[AwsSecretsManagerConfig] = AwsSecretsManagerSink


def _register_credentials(name: str, session: Any, client: Any) -> Callable[[], Any] | None:
    """Register the AWS secret key and session token for redaction, refreshed ones too.

    botocore's debug dumps print the session token of every request
    (``X-Amz-Security-Token``, the canonical request). Credentials from IRSA,
    an assumed role or an instance role refresh themselves, so they are read
    again before each signature (botocore's own cached copy: cheap), and only
    a change registers anything, under a slot that keeps the last two.

    Returns that reader of the frozen credentials, for the requests syncd
    signs itself (:mod:`syncd.sinks.awsjson`), or None without credentials.
    """
    import botocore.exceptions  # noqa: PLC0415 - see from_config

    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError:
        return None  # the first call fails the same way and reports it, translated
    if credentials is None:
        return None  # no credentials at all: nothing to hide, and calls say so
    seen: list[Any] = [None]

    def frozen() -> Any:
        current = credentials.get_frozen_credentials()
        if current != seen[0]:
            redaction.register(current.secret_key, current.token, slot=f"aws:{name}")
            seen[0] = current
        return current

    def remember(**_event: Any) -> None:
        frozen()

    client.meta.events.register("before-sign.secrets-manager", remember)
    # A refresh that fails now is retried, and reported, by the first call.
    with contextlib.suppress(botocore.exceptions.BotoCoreError):
        frozen()
    return frozen


def region_from(config: AwsSecretsManagerConfig, environ: Mapping[str, str]) -> str | None:
    """The configured region, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION`` (else None)."""
    return config.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None


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
    import botocore.exceptions  # noqa: PLC0415 - see from_config

    return isinstance(
        exc,
        (
            botocore.exceptions.ConnectionError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
        ),
    )


def _cause(exc: BaseException, host: str | None) -> str:
    import botocore.exceptions  # noqa: PLC0415 - see from_config

    known = (
        (botocore.exceptions.ConnectTimeoutError, "connect timed out"),
        (botocore.exceptions.ReadTimeoutError, "timed out waiting for a response"),
        (botocore.exceptions.ConnectionClosedError, "connection closed before a response"),
    )
    return netcause.describe(exc, host, known)


class _StageMoved(SinkError):
    """Internal: a staging label was not on the version named (re-raised as a conflict)."""


def _ownership(request: WriteRequest) -> dict[str, str]:
    """The tags a syncd write records: ownership, and the rotation mark when it has one."""
    tags = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        TARGET_KEY: request.target,
        OWNER_KEY: request.owner.encode(),
    }
    if request.rotation is not None:
        tags[ROTATED_AT_TAG], tags[ROLE_TAG] = request.rotation.encode()
    return tags


def _shape_problem(described: Mapping[str, Any]) -> str | None:
    """What is wrong with the parts of a DescribeSecret answer syncd reads, or None.

    The one check of an answer's shape: after it, ``Tags`` is a list of
    ``{Key, Value}`` strings and ``VersionIdsToStages`` maps version ids to
    lists of labels (either may be absent or null, as for a secret without
    tags). An answer from something that is not Secrets Manager, or a hostile
    one, is refused here rather than crashing whoever reads it.
    """
    tags = described.get("Tags")
    if tags is not None:
        if not isinstance(tags, list):
            return f"Tags is {_json_type(tags)}, not a list"
        for tag in tags:
            # AWS's model requires neither: a tag with an empty value may come without it.
            if (
                not isinstance(tag, dict)
                or not isinstance(tag.get("Key"), str)
                or not isinstance(tag.get("Value", ""), str)
            ):
                return "Tags holds an item that is not a {Key, Value} pair of strings"
    stages = described.get("VersionIdsToStages")
    if stages is not None:
        if not isinstance(stages, dict):
            return f"VersionIdsToStages is {_json_type(stages)}, not an object"
        for labels in stages.values():
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                return "VersionIdsToStages maps a version to something other than a list of labels"
    return None


def _json_type(value: object) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    return "an object" if isinstance(value, dict) else names.get(type(value), "a list")


def _tags(described: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a DescribeSecret answer checked by :func:`_shape_problem`."""
    return {t["Key"]: t.get("Value", "") for t in described.get("Tags") or ()}


def _labelled(described: Mapping[str, Any], stage: str) -> str | None:
    """The version carrying ``stage`` in a DescribeSecret answer, if any."""
    for version, stages in (described.get("VersionIdsToStages") or {}).items():
        if stage in stages:
            return str(version)
    return None


def _foreign_rotation(described: Mapping[str, Any], pending: str | None) -> str | None:
    """Why another rotator manages this secret (AWS rotation, a foreign AWSPENDING), or None.

    syncd's own pending versions carry a fingerprint as their id; any other id
    under ``AWSPENDING`` was staged by someone else, most often a rotation
    Lambda between its createSecret and finishSecret steps.
    """
    if described.get("RotationEnabled") is True:
        return "AWS-managed rotation is enabled on it (RotationEnabled)"
    if pending is not None and Fingerprint.decode(pending) is None:
        return (
            "it has an AWSPENDING version syncd did not write (AWS-managed rotation "
            "or another rotator is under way)"
        )
    return None


def _stages(described: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The versions labelled AWSCURRENT and AWSPENDING in a DescribeSecret answer."""
    found: dict[str, str] = {}
    for version, stages in (described.get("VersionIdsToStages") or {}).items():
        for stage in stages:
            found.setdefault(stage, version)
    return found.get(_CURRENT), found.get(_PENDING)


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
