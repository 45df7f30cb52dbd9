"""Nightwatch core: settings, logging, errors, Temporal client, the CLI and the local stack."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nightwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
