import asyncio
import audioop
import io
import wave
from collections.abc import AsyncIterator

import pytest

from calls.providers.base import ProviderError, Transcript
from calls.providers.groq_whisper import GroqWhisperSTT
from calls.tests.fakes import FakeWhisper, closed_port_url

FRAME = bytes(range(96, 256))  # 20 ms of mu-law


@pytest.fixture
async def server() -> AsyncIterator[FakeWhisper]:
    async with FakeWhisper() as fake:
        yield fake


def whisper(url: str) -> GroqWhisperSTT:
    return GroqWhisperSTT(api_key="gsk-test", base_url=url, timeout=1.0)


async def next_event(session) -> Transcript:
    return await asyncio.wait_for(anext(session.events()), timeout=1)


async def test_finalize_uploads_the_utterance_as_wav_and_emits_a_final_transcript(server):
    stt = whisper(server.url)
    session = await stt.open(language="it", hints=["Margherita", "Diavola"])
    for _ in range(3):
        await session.send_audio(FRAME)

    await session.finalize()

    assert await next_event(session) == Transcript(
        "I would like a pizza.", is_final=True, speech_final=True
    )
    assert stt.streaming is False
    request = server.last
    assert request.path == "/openai/v1/audio/transcriptions"
    assert request.headers["Authorization"] == "Bearer gsk-test"
    assert request.form["model"] == "whisper-large-v3-turbo"
    assert request.form["language"] == "it"
    assert request.form["prompt"] == "Margherita Diavola"
    filename, upload = request.form["file"]
    assert filename == "audio.wav"
    with wave.open(io.BytesIO(upload)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.readframes(wav.getnframes()) == audioop.ulaw2lin(FRAME * 3, 2)
    await session.close()


async def test_each_finalize_sends_only_the_audio_since_the_last_one(server):
    session = await whisper(server.url).open(language="en-GB")
    await session.send_audio(FRAME)
    await session.finalize()
    await session.send_audio(FRAME[:80])
    await session.finalize()

    sizes = []
    for request in server.requests:
        with wave.open(io.BytesIO(request.form["file"][1])) as wav:
            sizes.append(wav.getnframes())
    assert sizes == [160, 80]
    assert server.requests[0].form["language"] == "en"
    assert "prompt" not in server.requests[0].form
    await session.close()


async def test_an_empty_buffer_sends_no_request(server):
    session = await whisper(server.url).open(language="en")

    await session.finalize()
    await session.close()

    assert server.requests == []
    assert [event async for event in session.events()] == []


async def test_close_ends_events_and_is_safe_twice(server):
    session = await whisper(server.url).open(language="en")
    reader = asyncio.create_task(anext(session.events(), None))

    await session.close()
    await session.close()

    assert await asyncio.wait_for(reader, timeout=1) is None


@pytest.mark.parametrize(("mode", "permanent"), [("401", True), ("429", False), ("500", False)])
async def test_http_errors_come_out_of_events(server, mode, permanent):
    server.mode = mode
    session = await whisper(server.url).open(language="en")
    await session.send_audio(FRAME)

    await session.finalize()

    with pytest.raises(ProviderError) as raised:
        await next_event(session)
    assert raised.value.permanent is permanent
    assert raised.value.provider == "groq"


async def test_a_hanging_server_times_out_as_a_transient_error(server):
    server.mode = "hang"
    session = await whisper(server.url).open(language="en")
    await session.send_audio(FRAME)

    await session.finalize()

    with pytest.raises(ProviderError, match="timed out") as raised:
        await next_event(session)
    assert not raised.value.permanent


async def test_a_refused_connection_is_a_transient_error():
    session = await whisper(closed_port_url()).open(language="en")
    await session.send_audio(FRAME)

    await session.finalize()

    with pytest.raises(ProviderError) as raised:
        await next_event(session)
    assert not raised.value.permanent


async def test_an_answer_cut_mid_body_raises_after_the_earlier_transcript(server):
    session = await whisper(server.url).open(language="en")
    await session.send_audio(FRAME)
    await session.finalize()
    server.mode = "cut"
    await session.send_audio(FRAME)
    await session.finalize()

    events = session.events()
    assert (await anext(events)).text == "I would like a pizza."
    with pytest.raises(ProviderError) as raised:
        await anext(events)
    assert not raised.value.permanent
