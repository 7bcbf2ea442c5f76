"""What a provider answered, made known to redaction the moment it is parsed.

Every provider, built in or a plugin, turns an answer into a
:class:`~syncd.core.models.ConnectionInfo` through :func:`connection_of` and
a reset password through :func:`answered_secret`, so no provider registers
values with :mod:`syncd.redaction` by hand and none can forget to.
"""

from __future__ import annotations

from pydantic import SecretStr

from syncd import redaction
from syncd.core.models import ConnectionInfo, InvalidConnectionURI, Target
from syncd.errors import ProviderResponseError


def connection_of(provider: str, uri: str, target: Target, where: str) -> ConnectionInfo:
    """Parse the URI ``provider`` answered for ``target``; make it known to redaction.

    The password and the URI are kept in the target's slot while the target
    holds them, and one generation after; they are forgotten with the target
    (a reload that removes it), so reloads do not grow the registry. A URI
    that does not parse has no password to know it by: it ages instead.

    Raises:
        ProviderResponseError: the URI is not a usable connection string
            (``where`` names the answer in the message).

    """
    try:
        conn = ConnectionInfo.parse(
            uri, project=target.project, branch=target.branch, pooled=target.pooled
        )
    except InvalidConnectionURI as exc:
        redaction.register(uri)
        raise ProviderResponseError(f"{where}: {exc}") from None
    slot = redaction.connection_slot(provider, target.name, conn.username)
    redaction.register(conn.password.get_secret_value(), uri, slot=slot)
    return conn


def answered_secret(value: str) -> SecretStr:
    """A credential a provider answered (a reset password), made known to redaction first.

    Call it the moment the value is read, before any check that might quote the answer.
    """
    redaction.register(value)
    return SecretStr(value)
