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
The last rotation is the ``syncd:rotated-at`` and ``syncd:role`` tags. The
tags are encoded by :class:`~syncd.sinks.metadata.MetadataCodec` under its
default keys, with no fingerprint tag: the version id is the fingerprint.
The client is built by :mod:`syncd.sinks.awsclient`.

Every HTTP attempt (botocore's retries included) is paced by one of two
:class:`~syncd.net.ratelimit.TokenBucket` limiters shared by all workers
(:mod:`syncd.sinks.awsapi`, which also translates AWS's errors): writes
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
import json
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from syncd.config.strict import PluginConfig
from syncd.core.lease import Lease, Record
from syncd.core.models import SecretState
from syncd.errors import SecretNotFound, SinkConflict, SinkError
from syncd.net.observe import RequestObserver
from syncd.net.ratelimit import TokenBucket
from syncd.sinks import awsclient, awsdescribe
from syncd.sinks.awsapi import SecretsManagerApi
from syncd.sinks.awsdescribe import LEASE_NEXT_STAGE, LEASE_STAGE, LEASE_TAG
from syncd.sinks.awsjson import JsonReader
from syncd.sinks.base import PreflightResult, SinkFactory, WriteRequest
from syncd.sinks.metadata import MetadataCodec

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

#: The tags of syncd's facts; the fingerprint is the version id, not a tag.
_CODEC = MetadataCodec(fingerprint=None)
_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
#: Writes per second: under AWS's 50/s that PutSecretValue, UpdateSecret and
#: UpdateSecretVersionStage share per region (CreateSecret and TagResource too).
DEFAULT_WRITE_RATE = 40.0
#: Reads per second: DescribeSecret and GetSecretValue allow 10,000/s.
DEFAULT_READ_RATE = 5000.0


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
        self._kms_key_id = kms_key_id
        self._description = description
        self._tags = dict(tags or {})
        where = f"aws sink {name}"
        self.writes = writes if writes is not None else TokenBucket(DEFAULT_WRITE_RATE, name=where)
        self.reads = reads if reads is not None else TokenBucket(DEFAULT_READ_RATE, name=where)
        self._reader = reader
        self._api = SecretsManagerApi(
            name, client, writes=self.writes, reads=self.reads, reader=reader
        )

    @classmethod
    def from_config(cls, name: str, config: AwsSecretsManagerConfig) -> AwsSecretsManagerSink:
        """Build a client through botocore's standard credential chain.

        The region is ``region`` from the config, else ``$AWS_REGION``, else
        ``$AWS_DEFAULT_REGION``, else the profile's ``region`` - the order of
        the other AWS SDKs (botocore alone ignores ``AWS_REGION``). No region
        at all is a :class:`~syncd.errors.ConfigError`, raised before any target runs.
        """
        connection = awsclient.connect(name, config)
        return cls(
            name,
            connection.client,
            kms_key_id=config.kms_key_id,
            description=config.description,
            tags=config.tags,
            writes=TokenBucket(config.rate_limit, config.burst, name=f"aws sink {name}"),
            reads=connection.reads,
            reader=connection.reader,
        )

    @classmethod
    def validate_secret_name(cls, secret: str) -> None:
        """Secrets Manager names: 1-512 of letters, digits and ``/_+=.@-``."""
        if not _NAME.fullmatch(secret):
            raise ValueError("AWS secret names are 1-512 characters of A-Z a-z 0-9 /_+=.@-")

    def inspect(self, secret: str) -> SecretState:
        """``DescribeSecret`` only: ownership tag and the AWSCURRENT version id."""
        try:
            described = self._api.call("DescribeSecret", secret, SecretId=secret)
        except SecretNotFound:
            return SecretState.missing()
        if described.get("DeletedDate"):
            raise SinkError(
                f"aws sink {self.name}: secret {secret} is scheduled for deletion; "
                "restore it (RestoreSecret) or choose another name"
            )
        current, pending = awsdescribe.current_and_pending(described)
        if pending == current:
            pending = None
        foreign = awsdescribe.foreign_rotation(described, pending)
        return _CODEC.decode(
            awsdescribe.tag_map(described),
            version=current,
            pending=None if foreign else pending,
            foreign_rotation=foreign,
        )

    def write(self, request: WriteRequest) -> str | None:
        """Create the secret or put a new AWSCURRENT version, tagged as syncd's."""
        token = request.fingerprint.encode()
        value = request.document.text
        ownership = _CODEC.claim(request)
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
                created = self._api.call("CreateSecret", request.secret, **params)
            except SecretNotFound as exc:  # pragma: no cover - CreateSecret does not answer 404
                raise SinkError(f"aws sink {self.name}: cannot create {request.secret}") from exc
            return str(created.get("VersionId", token))
        observed = request.observed
        if not observed.managed or observed.owner != request.owner or request.rotation:
            # Adopting, taking over, recording the owner an older syncd did not, or a
            # rotation's mark: claim first, so a crash after it still reads as ours (drift).
            self._api.tag(request.secret, ownership)
        put = self._api.existing(
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
            raise self._api.changed(request.secret)
        token = request.fingerprint.encode()
        put = self._api.existing(
            "PutSecretValue",
            request.secret,
            SecretId=request.secret,
            SecretString=request.document.text,
            ClientRequestToken=token,
            VersionStages=[awsdescribe.PENDING],
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
                raise self._api.changed(request.secret)
        self._api.tag(request.secret, _CODEC.claim(request))
        if current != version:
            self._api.move_stage(request.secret, awsdescribe.CURRENT, version, current)
        self.discard(request.secret, version)

    def discard(self, secret: str, version: str) -> None:
        """Remove ``AWSPENDING`` from ``version``; a no-op when it is not there (or no secret)."""
        with contextlib.suppress(SecretNotFound, SinkConflict):
            _, pending = self._stages(secret)
            if pending == version:
                self._api.move_stage(secret, awsdescribe.PENDING, None, version)

    # -- the rotation lease (syncd.sinks.base.Leaser) ------------------------

    def read_lease(self, secret: str) -> Record | None:
        """The version labelled ``SYNCD_LEASE``, read with the ``syncd:lease`` tag.

        See :func:`~syncd.sinks.awsdescribe.lease_record`.
        """
        return awsdescribe.lease_record(self._api.describe(secret))

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
        token = awsdescribe.lease_token(lease)
        self._api.tag(secret, {LEASE_TAG: lease.encode()})
        self._api.existing(
            "PutSecretValue",
            secret,
            SecretId=secret,
            SecretString=json.dumps({"syncd-lease": lease.holder}),
            ClientRequestToken=token,
            VersionStages=[LEASE_NEXT_STAGE],
        )
        self._api.move_stage(secret, LEASE_STAGE, token, replacing.token if replacing else None)
        self._api.tag(secret, {LEASE_TAG: lease.encode()})
        return Record(token, lease)

    def release_lease(self, secret: str, held: Record) -> None:
        """Take ``SYNCD_LEASE`` off ``held``'s version; a no-op once someone else moved it."""
        with contextlib.suppress(SinkConflict):
            self._api.move_stage(secret, LEASE_STAGE, None, held.token)

    def _stages(self, secret: str) -> tuple[str | None, str | None]:
        """The versions labelled AWSCURRENT and AWSPENDING (SinkConflict: secret gone)."""
        return awsdescribe.current_and_pending(self._api.describe(secret))

    def close(self) -> None:
        """Close the clients' connection pools."""
        self._api.close()

    def observe(self, observer: RequestObserver) -> None:
        """Report every HTTP attempt, botocore's retries included, to ``observer``."""
        self._api.observe(observer)

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
