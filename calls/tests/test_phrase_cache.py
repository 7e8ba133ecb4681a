"""The phrase cache: repeated short sentences play without a synthesis round trip."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from django.conf import settings as django_settings
from prometheus_client import REGISTRY

from calls.providers import phrase_cache
from calls.providers.base import TTS, ProviderError
from calls.providers.phrase_cache import CachedTTS, MemoryStore, RedisStore, cacheable


class CountingTTS(TTS):
    """Two chunks of audio per sentence, derived from the text; counts its syntheses."""

    name = "counting"

    def __init__(self, *, fail: bool = False) -> None:
        self.spoken: list[str] = []
        self.fail = fail

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        yield f"{voice}:".encode()
        if self.fail:
            raise ProviderError("synthesis died", provider=self.name)
        yield text.encode()


async def say(tts: TTS, text: str, voice: str = "joe") -> bytes:
    return b"".join([c async for c in tts.synthesize(text, voice=voice)])


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("voice_phrase_cache_total", {"result": result}) or 0.0


@pytest.fixture
def redis_store():
    prefix = f"phrase-test-{uuid.uuid4().hex}"
    yield lambda max_bytes=1_000_000: RedisStore(
        django_settings.REDIS_URL, max_bytes, prefix=prefix
    )
    import redis

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


async def test_the_second_greeting_is_served_without_calling_the_tts():
    inner = CountingTTS()
    tts = CachedTTS(inner, MemoryStore(1_000_000))
    hits, misses = lookups("hit"), lookups("miss")
    first = await say(tts, "Hello, thanks for calling Demo Coffee.")
    second = await say(tts, "Hello, thanks for calling Demo Coffee.")
    assert first == second == b"joe:Hello, thanks for calling Demo Coffee."
    assert inner.spoken == ["Hello, thanks for calling Demo Coffee."]
    assert (lookups("hit") - hits, lookups("miss") - misses) == (1, 1)


async def test_cached_per_voice_and_provider():
    store = MemoryStore(1_000_000)
    inner = CountingTTS()
    tts = CachedTTS(inner, store)
    await say(tts, "Goodbye.", voice="joe")
    assert await say(tts, "Goodbye.", voice="amy") == b"amy:Goodbye."

    class OtherTTS(CountingTTS):
        name = "other"

    other = OtherTTS()
    await say(CachedTTS(other, store), "Goodbye.", voice="joe")
    assert inner.spoken == ["Goodbye.", "Goodbye."] and other.spoken == ["Goodbye."]


async def test_sentences_with_digits_or_long_ones_are_not_cached(settings):
    settings.PHRASE_CACHE_MAX_CHARS = 40
    inner = CountingTTS()
    tts = CachedTTS(inner, MemoryStore(1_000_000))
    for text in ["Your order number is 42.", "A sentence well over forty characters long, this."]:
        await say(tts, text)
        await say(tts, text)
    assert len(inner.spoken) == 4
    assert cacheable("Sorry, I didn't catch that.") and not cacheable("  ")


async def test_a_failed_synthesis_is_not_cached():
    inner = CountingTTS(fail=True)
    tts = CachedTTS(inner, MemoryStore(1_000_000))
    with pytest.raises(ProviderError):
        await say(tts, "Hello.")
    inner.fail = False
    assert await say(tts, "Hello.") == b"joe:Hello."
    assert inner.spoken == ["Hello.", "Hello."]


async def test_memory_store_drops_the_least_recently_used_past_its_bytes():
    store = MemoryStore(10)
    await store.put("a", b"aaaa")
    await store.put("b", b"bbbb")
    assert await store.get("a") == b"aaaa"  # a is now the most recently used
    await store.put("c", b"cccc")
    assert await store.get("b") is None
    assert await store.get("a") == b"aaaa" and await store.get("c") == b"cccc"
    assert store.size == 8
    await store.put("huge", b"x" * 11)  # larger than the whole cache: not kept
    assert await store.get("huge") is None


@pytest.mark.django_db
async def test_a_redis_cache_is_shared_by_two_processes_instances(redis_store):
    first_inner, second_inner = CountingTTS(), CountingTTS()
    first = CachedTTS(first_inner, redis_store())
    second = CachedTTS(second_inner, redis_store())  # another process: its own client
    assert await say(first, "Is there anything else?") == b"joe:Is there anything else?"
    assert await say(second, "Is there anything else?") == b"joe:Is there anything else?"
    assert first_inner.spoken == ["Is there anything else?"] and second_inner.spoken == []


@pytest.mark.django_db
async def test_a_redis_cache_stays_within_its_bytes(redis_store):
    store = redis_store(10)
    await store.put("a", b"aaaa")
    await store.put("b", b"bbbb")
    assert await store.get("a") == b"aaaa"
    await store.put("c", b"cccc")
    assert await store.get("b") is None
    assert await store.get("a") == b"aaaa" and await store.get("c") == b"cccc"


async def test_redis_away_is_a_miss_not_a_failed_sentence():
    inner = CountingTTS()
    tts = CachedTTS(inner, RedisStore("redis://127.0.0.1:1/0", 1_000_000))
    assert await say(tts, "Hello.") == b"joe:Hello."
    assert await say(tts, "Hello.") == b"joe:Hello."
    assert len(inner.spoken) == 2


def test_off_when_its_size_is_zero(settings, monkeypatch):
    monkeypatch.setattr(phrase_cache, "_store", None)
    settings.PHRASE_CACHE_MAX_BYTES = 0
    inner = CountingTTS()
    assert phrase_cache.cached(inner) is inner
    assert phrase_cache.cached(None) is None
    settings.PHRASE_CACHE_MAX_BYTES = 1000
    settings.REDIS_URL = ""
    assert isinstance(phrase_cache.cached(inner), CachedTTS)
    assert isinstance(phrase_cache.store(), MemoryStore)
