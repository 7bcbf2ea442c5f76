"""The sync itself: targets and connections, deciding, writing, rotating, reporting.

Nothing here knows a vendor: providers and sinks reach the core through the
Protocols in :mod:`syncd.providers.base` and :mod:`syncd.sinks.base`.
"""
