"""The agent's greeting, ready before the caller's stream starts.

The greeting is the first thing a caller waits for, and its words rarely change: most agents
greet every caller with the same sentences. So:

- An agent's fixed lines (the greeting, re-prompt, goodbye and voicemail message, when they use
  no per-call variable: only `{business_name}` and `{agent_name}`, or none) are kept by the
  phrase cache whatever their length and even with digits, under the agent's own key
  (`own_lines`): a shop's number or hours in its greeting are its own words, the same on every
  call, never a caller's details. A changed text or voice is a new key.
- A fixed greeting is synthesized once into the cache ahead of any call (`prepare`): when the
  agent is saved in the admin or the API (a job), and when a web process starts, for the
  agents of active tenants (`prepare_active`), skipping what the cache already holds. Every
  call then plays it from the cache.
- A greeting with per-call variables ("Hi {first_name}") is rendered per call, and its
  synthesis starts as soon as the call is read (`GreetingAhead`), alongside the rest of the
  call's set-up instead of after it. Its sentences with the caller's details are not stored
  (the phrase cache's digit rule still applies to them).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from calls.engine.sentences import SentenceSplitter
from calls.engine.speech import Speaker
from calls.models import Agent
from calls.providers import factory, phrase_cache
from calls.providers.base import ProviderError
from calls.variables import TemplateError, placeholders, render

log = logging.getLogger(__name__)

# The agent's texts that are said as they are (the system prompt is not said).
SPOKEN_FIELDS = ("greeting", "reprompt", "goodbye", "voicemail_message")
PREPARE_AT_START_MAX = 100  # agents whose greeting a starting process makes sure of


def agent_values(agent: Agent) -> dict[str, str]:
    """The variables whose values belong to the agent, not to a call."""
    return {"business_name": agent.tenant.name, "agent_name": agent.name}


def fixed_text(agent: Agent, field: str) -> str | None:
    """The agent's `field` as every call says it; None when it uses a per-call variable."""
    template = getattr(agent, field)
    values = agent_values(agent)
    try:
        if not placeholders(template) <= set(values):
            return None
        return render(template, values)
    except TemplateError:
        return None


def sentences(text: str) -> list[str]:
    """`text` cut into sentences as the responder cuts a line it says."""
    splitter = SentenceSplitter()
    return [*splitter.feed(text), *splitter.flush()]


def scope(agent: Agent) -> str:
    return f"agent-{agent.pk}"


def own_lines(agent: Agent, texts: Mapping[str, str]) -> dict[str, str]:
    """The sentences of the agent's fixed lines as this call says them (`texts`: the call's
    rendered texts), each with the agent's cache scope. A line the call's own variables
    changed is not among them."""
    lines: dict[str, str] = {}
    for field in SPOKEN_FIELDS:
        fixed = fixed_text(agent, field)
        if fixed and texts.get(field) == fixed:
            lines.update(dict.fromkeys(sentences(fixed), scope(agent)))
    return lines


async def prepare(agent: Agent, store: phrase_cache.PhraseStore | None = None) -> int:
    """Synthesize the agent's fixed greeting into the phrase cache, each sentence the cache
    does not hold yet; returns how many were synthesized. Nothing for a greeting with per-call
    variables, or with the cache off. A provider that fails is logged: the first call will
    synthesize the greeting itself."""
    store = store or phrase_cache.store()
    text = fixed_text(agent, "greeting")
    if store is None or not text:
        return 0
    tts, _, _ = factory.build_pair("tts", agent, tools=[], context=None)
    lines = sentences(text)
    cached = phrase_cache.CachedTTS(tts, store, own_lines=dict.fromkeys(lines, scope(agent)))
    made = 0
    for sentence in lines:
        key = cached.key(sentence, voice=agent.voice, language=agent.language)
        if key is None or await cached.has(key):
            continue
        try:
            async for _ in cached.synthesize(sentence, voice=agent.voice, language=agent.language):
                pass
        except ProviderError as error:
            log.warning(
                "greeting not prepared: %s", error, extra={"agent_id": agent.pk, "tts": tts.name}
            )
            return made
        made += 1
    return made


