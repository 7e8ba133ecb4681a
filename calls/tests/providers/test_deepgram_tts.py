from collections.abc import AsyncIterator

import pytest

from calls.providers.base import MULAW_8K
from calls.providers.deepgram_tts import DeepgramTTS
from calls.tests.fakes import FakeDeepgramSpeak, closed_port_url
from calls.tests.providers.streams import drain


@pytest.fixture
async def server() -> AsyncIterator[FakeDeepgramSpeak]:
    async with FakeDeepgramSpeak() as fake:
        yield fake


def tts(url: str) -> DeepgramTTS:
    return DeepgramTTS(api_key="dg-test", base_url=url, timeout=1.0)


async def test_streams_raw_mulaw_and_the_request_is_on_the_wire(server):
    server.audio_chunks = [b"\x01" * 160, b"\x02" * 160, b"\x03" * 40]

    chunks, error = await drain(tts(server.url).synthesize("Your pizza is on its way."))

    assert error is None
    assert b"".join(chunks) == b"\x01" * 160 + b"\x02" * 160 + b"\x03" * 40
    assert tts(server.url).output_format == MULAW_8K
    request = server.last
    assert request.path == "/v1/speak"
    assert request.query == {
        "model": "aura-2-thalia-en",
        "encoding": "mulaw",
        "sample_rate": "8000",
        "container": "none",
    }
    assert request.headers["Authorization"] == "Token dg-test"
    assert request.json() == {"text": "Your pizza is on its way."}


async def test_voice_picks_the_aura_model(server):
    await drain(tts(server.url).synthesize("Hola.", voice="aura-2-celeste-es", language="es"))

    assert server.last.query["model"] == "aura-2-celeste-es"


@pytest.mark.parametrize(("mode", "permanent"), [("401", True), ("429", False), ("500", False)])
async def test_http_errors_say_whether_they_are_permanent(server, mode, permanent):
    server.mode = mode

    chunks, error = await drain(tts(server.url).synthesize("Hello."))

    assert chunks == []
    assert error is not None
    assert error.permanent is permanent
    assert error.provider == "deepgram"
    assert f"HTTP {mode}" in str(error)
    assert "dg-test" not in str(error)


async def test_a_hanging_server_times_out_as_a_transient_error(server):
    server.mode = "hang"

    chunks, error = await drain(tts(server.url).synthesize("Hello."))

    assert chunks == []
    assert error is not None and not error.permanent
    assert "timed out" in str(error)


async def test_a_refused_connection_is_a_transient_error():
    chunks, error = await drain(tts(closed_port_url()).synthesize("Hello."))

    assert chunks == []
    assert error is not None and not error.permanent and error.provider == "deepgram"


async def test_a_stream_cut_mid_answer_raises_after_the_partial_audio(server):
    server.mode = "cut"
    server.audio_chunks = [b"\x01" * 160, b"\x02" * 160, b"\x03" * 160, b"\x04" * 160]

    chunks, error = await drain(tts(server.url).synthesize("Hello."))

    assert b"".join(chunks) == b"\x01" * 160 + b"\x02" * 160
    assert error is not None and not error.permanent
