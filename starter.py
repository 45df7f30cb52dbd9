"""Operators start and steer executions here: `python starter.py …` is `nightwatch …`."""

from cli.main import main

if __name__ == "__main__":
    main()
