"""Fixtures of the services tests: the core tests' gateway (built-ins off, the mock upstream)."""

from tests.core.conftest import gateway

__all__ = ["gateway"]
