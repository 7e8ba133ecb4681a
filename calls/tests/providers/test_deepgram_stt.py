import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from calls.providers.base import ProviderError, SpeechStarted, Transcript, UtteranceEnd
from calls.providers.deepgram_stt import DeepgramSTT
from calls.tests.fakes import FakeDeepgramListen, closed_port_url
from calls.tests.fakes.deepgram_listen import results, speech_started, utterance_end
from calls.tests.providers.streams import drain

FRAME = b"\xff" * 160  # 20 ms of mu-law silence


@pytest.fixture
async def server() -> AsyncIterator[FakeDeepgramListen]:
    async with FakeDeepgramListen() as fake:
        yield fake


def deepgram(url: str, **kwargs: object) -> DeepgramSTT:
    options: dict = {"connect_timeout": 0.3} | kwargs
    return DeepgramSTT(api_key="dg-test", environment_url=url, **options)


async def take(events: AsyncIterator, count: int) -> list:
    return [await asyncio.wait_for(anext(events), timeout=1) for _ in range(count)]


async def test_audio_in_events_out_and_the_handshake_is_on_the_wire(server):
    server.on_audio = [
        speech_started(),
        results("", is_final=False),  # silence: skipped
        results("a large", confidence=0.8),
        results("a large pepperoni", is_final=True, speech_final=True, confidence=0.95),
        utterance_end(),
    ]
    session = await deepgram(server.url).open(language="en", hints=["pepperoni", "calzone"])

    await session.send_audio(FRAME)
    await session.send_audio(FRAME[:80])
    events = await take(session.events(), 4)
    await session.close()

    assert events == [
        SpeechStarted(),
        Transcript("a large", is_final=False, speech_final=False, confidence=0.8),
        Transcript("a large pepperoni", is_final=True, speech_final=True, confidence=0.95),
        UtteranceEnd(),
    ]
    url = urlsplit(server.paths[0])
    assert url.path == "/v1/listen"
    assert parse_qs(url.query) == {
        "model": ["nova-3"],
        "language": ["en"],
        "encoding": ["mulaw"],
        "sample_rate": ["8000"],
        "channels": ["1"],
        "interim_results": ["true"],
        "endpointing": ["300"],
        "utterance_end_ms": ["1000"],
        "vad_events": ["true"],
        "smart_format": ["true"],
        "punctuate": ["true"],
        "keyterm": ["pepperoni", "calzone"],
    }
    assert server.headers[0]["authorization"] == "Token dg-test"
    assert bytes(server.audio) == FRAME + FRAME[:80]
    assert server.control_types == ["CloseStream"]


async def test_settings_reach_the_query_and_keyterms_stay_off_older_models(server):
    stt = deepgram(server.url, model="nova-2-phonecall", endpointing_ms=500, utterance_end_ms=1500)

    session = await stt.open(language="es", hints=["calzone"])
    await session.close()

    query = parse_qs(urlsplit(server.paths[0]).query)
    assert query["model"] == ["nova-2-phonecall"]
    assert query["endpointing"] == ["500"]
    assert query["utterance_end_ms"] == ["1500"]
    assert query["language"] == ["es"]
    assert "keyterm" not in query


async def test_finalize_asks_for_the_pending_transcript(server):
    server.on_finalize = [results("two pizzas", is_final=True, from_finalize=True)]
    session = await deepgram(server.url).open(language="en")

    await session.send_audio(FRAME)
    await session.finalize()
    events = await take(session.events(), 1)
    await session.close()

    assert events == [Transcript("two pizzas", is_final=True, speech_final=False, confidence=0.9)]
    assert server.control_types == ["Finalize", "CloseStream"]


async def test_keepalive_is_sent_while_no_audio_flows(server):
    session = await deepgram(server.url, keepalive_s=0.05).open(language="en")

    await asyncio.sleep(0.2)
    await session.close()

    assert server.control_types.count("KeepAlive") >= 2
    assert server.control_types[-1] == "CloseStream"


async def test_no_keepalive_while_audio_flows(server):
    session = await deepgram(server.url, keepalive_s=0.15).open(language="en")

    for _ in range(10):
        await session.send_audio(FRAME)
        await asyncio.sleep(0.02)
    await session.close()

    assert "KeepAlive" not in server.control_types


async def test_close_ends_events_and_is_safe_twice(server):
    session = await deepgram(server.url).open(language="en")
    reader = asyncio.create_task(drain(session.events()))

    await session.close()
    await session.close()

    assert await asyncio.wait_for(reader, timeout=1) == ([], None)
    assert server.control_types == ["CloseStream"]
    await asyncio.wait_for(server.closed.wait(), timeout=1)


async def test_an_error_message_from_deepgram_raises(server):
    server.on_audio = [
        {"type": "Error", "variant": "x", "code": "DATA-0000", "description": "bad audio"}
    ]
    session = await deepgram(server.url).open(language="en")

    await session.send_audio(FRAME)
    events, error = await drain(session.events())
    await session.close()

    assert events == []
    assert error is not None and "bad audio" in str(error) and not error.permanent


@pytest.mark.parametrize(("mode", "permanent"), [("401", True), ("429", False), ("500", False)])
async def test_handshake_errors_say_whether_they_are_permanent(server, mode, permanent):
    server.mode = mode

    with pytest.raises(ProviderError) as raised:
        await deepgram(server.url).open(language="en")

    assert raised.value.permanent is permanent
    assert raised.value.provider == "deepgram"
    assert f"HTTP {mode}" in str(raised.value)
    assert "dg-test" not in str(raised.value)


async def test_a_hanging_handshake_times_out_as_a_transient_error(server):
    server.mode = "hang"

    with pytest.raises(ProviderError, match="timed out") as raised:
        await deepgram(server.url).open(language="en")

    assert not raised.value.permanent


async def test_a_refused_connection_is_a_transient_error():
    with pytest.raises(ProviderError) as raised:
        await deepgram(closed_port_url("ws")).open(language="en")

    assert not raised.value.permanent


async def test_a_socket_cut_mid_stream_raises_after_the_events_already_sent(server):
    server.mode = "cut"
    server.on_audio = [results("I'd like", confidence=0.7)]
    session = await deepgram(server.url).open(language="en")

    await session.send_audio(FRAME)
    events, error = await asyncio.wait_for(drain(session.events()), timeout=1)

    assert events == [Transcript("I'd like", is_final=False, confidence=0.7)]
    assert error is not None and not error.permanent
    with pytest.raises(ProviderError):
        await session.send_audio(FRAME)
    await session.close()
