"""Helpers for the tests of admission control (the `line_store` fixture is in conftest.py)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def refused(reason: str, at: str) -> float:
    """The count of calls refused for `reason` at the check `at` (monitoring's counter)."""
    labels = {"reason": reason, "at": at}
    return REGISTRY.get_sample_value("voice_calls_refused_total", labels) or 0.0
