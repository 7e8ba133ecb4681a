"""The greeting ready before the stream starts: synthesized once per agent, voice and words,
started early when it is the call's own, and never failed by a failing cache."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from calls import greeting, hooks, live
from calls.engine.speech import Speaker
from calls.models import Call
from calls.providers import factory, phrase_cache
from calls.providers.phrase_cache import MemoryStore
from calls.tests.doubles import ToneTTS
from calls.tests.test_phrase_cache_in_a_call import greeting_played
from telephony.tests import conftest as doubles
from telephony.tests.conftest import energy_vad  # noqa: F401
from telephony.tests.test_media_consumer import _fresh_token_cache, communicator  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SHOP_GREETING = (
    "Thanks for calling {business_name} on 555 0100, open 7 till 7 every day of the week, "
    "rain or shine, holidays included, with free parking behind the shop and seating inside. "
    "How can I help you today?"
)
SYNTHESIZED: list[tuple[str, str]] = []  # (voice, text) asked of the provider


class CountingTTS(ToneTTS):
    async def synthesize(self, text, *, voice="", language="en"):
        SYNTHESIZED.append((voice, text))
        async for chunk in super().synthesize(text, voice=voice, language=language):
            yield chunk


factory.register("tts", "test_counting", lambda agent, **_: CountingTTS(name="counting"))


class BrokenStore:
    """A cache that fails on every use (Redis gone, say)."""

    async def get(self, key):
        raise ConnectionError("cache down")

    async def put(self, key, audio):
        raise RuntimeError("cache broken")

    async def release(self):
        return None


@pytest.fixture
def shop(world_a, energy_vad, monkeypatch):  # noqa: F811
    monkeypatch.setattr(phrase_cache, "_store", MemoryStore(10_000_000))
    agent = world_a.agent
    agent.stt_provider, agent.llm_provider, agent.tts_provider = (
        "test_scripted",
        "scripted",
        "test_counting",
    )
    agent.greeting = SHOP_GREETING
    agent.save()
    doubles.SCRIPTED_TEXTS[:] = []
    SYNTHESIZED.clear()
    return world_a


def new_call(world) -> None:
    """The next caller on the shop's line (a new Call with its own CallSid)."""
    from calls.models import CallStatus

    old = world.call
    world.call = Call.objects.create(
        tenant=old.tenant,
        agent=old.agent,
        direction=old.direction,
        from_number=old.from_number,
        to_number=old.to_number,
        twilio_call_sid="CA" + f"{Call.objects.count() + 10:032d}",
        twilio_account_sid=old.twilio_account_sid,
        status=CallStatus.RINGING,
    )


def rendered() -> list[str]:
    return greeting.sentences(SHOP_GREETING.replace("{business_name}", "Shop A"))


async def test_the_second_calls_greeting_with_the_same_agent_needs_no_synthesis(shop, monkeypatch):
    first = await greeting_played(shop, monkeypatch)
    assert [text for _, text in SYNTHESIZED] == rendered()  # digits, and over 160 characters
    assert any(len(s) > 160 for s in rendered()) and any(c.isdigit() for c in rendered()[0])
    await database_sync_to_async(new_call)(shop)
    second = await greeting_played(shop, monkeypatch)
    assert [text for _, text in SYNTHESIZED] == rendered()  # nothing synthesized again
    assert [m["media"]["payload"] for m in second] == [m["media"]["payload"] for m in first]


async def test_a_changed_greeting_or_voice_is_synthesized_anew(shop, monkeypatch):
    await greeting_played(shop, monkeypatch)
    agent = shop.agent
    agent.greeting = "Thanks for calling on 555 0199. How can I help you today?"
    await database_sync_to_async(agent.save)()
    await database_sync_to_async(new_call)(shop)
    SYNTHESIZED.clear()
    await greeting_played(shop, monkeypatch)
    # The unchanged sentence plays from the cache; the changed one is new words.
    assert SYNTHESIZED == [("", "Thanks for calling on 555 0199.")]
    agent.voice = "another-voice"
    await database_sync_to_async(agent.save)()
    await database_sync_to_async(new_call)(shop)
    SYNTHESIZED.clear()
    await greeting_played(shop, monkeypatch)
    assert SYNTHESIZED == [
        ("another-voice", "Thanks for calling on 555 0199."),
        ("another-voice", "How can I help you today?"),
    ]


async def test_one_agents_greeting_with_digits_is_not_played_on_anothers_call(
    shop, world_b, monkeypatch
):
    await greeting_played(shop, monkeypatch)
    other = world_b.agent
    other.stt_provider, other.llm_provider, other.tts_provider = (
        "test_scripted",
        "scripted",
        "test_counting",
    )
    other.greeting = " ".join(rendered())  # word for word the shop's greeting
    await database_sync_to_async(other.save)()
    SYNTHESIZED.clear()
    monkeypatch.setattr(
        "calls.tests.test_phrase_cache_in_a_call.communicator", lambda: communicator("token-b")
    )
    await greeting_played(world_b, monkeypatch)
    # Its own lines with digits or past the length limit are its own entries; the short,
    # digit-free sentence is the one every agent shares.
    own = [s for s in rendered() if not phrase_cache.cacheable(s)]
    assert own and [t for _, t in SYNTHESIZED] == own


