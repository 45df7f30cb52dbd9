"""The engine fixtures of the workflow tests, for actions run inside executions."""

from tests.workflows.conftest import engine

__all__ = ["engine"]
