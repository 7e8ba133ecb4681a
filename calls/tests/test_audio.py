import io
import warnings
import wave

import numpy as np
import pytest
import soxr

from calls.audio import (
    AudioConverter,
    FrameSplitter,
    FromMulaw8k,
    Resampler,
    ToMulaw8k,
    convert_audio,
    pcm16_to_wav,
    ulaw_decode,
    ulaw_encode,
)
from calls.providers.base import MULAW_8K, PCM16_8K, PCM16_16K, AudioFormat
from calls.tests.gil import others_ran_during

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def samples(pcm16: bytes) -> np.ndarray:
    return np.frombuffer(pcm16, "<i2").astype(np.float64)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def residual_db(pcm16: bytes, freq: float, rate: int) -> float:
    """Level of everything but the best-fitting `freq` sinusoid, relative to that sinusoid."""
    y = samples(pcm16)[rate // 20 : -rate // 20]  # leave out the filter's start and end
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    fit = basis @ np.linalg.lstsq(basis, y, rcond=None)[0]
    return 20 * np.log10(rms(y - fit) / rms(fit))


def in_frames(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# ---------------------------------------------------------------- codec


def test_ulaw_encode_matches_audioop_for_every_sample():
    every_sample = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert ulaw_encode(every_sample) == audioop.lin2ulaw(every_sample, 2)


def test_ulaw_decode_matches_audioop_for_every_code():
    every_code = bytes(range(256))
    assert ulaw_decode(every_code) == audioop.ulaw2lin(every_code, 2)


def test_codec_on_a_frame_and_on_nothing():
    frame = tone(440, 8000, seconds=0.02)
    assert len(ulaw_encode(frame)) == 160
    assert ulaw_decode(ulaw_encode(frame)) == audioop.ulaw2lin(audioop.lin2ulaw(frame, 2), 2)
    assert ulaw_encode(b"") == b"" and ulaw_decode(b"") == b""


# ---------------------------------------------------------------- resampling


def test_resampler_filters_out_what_8k_cannot_carry():
    source = tone(6000, 24000)
    out = Resampler(24000, 8000).process(source, last=True)
    # audioop.ratecv folds this tone to 2 kHz at full level; soxr removes it.
    assert rms(samples(out)[400:-400]) < rms(samples(source)) * 10 ** (-40 / 20)


def test_resampler_keeps_a_tone_in_the_telephone_band():
    source = tone(1000, 24000)
    out = Resampler(24000, 8000).process(source, last=True)
    assert len(out) == len(source) // 3
    gain = 20 * np.log10(rms(samples(out)[400:-400]) / rms(samples(source)))
    assert abs(gain) < 0.5
    assert residual_db(out, 1000, 8000) < -60


def test_resampler_frame_by_frame_matches_whole_buffer():
    source = tone(1000, 24000) + tone(300, 24000)
    whole = samples(Resampler(24000, 8000).process(source, last=True))
    resampler = Resampler(24000, 8000)
    framed = [resampler.process(frame) for frame in in_frames(source, 960)]
    framed.append(resampler.process(b"", last=True))
    by_frame = samples(b"".join(framed))
    assert len(by_frame) == len(whole)
    assert np.max(np.abs(by_frame - whole)) <= 4


def test_resampler_carries_state_across_frames():
    source = tone(1000, 24000)
    resampler = Resampler(24000, 8000)
    streamed = b"".join(resampler.process(frame) for frame in in_frames(source, 960))
    # Resampling each 20 ms frame on its own leaves a glitch at every frame boundary.
    stateless = b"".join(
        Resampler(24000, 8000).process(frame, last=True) for frame in in_frames(source, 960)
    )
    assert residual_db(streamed, 1000, 8000) < -60
    assert residual_db(stateless, 1000, 8000) > -50


def test_resampler_clips_overshoot_instead_of_wrapping():
    t = np.arange(22050) / 22050
    square = np.where(np.sin(2 * np.pi * 700 * t) >= 0, 32767, -32768).astype("<i2")
    out = samples(Resampler(22050, 8000).process(square.tobytes(), last=True))
    exact = np.clip(soxr.resample(square.astype(np.float64), 22050, 8000), -32768, 32767)
    assert out.max() == 32767 and out.min() == -32768  # the filter's ripple overshoots
    assert np.max(np.abs(out - exact)) <= 2


def test_resampler_is_ready_for_a_new_stream_after_last():
    resampler = Resampler(8000, 16000)
    first = resampler.process(tone(500, 8000), last=True)
    second = resampler.process(tone(500, 8000), last=True)
    assert first == second


def test_resampler_with_equal_rates_is_identity():
    source = tone(1000, 8000)
    assert Resampler(8000, 8000).process(source) is source


# ---------------------------------------------------------------- converters


def test_tts_audio_to_mulaw_8k_frame_by_frame():
    source = tone(1000, 22050)
    converter = ToMulaw8k(AudioFormat("pcm16", 22050))
    mulaw = b"".join(converter.convert(chunk) for chunk in in_frames(source, 882))
    mulaw += converter.flush()
    assert abs(len(mulaw) - 8000) <= 1
    # mu-law itself limits the signal to noise ratio to about 38 dB
    assert residual_db(ulaw_decode(mulaw), 1000, 8000) < -30


def test_mulaw_8k_to_stt_audio_frame_by_frame():
    mulaw = ulaw_encode(tone(1000, 8000))
    converter = FromMulaw8k(PCM16_16K)
    pcm = b"".join(converter.convert(frame) for frame in in_frames(mulaw, 160)) + converter.flush()
    assert len(pcm) == 16000 * 2
    assert residual_db(pcm, 1000, 16000) < -30
    whole = convert_audio(mulaw, MULAW_8K, PCM16_16K)
    assert np.max(np.abs(samples(pcm) - samples(whole))) <= 4


def test_converter_carries_a_sample_split_across_chunks():
    source = tone(1000, 24000, seconds=0.1)
    odd = AudioConverter(AudioFormat("pcm16", 24000), PCM16_8K)
    by_odd_chunks = b"".join(odd.convert(chunk) for chunk in in_frames(source, 333)) + odd.flush()
    whole = convert_audio(source, AudioFormat("pcm16", 24000), PCM16_8K)
    assert len(by_odd_chunks) == len(whole)
    assert np.max(np.abs(samples(by_odd_chunks) - samples(whole))) <= 4

    to_mulaw = ToMulaw8k(PCM16_8K)
    pcm = tone(1000, 8000, seconds=0.1)
    assert b"".join(to_mulaw.convert(chunk) for chunk in in_frames(pcm, 333)) == audioop.lin2ulaw(
        pcm, 2
    )


def test_converter_without_resampling_only_changes_encoding():
    pcm = tone(1000, 8000, seconds=0.1)
    assert AudioConverter(PCM16_8K, MULAW_8K).convert(pcm) == audioop.lin2ulaw(pcm, 2)
    mulaw = audioop.lin2ulaw(pcm, 2)
    assert FromMulaw8k(PCM16_8K).convert(mulaw) == audioop.ulaw2lin(mulaw, 2)


def test_converter_for_matching_formats_passes_chunks_through():
    chunk = bytes(range(160))
    converter = ToMulaw8k(MULAW_8K)
    assert converter.convert(chunk) is chunk
    assert converter.flush() == b""
    assert FromMulaw8k(MULAW_8K).convert(chunk) is chunk


# ---------------------------------------------------------------- framing and wav


def test_frame_splitter_yields_whole_frames_and_pads_the_last():
    splitter = FrameSplitter()
    assert splitter.push(b"\x01" * 100) == []
    frames = splitter.push(b"\x02" * 300)
    assert frames == [b"\x01" * 100 + b"\x02" * 60, b"\x02" * 160]
    assert splitter.pending_bytes == 80
    assert splitter.flush() == [b"\x02" * 80 + b"\xff" * 80]
    assert splitter.flush() == []
    assert splitter.push(b"\x03" * 160) == [b"\x03" * 160]


def test_frame_splitter_for_pcm_pads_with_zero():
    splitter = FrameSplitter(frame_bytes=320, silence=0)
    assert splitter.push(b"\x05" * 10) == []
    assert splitter.flush() == [b"\x05" * 10 + b"\x00" * 310]


def test_frame_splitter_refuses_empty_frames():
    with pytest.raises(ValueError):
        FrameSplitter(frame_bytes=0)


def test_pcm16_to_wav_round_trips():
    pcm = tone(440, 16000, seconds=0.25)
    with wave.open(io.BytesIO(pcm16_to_wav(pcm, 16000))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(wav.getnframes()) == pcm


def test_decoding_a_callers_frame_keeps_the_gil():
    # On the event loop for every frame of every call: numpy's table look-up let go of the GIL,
    # and beside a busy database thread each frame then waited ~150 µs instead of 1.
    frame = bytes(range(96, 256))
    assert others_ran_during(lambda: ulaw_decode(frame)) == 0
    assert others_ran_during(lambda: AudioConverter(MULAW_8K, PCM16_8K).convert(frame)) == 0
    assert ulaw_decode(frame) == audioop.ulaw2lin(frame, 2)
