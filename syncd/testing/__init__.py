"""Test helpers for syncd and for people who test code around it.

* :mod:`syncd.testing.casedev` — a case.dev-compatible API server (in-process
  handler for ``httpx.MockTransport``, or a real HTTP server on loopback).
* :mod:`syncd.testing.contract` — the behaviour every sink must have, as a test
  class a sink's own test module subclasses.
"""
