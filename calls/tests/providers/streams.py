"""Helpers for draining an adapter's async iterator in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from calls.providers.base import ProviderError

T = TypeVar("T")


async def drain(items: AsyncIterator[T]) -> tuple[list[T], ProviderError | None]:
    """Everything the iterator yielded, and the ProviderError that ended it (if any)."""
    seen: list[T] = []
    try:
        async for item in items:
            seen.append(item)
    except ProviderError as exc:
        return seen, exc
    return seen, None
