"""Workflows: deterministic orchestration only; never imports SQLAlchemy, psycopg or httpx."""
