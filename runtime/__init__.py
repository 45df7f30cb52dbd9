"""The worker process, and what runs before it registers: the schema, the
initialisation tasks."""
