"""A valid provider URI and the parse call the connection tests share."""

from __future__ import annotations

from syncd.core.models import ConnectionInfo

GOOD = "postgresql://owner:s3cretpw@ep-a.neon.tech/neondb?sslmode=require"


def parse(uri: str) -> ConnectionInfo:
    return ConnectionInfo.parse(uri, project="proj_1", branch="main", pooled=False)
