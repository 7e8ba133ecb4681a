"""Fallback and circuit breaking for providers.

Each role has a primary and a fallback. A primary that failed `threshold` times in a row is
skipped for `cooldown` seconds (the circuit is open), then tried again once (half-open).
Breakers are per process and per provider, shared by every call the process serves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from calls.providers.base import LLM, LLMEvent, ProviderError, TextDelta, ToolSpec
from monitoring import metrics

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
        metrics.breaker_changed(self.name, opened=False)
        self.failures = 0
        self.opened_at = None
        self.open_for = self.cooldown

    def record_failure(self, error: ProviderError | None = None) -> None:
        metrics.provider_failed(self.name, permanent=error is not None and error.permanent)
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
            metrics.breaker_changed(self.name, opened=True)
        elif self.failures >= self.threshold:
            self.opened_at = time.monotonic()
            self.open_for = self.cooldown
            metrics.breaker_changed(self.name, opened=True)


_breakers: dict[str, CircuitBreaker] = {}


def breaker_for(name: str) -> CircuitBreaker:
    if name not in _breakers:
        _breakers[name] = CircuitBreaker(name)
    return _breakers[name]


def all_breakers() -> list[CircuitBreaker]:
    """This process's breakers (each process keeps its own), by provider name."""
    return sorted(_breakers.values(), key=lambda breaker: breaker.name)


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


@dataclass
class Race:
    """Who answered first in `first_answer`, and the rest of their stream."""

    winner: str  # "primary" or "fallback"
    first: Any  # the winner's first item (None: its stream ended with nothing)
    rest: AsyncIterator[Any]
    primary_error: ProviderError | None = None  # why the primary lost, when it did


_ENDED = object()


async def first_answer(
    primary: AsyncIterator[Any],
    start_fallback: Callable[[], AsyncIterator[Any]] | None,
    hedge_after: float | None,
    *,
    discard: Callable[[Any], Awaitable[None]] | None = None,
) -> Race:
    """The first item of `primary`, or of the fallback when the primary fails or has not
    answered within `hedge_after` seconds (a hedge: from then on both run, the first to answer
    wins and the other is cancelled). Raises the last ProviderError when neither answers.
    `discard` disposes of a loser's first item that arrived in the same instant as the
    winner's (an opened connection, say)."""
    pending: dict[asyncio.Future, tuple[str, AsyncIterator[Any]]] = {}
    errors: dict[str, ProviderError] = {}

    async def next_or_end(iterator: AsyncIterator[Any]) -> Any:
        try:
            return await anext(iterator)
        except StopAsyncIteration:
            return _ENDED

    def launch(name: str, iterator: AsyncIterator[Any]) -> None:
        pending[asyncio.ensure_future(next_or_end(iterator))] = (name, iterator)

    launch("primary", primary)
    fallback_started = start_fallback is None
    try:
        while pending:
            wait = hedge_after if not fallback_started and hedge_after is not None else None
            done, _ = await asyncio.wait(pending, timeout=wait, return_when=FIRST_COMPLETED)
            if not done:
                errors["primary"] = ProviderError(
                    f"no answer within {wait:g}s; the fallback was started", provider="hedge"
                )
            for future in done:
                name, iterator = pending.pop(future)
                error = future.exception()
                if error is None:
                    first = future.result()
                    lost = errors.get("primary") if name == "fallback" else None
                    return Race(name, None if first is _ENDED else first, iterator, lost)
                if not isinstance(error, ProviderError):
                    raise error
                errors[name] = error
            if not fallback_started and (not done or "primary" in errors):
                fallback_started = True
                launch("fallback", start_fallback())
        raise errors.get("fallback") or errors["primary"]
    finally:
        for future, (_, iterator) in pending.items():
            future.cancel()
            await asyncio.gather(future, return_exceptions=True)
            if discard is not None and future.done() and not future.cancelled():
                item = future.result() if future.exception() is None else _ENDED
                if item is not _ENDED:
                    await discard(item)
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()


async def hedged(
    breaker: CircuitBreaker,
    primary: AsyncIterator[Any],
    start_fallback: Callable[[], AsyncIterator[Any]] | None,
    hedge_after: float | None,
    on_lost: Callable[[ProviderError], Awaitable[None]],
) -> Race:
    """`first_answer`, with the primary's breaker told of a failure when neither answered or
    the primary lost to its fallback (which `on_lost` hears of too)."""
    try:
        race = await first_answer(primary, start_fallback, hedge_after)
    except ProviderError as error:
        breaker.record_failure(error)
        raise
    if race.winner == "fallback":
        assert race.primary_error is not None
        breaker.record_failure(race.primary_error)
        await on_lost(race.primary_error)
    return race


async def chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A race's winner as one stream again: its first item, then the rest."""
    if first is not None:
        yield first
    async for item in rest:
        yield item


class FallbackLLM(LLM):
    """Streams from the primary; on failure or a hang, the same turn continues with the fallback.

    If the primary has not answered within `hedge_after` seconds, the fallback is started too
    and the first to answer wins (a hung provider costs the caller that long, not the whole
    timeout). If the primary had already spoken part of its answer when it failed, the fallback
    is shown that part as the assistant's words so far and asked to go on.
    """

    def __init__(
        self,
        primary: LLM,
        fallback: LLM | None,
        *,
        first_timeout: float = 5.0,
        idle_timeout: float = 5.0,
        hedge_after: float | None = None,
        on_fallback: FallbackListener | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.first_timeout = first_timeout
        self.idle_timeout = idle_timeout
        self.hedge_after = hedge_after
        self.on_fallback = on_fallback

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec]
    ) -> AsyncIterator[LLMEvent]:
        breaker = breaker_for(f"llm:{self.primary.name}")
        said: list[str] = []
        if breaker.allow() or self.fallback is None:
            start_fallback = None
            if self.fallback is not None:
                fallback = self.fallback
                start_fallback = lambda: self._timed(fallback, messages, tools)  # noqa: E731
            race = await hedged(
                breaker,
                self._timed(self.primary, messages, tools),
                start_fallback,
                self.hedge_after if self.primary.remote else None,
                self._fell_back,
            )
            if race.winner == "fallback":
                async for event in chain(race.first, race.rest):
                    yield event
                return
            try:
                async for event in chain(race.first, race.rest):
                    if isinstance(event, TextDelta):
                        said.append(event.text)
                    yield event
                breaker.record_success()
                return
            except ProviderError as error:
                breaker.record_failure(error)
                if self.fallback is None:
                    raise
                await self._fell_back(error)
        assert self.fallback is not None
        retry = (
            messages if not said else [*messages, {"role": "assistant", "content": "".join(said)}]
        )
        async for event in self._timed(self.fallback, retry, tools):
            yield event

    async def _fell_back(self, error: ProviderError) -> None:
        if self.on_fallback and self.fallback is not None:
            await self.on_fallback("llm", self.primary.name, self.fallback.name, error)

    def _timed(self, llm: LLM, messages, tools) -> AsyncIterator[LLMEvent]:
        return timed(llm.stream(messages, tools), self.first_timeout, self.idle_timeout, llm.name)
