"""The case.dev API key the provider tests use."""

from __future__ import annotations

KEY = "cdk_live_0123456789abcdef"
