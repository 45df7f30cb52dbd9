"""The engine fixture for recording the history corpus."""

from tests.workflows.conftest import engine

__all__ = ["engine"]
