"""Entry point of a worker process: `python worker.py` is `nightwatch worker`."""

import sys

from cli.main import main

if __name__ == "__main__":
    sys.argv[1:1] = ["worker"]
    main()
