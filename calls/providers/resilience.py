"""Fallback and circuit breaking for providers.

Each role has a primary and a fallback. A primary that failed `threshold` times in a row is
skipped for `cooldown` seconds (the circuit is open), then tried again once (half-open).
Breakers are per process and per provider, shared by every call the process serves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from calls.providers.base import LLM, LLMEvent, ProviderError, TextDelta, ToolSpec

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Counts a provider's failures in a row. A transient failure (a hang, a 5xx, a refused
    connection) opens it after `threshold` of them; a permanent one (401, 403, an unknown model
    or voice) opens it at once and for longer, since retrying cannot help until someone fixes
    the key or the agent. Each opening by a permanent error is logged once."""

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 3,
        cooldown: float = 30.0,
        permanent_cooldown: float = 300.0,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self.permanent_cooldown = permanent_cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self.open_for = cooldown

    @property
    def is_open(self) -> bool:
        if self.opened_at is None:
            return False
        if time.monotonic() - self.opened_at >= self.open_for:
            return False  # half-open: let one try through
        return True

    def allow(self) -> bool:
        return not self.is_open

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.open_for = self.cooldown

    def record_failure(self, error: ProviderError | None = None) -> None:
        self.failures += 1
        if error is not None and error.permanent:
            if not self.is_open:
                log.error(
                    "provider refused permanently; skipped for %gs: %s",
                    self.permanent_cooldown,
                    error,
                    extra={"provider": self.name},
                )
            self.failures = max(self.failures, self.threshold)
            self.opened_at = time.monotonic()
            self.open_for = self.permanent_cooldown
        elif self.failures >= self.threshold:
            self.opened_at = time.monotonic()
            self.open_for = self.cooldown


_breakers: dict[str, CircuitBreaker] = {}


def breaker_for(name: str) -> CircuitBreaker:
    if name not in _breakers:
        _breakers[name] = CircuitBreaker(name)
    return _breakers[name]


def reset_breakers() -> None:
    _breakers.clear()


FallbackListener = Callable[[str, str, str, ProviderError], Awaitable[None]]
"""(role, failed provider, fallback provider, error) -> None: told of each fallback."""


async def next_within(iterator: AsyncIterator[Any], timeout: float, provider: str) -> Any:
    """The iterator's next item, or ProviderError if it takes longer than `timeout`
    (a provider that hangs is a provider that failed)."""
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # lands as the awaited item arrives, and a barge-in must always cancel.
        async with asyncio.timeout(timeout):
            return await anext(iterator)
    except TimeoutError:
        raise ProviderError(f"no answer within {timeout:g}s", provider=provider) from None


async def timed(
    stream: AsyncIterator[Any], first_timeout: float, idle_timeout: float, provider: str
) -> AsyncIterator[Any]:
    """`stream`'s items, each within its deadline (the first may take longer: it includes the
    provider's thinking); a late one raises ProviderError. The stream is closed either way."""
    iterator = aiter(stream)
    timeout = first_timeout
    try:
        while True:
            try:
                item = await next_within(iterator, timeout, provider)
            except StopAsyncIteration:
                return
            timeout = idle_timeout
            yield item
    finally:
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()


class FallbackLLM(LLM):
    """Streams from the primary; on failure or a hang, the same turn continues with the fallback.

    If the primary had already spoken part of its answer, the fallback is shown that part as
    the assistant's words so far and asked to go on.
    """

    def __init__(
        self,
        primary: LLM,
        fallback: LLM | None,
        *,
        first_timeout: float = 5.0,
        idle_timeout: float = 5.0,
        on_fallback: FallbackListener | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.first_timeout = first_timeout
        self.idle_timeout = idle_timeout
        self.on_fallback = on_fallback

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        breaker = breaker_for(f"llm:{self.primary.name}")
        said: list[str] = []
        if breaker.allow() or self.fallback is None:
            try:
                async for event in self._timed(self.primary, messages, tools):
                    if isinstance(event, TextDelta):
                        said.append(event.text)
                    yield event
                breaker.record_success()
                return
            except ProviderError as error:
                breaker.record_failure(error)
                if self.fallback is None:
                    raise
                if self.on_fallback:
                    await self.on_fallback("llm", self.primary.name, self.fallback.name, error)
        assert self.fallback is not None
        retry = (
            messages if not said else [*messages, {"role": "assistant", "content": "".join(said)}]
        )
        async for event in self._timed(self.fallback, retry, tools):
            yield event

    def _timed(self, llm: LLM, messages, tools) -> AsyncIterator[LLMEvent]:
        return timed(llm.stream(messages, tools), self.first_timeout, self.idle_timeout, llm.name)
