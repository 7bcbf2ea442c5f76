"""Sinks are the secret stores syncd writes to; see :mod:`syncd.sinks.base`."""
