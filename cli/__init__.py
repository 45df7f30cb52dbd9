"""The `nightwatch` command line (Typer); each issue adds its sub-commands here."""
