"""Schema migrations (alembic) for PostgreSQL and other server databases: `gateway db upgrade`."""
