"""Building the AWS sink's botocore client, and syncd's lean reader beside it.

The client comes from botocore's standard credential chain (env, profile,
web identity, instance role) with botocore's standard retry mode; the region
is the config's ``region``, else ``$AWS_REGION``, else ``$AWS_DEFAULT_REGION``,
else the profile's ``region``: the order of the other AWS SDKs (botocore
alone ignores ``AWS_REGION``). The credentials it finds are registered for
redaction, refreshed ones too. When syncd can sign requests the way botocore
would (:func:`syncd.sinks.awsjson.equivalent`), ``DescribeSecret`` gets
syncd's own reader, at half the CPU.

botocore is imported inside :func:`connect`: only deployments that use AWS
pay for importing it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncd import __version__, redaction
from syncd.errors import ConfigError, SinkAuthError
from syncd.extras import require
from syncd.net import bounds as httpbounds
from syncd.net.ratelimit import TokenBucket
from syncd.sinks import awsjson
from syncd.sinks.awsapi import classify
from syncd.sinks.base import MAX_CONCURRENCY

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from syncd.sinks.aws_secrets_manager import AwsSecretsManagerConfig


@dataclass(frozen=True)
class Connection:
    """A configured client, the read limiter, and the lean reader (None: botocore reads)."""

    client: SecretsManagerClient
    reads: TokenBucket
    reader: awsjson.JsonReader | None


def connect(name: str, config: AwsSecretsManagerConfig) -> Connection:
    """Build the client of sink ``name``; nothing is sent yet.

    Raises :class:`~syncd.errors.ConfigError` when no region is found (before
    any target runs) or botocore is not installed, and
    :class:`~syncd.errors.SinkAuthError` for a profile that does not exist.
    """
    # Imported here: only deployments that use AWS pay for importing botocore.
    # botocore alone, not boto3: its resource layer and s3transfer cost 0.1 s a start.
    sessions = require("botocore.session", extra="aws", plugin=f"aws sink {name}")
    import botocore.config  # noqa: PLC0415 - installed with botocore.session
    import botocore.exceptions  # noqa: PLC0415

    no_region = (
        f"aws sink {name}: no AWS region; set sinks.{name}.region, AWS_REGION or AWS_DEFAULT_REGION"
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
    if config.describe_via == "syncd" and watch is not None and awsjson.equivalent(session, client):
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
    return Connection(client, reads, reader)


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
    import botocore.exceptions  # noqa: PLC0415 - see connect

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