def _prepare_now(agents: list[Agent]) -> int:
    """`prepare` each agent on an event loop of this thread (a job, the start-up thread)."""
    shared = phrase_cache.store()
    if shared is None:
        return 0

    async def run() -> int:
        made = 0
        try:
            for agent in agents:
                made += await prepare(agent, shared)
        finally:
            await shared.release()
        return made

    return asyncio.run(run())


def prepare_greeting(agent_id: int) -> int:
    """The job: prepare one agent's greeting (see `prepare`)."""
    agent = Agent.objects.select_related("tenant").filter(pk=agent_id).first()
    return _prepare_now([agent]) if agent is not None else 0


def prepare_soon(agent: Agent) -> None:
    """Queue `prepare_greeting` for `agent` once the current transaction commits (an agent
    saved in the admin or the API). One job per greeting text, voice and provider."""
    from voiceapp.jobs import enqueue

    if not settings.PREPARE_GREETINGS:
        return
    identity = "\x1f".join((agent.greeting, agent.voice, agent.tts_provider, agent.language))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    enqueue(prepare_greeting, agent.pk, job_id=f"greeting-{agent.pk}-{digest}")


def prepare_active(limit: int = PREPARE_AT_START_MAX) -> int:
    """At a web process's start: the fixed greetings of the agents of active tenants (the most
    recently changed first, at most `limit`) that the cache does not hold yet."""
    try:
        agents = list(
            Agent.objects.filter(tenant__active=True)
            .select_related("tenant")
            .order_by("-updated_at")[:limit]
        )
        return _prepare_now(agents)
    finally:
        close_old_connections()


class _Ahead:
    """One sentence's audio as it is synthesized ahead, for one reader."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done = False
        self.cancelled = False
        self.error: ProviderError | None = None
        self._changed = asyncio.Event()

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self._changed.set()

    def finish(self, error: ProviderError | None = None) -> None:
        self.done, self.error = True, error
        self._changed.set()

    async def follow(self) -> AsyncIterator[bytes]:
        sent = 0
        while True:
            while sent < len(self.chunks):
                sent += 1
                yield self.chunks[sent - 1]
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            self._changed.clear()
            await self._changed.wait()


class GreetingAhead:
    """A call's speaker with the greeting's synthesis started at once: when the session asks
    for a greeting sentence, its audio is ready or on its way. Any other text, or the greeting
    asked for again, goes to the speaker as usual."""

    def __init__(self, speaker: Speaker, greeting: str, *, name: str = "greeting") -> None:
        self.speaker = speaker
        lines = sentences(greeting)
        self._ahead = {sentence: _Ahead() for sentence in lines}
        self._task = asyncio.create_task(self._synthesize(lines), name=name)

    async def _synthesize(self, lines: list[str]) -> None:
        try:
            for sentence in lines:
                ahead = self._ahead.get(sentence)
                if ahead is None or ahead.done:
                    continue
                try:
                    async for chunk in self.speaker.synthesize(sentence):
                        ahead.add(chunk)
                    ahead.finish()
                except ProviderError as error:
                    ahead.finish(error)
        finally:
            for ahead in self._ahead.values():
                if not ahead.done:  # cancelled before its end: said by the speaker itself
                    ahead.cancelled = True
                    ahead.finish(ProviderError("the greeting's synthesis was cancelled"))

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        ahead = self._ahead.pop(text, None)
        if ahead is None or (ahead.cancelled and not ahead.chunks):
            async for chunk in self.speaker.synthesize(text):
                yield chunk
            return
        async for chunk in ahead.follow():
            yield chunk

    def cancel(self) -> None:
        self._task.cancel()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.speaker, name)
