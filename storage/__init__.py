"""Tables, the session factory, and the migrations: the only way the schema changes."""