async def test_a_greeting_with_the_callers_details_is_said_but_not_kept(shop, monkeypatch):
    agent = shop.agent
    agent.greeting = "Hello {caller_number}, thanks for calling."
    await database_sync_to_async(agent.save)()
    assert await greeting.prepare(agent) == 0  # nothing to prepare ahead
    await greeting_played(shop, monkeypatch)
    await database_sync_to_async(new_call)(shop)
    await greeting_played(shop, monkeypatch)
    # Rendered with the caller's number each time: synthesized each time, never stored.
    assert SYNTHESIZED == [("", "Hello +14155559999, thanks for calling.")] * 2


async def test_a_failing_cache_never_fails_the_greeting(shop, monkeypatch):
    monkeypatch.setattr(phrase_cache, "_store", BrokenStore())
    first = await greeting_played(shop, monkeypatch)
    await database_sync_to_async(new_call)(shop)
    second = await greeting_played(shop, monkeypatch)
    assert first and second  # said both times, synthesized both times
    assert [text for _, text in SYNTHESIZED] == rendered() * 2


async def test_a_prepared_greeting_is_ready_for_the_first_call(shop, monkeypatch):
    made = await database_sync_to_async(greeting.prepare_greeting)(shop.agent.pk)
    assert made == len(rendered()) and [t for _, t in SYNTHESIZED] == rendered()
    assert await database_sync_to_async(greeting.prepare_greeting)(shop.agent.pk) == 0
    await greeting_played(shop, monkeypatch)
    assert [t for _, t in SYNTHESIZED] == rendered()  # the first call synthesized nothing


def test_a_process_start_prepares_the_active_tenants_greetings(shop, world_b, monkeypatch):
    world_b.tenant.active = False
    world_b.tenant.save()
    world_b.agent.tts_provider = "test_counting"
    world_b.agent.save()
    assert greeting.prepare_active() == len(rendered())
    assert {t for _, t in SYNTHESIZED} == set(rendered())  # none of the inactive tenant's
    assert greeting.prepare_active() == 0


async def test_the_calls_own_greeting_is_synthesized_before_the_start_hooks_end(shop, monkeypatch):
    agent = shop.agent
    agent.greeting = "Hello {caller_number}."
    await database_sync_to_async(agent.save)()
    asked_during_hook: list[list] = []

    async def slow_start_hook(ctx) -> None:
        await asyncio.sleep(0.3)  # the rest of the call's set-up
        asked_during_hook.append(list(SYNTHESIZED))

    hooks.on_call_start(slow_start_hook)
    try:
        await greeting_played(shop, monkeypatch)
    finally:
        hooks.unregister(slow_start_hook)
    assert asked_during_hook == [[("", "Hello +14155559999.")]]
    assert SYNTHESIZED == [("", "Hello +14155559999.")]  # and only once


async def test_greeting_ahead_passes_other_words_to_the_speaker():
    tts = CountingTTS(name="counting")
    SYNTHESIZED.clear()
    ahead = greeting.GreetingAhead(Speaker(tts, None), "Hello there. How are you?")
    await asyncio.sleep(0.05)
    assert [t for _, t in SYNTHESIZED] == ["Hello there.", "How are you?"]  # before asked
    said = b"".join([c async for c in ahead.synthesize("Hello there.")])
    other = b"".join([c async for c in ahead.synthesize("Something else.")])
    again = b"".join([c async for c in ahead.synthesize("Hello there.")])
    assert said and other and said == again
    assert [t for _, t in SYNTHESIZED][2:] == ["Something else.", "Hello there."]


def test_an_agent_saved_through_the_api_has_its_greeting_prepared(shop, settings, client):
    settings.REDIS_URL = ""  # the job runs in a thread of this process (as in the demo)
    client.force_login(shop.staff)
    response = client.patch(
        f"/api/agents/{shop.agent.pk}/",
        {"greeting": "Welcome to Shop A on 555 0100."},
        content_type="application/json",
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while not SYNTHESIZED and time.monotonic() < deadline:
        time.sleep(0.02)
    assert SYNTHESIZED == [("", "Welcome to Shop A on 555 0100.")]


async def test_sync_start_hooks_run_once_in_the_set_up_and_async_ones_at_the_start(
    shop, monkeypatch
):
    from threading import current_thread

    ran: list[tuple[str, str]] = []

    def sync_hook(ctx) -> None:
        ran.append(("sync", current_thread().name))

    async def async_hook(ctx) -> None:
        ran.append(("async", "loop"))

    planned = []
    real_plan = live.plan_call

    def plan_call(*args, **kwargs):
        plan = real_plan(*args, **kwargs)
        planned.append(list(ran))  # what had run when the set-up's trip ended
        return plan

    monkeypatch.setattr(live, "plan_call", plan_call)
    hooks.on_call_start(sync_hook)
    hooks.on_call_start(async_hook)
    try:
        await greeting_played(shop, monkeypatch)
    finally:
        hooks.unregister(sync_hook)
        hooks.unregister(async_hook)
    assert [kind for kind, _ in ran] == ["sync", "async"]  # each once
    assert [[kind for kind, _ in seen] for seen in planned] == [["sync"]]
