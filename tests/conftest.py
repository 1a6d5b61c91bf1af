"""Fixtures shared across test packages (session-scoped, so one instance per test worker)."""

from tests.support.npm_registry import npm_registries

__all__ = ["npm_registries"]
