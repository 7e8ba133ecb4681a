import io
import wave
from collections.abc import AsyncIterator

import pytest

from calls.providers.base import MULAW_8K
from calls.providers.elevenlabs_tts import DEFAULT_VOICE, ElevenLabsTTS, without_wav_header
from calls.tests.fakes import FakeElevenLabs, closed_port_url
from calls.tests.providers.streams import drain

AUDIO = bytes(range(256)) * 2  # 512 bytes of "mu-law"


@pytest.fixture
async def server() -> AsyncIterator[FakeElevenLabs]:
    async with FakeElevenLabs(audio_chunks=[AUDIO[:300], AUDIO[300:]]) as fake:
        yield fake


def tts(url: str, **kwargs: object) -> ElevenLabsTTS:
    return ElevenLabsTTS(api_key="xi-test", base_url=url, timeout=1.0, **kwargs)


def wav_header_then(audio: bytes, *, extra_chunk: bytes = b"") -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(audio)
    data = out.getvalue()
    if extra_chunk:  # a LIST chunk before "data", as some encoders write
        list_chunk = b"LIST" + len(extra_chunk).to_bytes(4, "little") + extra_chunk
        data = data[:36] + list_chunk + data[36:]
    return data


async def test_streams_raw_mulaw_and_the_request_is_on_the_wire(server):
    chunks, error = await drain(tts(server.url).synthesize("Your pizza is ready.", voice="VOICE"))

    assert error is None
    assert b"".join(chunks) == AUDIO
    assert all(len(chunk) <= 160 for chunk in chunks)
    assert tts(server.url).output_format == MULAW_8K
    request = server.last
    assert request.path == "/v1/text-to-speech/VOICE/stream"
    assert request.query == {"output_format": "ulaw_8000", "optimize_streaming_latency": "3"}
    assert request.headers["xi-api-key"] == "xi-test"
    assert request.json() == {"text": "Your pizza is ready.", "model_id": "eleven_flash_v2_5"}


async def test_the_constructor_voice_and_model_are_the_defaults(server):
    await drain(tts(server.url).synthesize("Hi."))
    await drain(tts(server.url, voice_id="v2", model_id="eleven_turbo_v2_5").synthesize("Hi."))

    first, second = server.requests
    assert first.path == f"/v1/text-to-speech/{DEFAULT_VOICE}/stream"
    assert second.path == "/v1/text-to-speech/v2/stream"
    assert second.json()["model_id"] == "eleven_turbo_v2_5"


async def test_a_wav_header_in_the_stream_is_stripped(server):
    wav = wav_header_then(AUDIO)
    server.audio_chunks = [wav[:10], wav[10:50], wav[50:]]

    chunks, error = await drain(tts(server.url).synthesize("Hi."))

    assert error is None
    assert b"".join(chunks) == AUDIO


async def test_the_header_stripper_handles_split_and_extra_chunks():
    async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    wav = wav_header_then(AUDIO, extra_chunk=b"INFOISFTfake")
    for size in (1, 7, 160, 4096):
        assert b"".join([c async for c in without_wav_header(pieces(wav, size))]) == AUDIO
        assert b"".join([c async for c in without_wav_header(pieces(AUDIO, size))]) == AUDIO


@pytest.mark.parametrize(("mode", "permanent"), [("401", True), ("429", False), ("500", False)])
async def test_http_errors_say_whether_they_are_permanent(server, mode, permanent):
    server.mode = mode

    chunks, error = await drain(tts(server.url).synthesize("Hello."))

    assert chunks == []
    assert error is not None
    assert error.permanent is permanent
    assert error.provider == "elevenlabs"
    assert f"HTTP {mode}" in str(error)


async def test_a_hanging_server_times_out_as_a_transient_error(server):
    server.mode = "hang"

    chunks, error = await drain(tts(server.url).synthesize("Hello."))

    assert chunks == []
    assert error is not None and not error.permanent
    assert "timed out" in str(error)


async def test_a_refused_connection_is_a_transient_error():
    chunks, error = await drain(tts(closed_port_url()).synthesize("Hello."))

    assert chunks == []
    assert error is not None and not error.permanent and error.provider == "elevenlabs"


async def test_a_stream_cut_mid_answer_raises_after_the_partial_audio(server):
    server.mode = "cut"
    server.audio_chunks = [AUDIO[:320], AUDIO[320:]]

    chunks, error = await drain(tts(server.url).synthesize("Hello."))

    assert b"".join(chunks) == AUDIO[:320]
    assert error is not None and not error.permanent
