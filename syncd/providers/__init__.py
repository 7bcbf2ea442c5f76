"""Providers hand out connection strings; see :mod:`syncd.providers.base`."""
