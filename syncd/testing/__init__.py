"""Test helpers for syncd and for people who test code around it.

* :mod:`syncd.testing.casedev` — a case.dev-compatible API server (in-process
  handler for ``httpx.MockTransport``, or a real HTTP server on loopback);
  ``python -m syncd.testing.casedev`` runs it on its own with sample data.
* :mod:`syncd.testing.neon` — a Neon-compatible API server over a real PostgreSQL.
* :mod:`syncd.testing.standin` — what those two share: injected faults, the
  requests seen, serving over real HTTP.
* :mod:`syncd.testing.sample` — that sample project and a syncd config for it.
* :mod:`syncd.testing.contract` — the behaviour every sink must have, as a test
  class a sink's own test module subclasses.
"""
