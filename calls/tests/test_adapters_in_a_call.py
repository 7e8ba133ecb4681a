"""The real adapters inside a call, each against its local fake server: the happy path, and a
failure mid-call that falls back within the same turn so the caller still hears an answer."""

from __future__ import annotations

import pytest

from calls.providers.deepgram_stt import DeepgramSTT
from calls.providers.elevenlabs_tts import ElevenLabsTTS
from calls.providers.groq_llm import GroqLLM
from calls.tests.conftest import speak, until
from calls.tests.doubles import VOICE, ScriptedSTT, ToneTTS
from calls.tests.fakes import FakeChatCompletions, FakeDeepgramListen, FakeElevenLabs
from calls.tests.fakes.chat import finish, text
from calls.tests.fakes.deepgram_listen import results

pytestmark = pytest.mark.django_db(transaction=True)
HOURS = "We are open from nine to five."


async def test_deepgram_hears_the_caller_and_the_turn_ends_on_its_endpoint(build_session):
    async with FakeDeepgramListen() as fake:
        fake.on_audio = [results("what are your hours", is_final=True, speech_final=True)]
        stt = DeepgramSTT(api_key="dg-test", environment_url=fake.url, connect_timeout=2)
        session, transport = await build_session(stt=stt)
        await until(lambda: not session.agent_active)
        await speak(session)
        await until(lambda: session.messages[-1].get("content") == HOURS)
        await session.close()
    assert bytes(fake.audio[: len(VOICE)]) == VOICE  # mu-law 8 kHz goes in as it came
    assert "encoding=mulaw" in fake.paths[0] and "sample_rate=8000" in fake.paths[0]


async def test_deepgram_cut_mid_call_falls_back_and_the_caller_is_answered(build_session):
    async with FakeDeepgramListen(mode="cut") as fake:
        stt = DeepgramSTT(api_key="dg-test", environment_url=fake.url, connect_timeout=2)
        backup = ScriptedSTT(["what are your hours"], name="backup")
        session, transport = await build_session(stt=stt, stt_fallback=backup)
        await until(lambda: not session.agent_active)
        await speak(session)
        await until(lambda: session.messages[-1].get("content") == HOURS)
        await session.close()
    assert backup.frames >= 1  # what Deepgram had heard was replayed into the fallback


async def test_groq_rate_limited_falls_back_within_the_turn(build_session):
    from calls.providers.scripted import ScriptedBrain
    from calls.tools import registry

    async with FakeChatCompletions(mode="429") as fake:
        llm = GroqLLM(api_key="gsk-test", base_url=fake.url, timeout=2)
        session, transport = await build_session(texts=["what are your hours"], llm=llm)
        session.llm.fallback = ScriptedBrain(
            registry.for_agent(["lookup_info"]), session.tool_context
        )
        await until(lambda: not session.agent_active)
        await speak(session)
        await until(lambda: session.messages[-1].get("content") == HOURS)
        await session.close()
    assert fake.requests  # Groq was asked first


async def test_groq_answer_is_spoken_sentence_by_sentence(build_session):
    chunks = [text("Sure. "), text("We open at nine. "), text("See you!"), finish()]
    async with FakeChatCompletions(chunks=chunks) as fake:
        llm = GroqLLM(api_key="gsk-test", base_url=fake.url, timeout=2)
        tts = ToneTTS()
        session, transport = await build_session(texts=["hours?"], llm=llm, tts=tts)
        await until(lambda: not session.agent_active)
        await speak(session)
        await until(
            lambda: session.messages[-1].get("content") == "Sure. We open at nine. See you!"
        )
        await session.close()
    assert tts.spoken[-3:] == ["Sure.", "We open at nine.", "See you!"]
    body = fake.last.json()
    assert body["stream"] is True and body["messages"][-1] == {"role": "user", "content": "hours?"}
    assert {t["function"]["name"] for t in body["tools"]} == {
        "lookup_info",
        "current_time",
        "end_call",
    }


async def test_elevenlabs_refusing_the_key_falls_back_to_the_other_voice(build_session):
    async with FakeElevenLabs(mode="401") as fake:
        tts = ElevenLabsTTS(api_key="el-test", base_url=fake.url, timeout=2)
        backup = ToneTTS(name="backup")
        session, transport = await build_session(tts=tts, tts_fallback=backup)
        await until(lambda: "mark" in transport.kinds())
        await session.close()
    assert backup.spoken == ["Hi."]
    assert fake.last.query["output_format"] == "ulaw_8000"
