from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from channels.db import database_sync_to_async as sync_to_async

from calls.builtin_tools import parse_knowledge
from calls.engine.agent_settings import AgentSettings
from calls.engine.session import CallSession
from calls.engine.speech import Listener, Speaker
from calls.models import Agent, Call
from calls.providers.resilience import FallbackLLM, reset_breakers
from calls.providers.scripted import ScriptedBrain
from calls.tests.doubles import SILENCE, VOICE, EnergyVad, RecordingTransport, ScriptedSTT, ToneTTS
from calls.tools import ToolContext, registry
from voiceapp.models import Tenant

KNOWLEDGE = "hours: We are open from nine to five.\nparking: Park behind the shop."


@pytest.fixture(autouse=True)
def _fresh_breakers():
    reset_breakers()
    yield
    reset_breakers()


async def until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def speak(session: CallSession, frames: int = 10, silence: int = 5) -> None:
    """The caller says something (loud frames) and falls silent."""
    for _ in range(frames):
        await session.on_audio(VOICE)
        await asyncio.sleep(0)
    for _ in range(silence):
        await session.on_audio(SILENCE)
        await asyncio.sleep(0)


def _make_call(**agent_fields) -> Call:
    tenant = Tenant.objects.create(name="Engine Shop", slug=f"engine-{Tenant.objects.count()}")
    agent = Agent.objects.create(
        tenant=tenant, name="Engine agent", knowledge=KNOWLEDGE, **agent_fields
    )
    return Call.objects.create(
        tenant=tenant,
        agent=agent,
        direction="inbound",
        from_number="+14155550000",
        to_number="+14155550101",
    )


@pytest.fixture
def build_session(transactional_db):
    """Build a CallSession around a real Call row with in-memory edges."""
    created: list[CallSession] = []

    async def build(
        *,
        texts: list[str] | None = None,
        stt: ScriptedSTT | None = None,
        stt_fallback=None,
        llm=None,
        llm_fallback=None,
        tts: ToneTTS | None = None,
        tts_fallback=None,
        greeting: str = "Hi.",
        tools=("lookup_info", "current_time", "end_call"),
        llm_timeout: float = 2.0,
        tts_timeout: float = 1.0,
        hedge_after: float | None = None,
        **agent_overrides,
    ) -> tuple[CallSession, RecordingTransport]:
        call = await sync_to_async(_make_call)()
        context = ToolContext(
            call.pk,
            call.tenant_id,
            call.agent_id,
            "+14155550000",
            knowledge=parse_knowledge(KNOWLEDGE),
        )
        enabled = registry.for_agent(list(tools))
        stt = stt or ScriptedSTT(texts or [])
        transport = RecordingTransport()
        settings = AgentSettings(greeting=greeting, system_prompt="Be brief.", **agent_overrides)

        def listener_factory(hearing):
            return Listener(
                stt,
                stt_fallback,
                language="en",
                hints=[],
                on_event=hearing.on_stt_event,
                on_fallback=on_fallback,
                on_switch=hearing.on_stt_switch,
                open_timeout=llm_timeout,
                hedge_after=hedge_after,
            )

        async def on_fallback(role, failed, used, error):
            session.recorder.event(
                "fallback", role=role, failed=failed, used=used, error=str(error)
            )

        brain = llm or ScriptedBrain(enabled, context)
        session = CallSession(
            call_id=call.pk,
            agent=settings,
            listener_factory=listener_factory,
            llm=FallbackLLM(
                brain,
                llm_fallback,
                first_timeout=llm_timeout,
                idle_timeout=llm_timeout,
                hedge_after=hedge_after,
                on_fallback=on_fallback,
            ),
            speaker=Speaker(
                tts or ToneTTS(),
                tts_fallback,
                first_timeout=tts_timeout,
                idle_timeout=tts_timeout,
                hedge_after=hedge_after,
                on_fallback=on_fallback,
            ),
            tools=enabled,
            tool_context=context,
            transport=transport,
            vad=EnergyVad(),
        )
        transport.session = session
        created.append(session)
        await session.start()
        return session, transport

    return build
