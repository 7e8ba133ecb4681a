"""The phrase cache: audio of sentences an agent says again and again (its greeting, the
re-prompt, "Sorry, I didn't catch that", the goodbye, a tool's fixed lines) kept per provider
and voice, so they play without a synthesis round trip.

What is cached: every sentence of up to PHRASE_CACHE_MAX_CHARS characters with no digit in
it. Listing the repeated texts (greeting, re-prompt, ...) would miss the tools' fixed lines and
any phrase a model keeps using ("Anything else?"); caching every short sentence and letting the
LRU bound drop the one-offs catches them all for the price of one write per sentence. Digits
mark what is personal or changing (order numbers, prices, times, phone numbers): those are
never stored, so no caller's details sit in the cache outside the call records' retention.

An agent's own fixed lines (its greeting, re-prompt, goodbye and voicemail message when they
hold no per-call variable, calls.greeting) are stored too, whatever their length and even with
digits: a shop's phone number or opening hours in its greeting are the shop's words, the same on
every call, not a caller's details. They are keyed by the agent as well (`own_lines`), so one
agent's entry never plays on another's call.

Where: Redis (REDIS_URL) so every Daphne process shares one cache and a restart keeps it;
memory otherwise. Both bounded by PHRASE_CACHE_MAX_BYTES, least recently used first out.
A cache that fails (Redis away) is a miss, never a failed sentence.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from django.conf import settings
from redis import asyncio as aioredis

from calls.cancellation import keep_cancellation
from calls.providers.base import TTS
from monitoring import metrics

log = logging.getLogger(__name__)


class PhraseStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, audio: bytes) -> None: ...

    async def release(self) -> None:
        """Let go of what this event loop holds (a loop that ends: a job's asyncio.run)."""


class MemoryStore:
    """This process's cache: an LRU bounded by the bytes of audio it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()  # calls run on one loop, but tests and threads share it

    async def get(self, key: str) -> bytes | None:
        with self._lock:
            audio = self._items.get(key)
            if audio is not None:
                self._items.move_to_end(key)
            return audio

    async def put(self, key: str, audio: bytes) -> None:
        if len(audio) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.size -= len(old) if old is not None else 0
            self._items[key] = audio
            self.size += len(audio)
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)

    async def release(self) -> None:
        return None


class RedisStore:
    """A cache shared by every process: the audio under `<prefix>:a:<key>`, the keys by last use
    in the sorted set `<prefix>:lru`, their total size in `<prefix>:bytes`. Past `max_bytes`,
    the least recently used are removed."""

    def __init__(self, url: str, max_bytes: int, *, prefix: str = "phrase") -> None:
        self.url = url
        self.max_bytes = max_bytes
        self.prefix = prefix
        self._clients: dict[int, aioredis.Redis] = {}

    def _redis(self) -> aioredis.Redis:
        # An asyncio client belongs to the loop it was made on (one per process in Daphne).
        loop = id(asyncio.get_running_loop())
        if loop not in self._clients:
            self._clients[loop] = aioredis.Redis.from_url(
                self.url, socket_timeout=0.25, socket_connect_timeout=0.25
            )
        return self._clients[loop]

    async def get(self, key: str) -> bytes | None:
        redis = self._redis()
        audio = await redis.get(f"{self.prefix}:a:{key}")
        if audio is not None:
            await redis.zadd(f"{self.prefix}:lru", {key: time.time()}, xx=True)
        return audio

    async def put(self, key: str, audio: bytes) -> None:
        if len(audio) > self.max_bytes:
            return
        redis = self._redis()
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{self.prefix}:a:{key}", audio, nx=True)
            pipe.zadd(f"{self.prefix}:lru", {key: time.time()})
            added, _ = await pipe.execute()
        if not added:
            return  # another process stored it first
        total = await redis.incrby(f"{self.prefix}:bytes", len(audio))
        while total > self.max_bytes:
            oldest = await redis.zpopmin(f"{self.prefix}:lru")
            if not oldest:
                break
            name = oldest[0][0].decode()
            size = await redis.strlen(f"{self.prefix}:a:{name}")
            await redis.delete(f"{self.prefix}:a:{name}")
            total = await redis.decrby(f"{self.prefix}:bytes", size)

    async def release(self) -> None:
        client = self._clients.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.aclose()


def cacheable(text: str) -> bool:
    """Short, and with no digit (see the module's docstring)."""
    text = text.strip()
    return 0 < len(text) <= settings.PHRASE_CACHE_MAX_CHARS and not any(c.isdigit() for c in text)


def phrase_key(provider: str, voice: str, language: str, fmt: object, text: str) -> str:
    identity = "\x1f".join((provider, voice, language, repr(fmt), " ".join(text.split())))
    return hashlib.sha256(identity.encode()).hexdigest()


class CachedTTS(TTS):
    """A TTS provider with the phrase cache in front: the same interface, the same name (its
    breaker and its metrics stay the provider's)."""

    def __init__(
        self, inner: TTS, store: PhraseStore, *, own_lines: Mapping[str, str] | None = None
    ) -> None:
        self.inner = inner
        self.store = store
        # The agent's own fixed sentences, each with the agent's scope (see the docstring).
        self.own_lines = {" ".join(k.split()): v for k, v in (own_lines or {}).items()}
        self.name = inner.name
        self.output_format = inner.output_format
        self.remote = inner.remote

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        key = self.key(text, voice=voice, language=language)
        if key is None:
            async for chunk in self.inner.synthesize(text, voice=voice, language=language):
                yield chunk
            return
        audio = await self._get(key)
        metrics.phrase_cache(hit=audio is not None)
        if audio is not None:
            yield audio
            return
        chunks: list[bytes] = []
        async for chunk in self.inner.synthesize(text, voice=voice, language=language):
            chunks.append(chunk)
            yield chunk
        # Only a sentence synthesized to its end is stored (a cancelled one raised above).
        await self._put(key, b"".join(chunks))

    def key(self, text: str, *, voice: str = "", language: str = "en") -> str | None:
        """Where `text` said in `voice` is kept; None when it is not kept (too long, digits,
        and not one of the agent's own lines)."""
        # A provider whose voice depends on its own settings (a model file, a voice id from
        # the environment) says so in `cache_identity`, so a change of them is a new voice.
        identity = f"{self.name}/{getattr(self.inner, 'cache_identity', '')}"
        if not cacheable(text):
            scope = self.own_lines.get(" ".join(text.split()))
            if scope is None:
                return None
            identity = f"{scope}/{identity}"
        return phrase_key(identity, voice, language, self.output_format, text)

    async def has(self, key: str) -> bool:
        """Whether the cache holds `key` now (a failing cache holds nothing)."""
        return await self._get(key) is not None

    async def _get(self, key: str) -> bytes | None:
        try:
            with keep_cancellation():
                return await self.store.get(key)
        except Exception as exc:  # the cache only saves time: any failure of it is a miss
            log.warning("phrase cache unavailable: %r", exc)
            return None

    async def _put(self, key: str, audio: bytes) -> None:
        if not audio:
            return
        try:
            with keep_cancellation():
                await self.store.put(key, audio)
        except Exception as exc:  # the audio was said; not keeping it costs a later synthesis
            log.warning("phrase cache unavailable: %r", exc)


_store: PhraseStore | None = None


def store() -> PhraseStore | None:
    """This process's store (Redis when REDIS_URL is set); None when the cache is off."""
    global _store
    if settings.PHRASE_CACHE_MAX_BYTES <= 0 or settings.PHRASE_CACHE_MAX_CHARS <= 0:
        return None
    if _store is None:
        if settings.REDIS_URL:
            _store = RedisStore(settings.REDIS_URL, settings.PHRASE_CACHE_MAX_BYTES)
        else:
            _store = MemoryStore(settings.PHRASE_CACHE_MAX_BYTES)
    return _store


def cached(tts: TTS | None, *, own_lines: Mapping[str, str] | None = None) -> TTS | None:
    """`tts` behind this process's phrase cache (as it is when the cache is off or tts None);
    `own_lines`: the agent's own fixed sentences and its scope (calls.greeting.own_lines)."""
    phrases = store()
    if tts is None or phrases is None:
        return tts
    return CachedTTS(tts, phrases, own_lines=own_lines)
