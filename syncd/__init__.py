"""syncd keeps managed-Postgres connection strings in sync with secret stores."""

__version__ = "0.1.0"
