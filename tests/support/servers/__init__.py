"""Real, throwaway servers (PostgreSQL, PgBouncer, moto, OpenBao/Vault) that tests run against."""
