"""The action catalog as code, synced into PostgreSQL before workers register with Temporal."""
