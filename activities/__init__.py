"""Activities: everything that touches the outside world (database, platforms, people's chat)."""
