"""moto's server with Secrets Manager's staging-label rule as AWS applies it.

``UpdateSecretVersionStage`` is syncd's compare-and-set for the rotation lease
(:meth:`syncd.sinks.aws_secrets_manager.AwsSecretsManagerSink.take_lease`).
AWS refuses to attach a label that is on another version unless that version
is named as ``RemoveFromVersionId`` ("you must also specify the
RemoveFromVersionId parameter"); moto 5 does so only for ``AWSCURRENT`` and
otherwise attaches the label a second time. moto also serves requests on
several threads without a lock around the check and the move. This module
runs moto's own server with both made as AWS does them, so the tests prove the
lease against AWS's rule rather than moto's leniency. Nothing else changes.

Run as ``python -m tests.support.servers.moto_aws_rules -H HOST -p PORT`` (moto's
arguments).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from moto.secretsmanager.exceptions import InvalidParameterException
from moto.secretsmanager.models import SecretsManagerBackend
from moto.server import main

_moves = threading.Lock()
_lenient = SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(
    self: SecretsManagerBackend,
    secret_id: str,
    version_stage: str,
    remove_from_version_id: str,
    move_to_version_id: str,
) -> Any:
    """moto's move, refused as AWS refuses it, one move at a time."""
    with _moves:
        secret = self.secrets.get(secret_id)
        if secret is not None and not remove_from_version_id and move_to_version_id:
            holders = [
                version
                for version, info in secret.versions.items()
                if version_stage in info["version_stages"] and version != move_to_version_id
            ]
            if holders:
                raise InvalidParameterException(
                    f"The parameter RemoveFromVersionId can't be empty. Staging label "
                    f"{version_stage} is currently attached to version {holders[0]}, so you "
                    "must explicitly reference that version in RemoveFromVersionId."
                )
        return _lenient(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)


SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
