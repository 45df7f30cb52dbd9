"""The plan API (FastAPI): plans CRUD and validation, the catalog, parameter options."""
