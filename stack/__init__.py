"""The local stack behind `nightwatch up`: PostgreSQL, the Temporal dev server and a worker."""
