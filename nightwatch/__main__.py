"""`python -m nightwatch` is the `nightwatch` command."""

from nightwatch.cli.main import main

if __name__ == "__main__":
    main()
