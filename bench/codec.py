"""Benchmark of the call audio path: codec + resampling (calls.audio) and VAD (calls.vad).

Run from the project root: `.venv/bin/python -m bench.codec`. Figures are CPU time on one core
(time.process_time), the median of several runs: "x realtime" is seconds of audio converted per
CPU second. audioop (no anti-alias filter, gone in Python 3.13) is shown for comparison.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from calls.audio import AudioConverter
from calls.providers.base import MULAW_8K, PCM16_8K, PCM16_16K, AudioFormat
from calls.vad import VoiceActivityDetector

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SECONDS = 20
RUNS = 7


class Result(NamedTuple):
    case: str
    ours: float  # x realtime
    audioop: float  # x realtime


def _signal(rate: int, encoding: str) -> bytes:
    rng = np.random.default_rng(1)
    t = np.arange(rate * SECONDS) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
    pcm = (wave * 32767).astype("<i2").tobytes()
    return audioop.lin2ulaw(pcm, 2) if encoding == "mulaw" else pcm


def _cpu_seconds(work: Callable[[], object]) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.process_time()
        work()
        timings.append(time.process_time() - start)
    return statistics.median(timings)


def _ours(source: AudioFormat, target: AudioFormat, chunks: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        converter = AudioConverter(source, target)
        for chunk in chunks:
            converter.convert(chunk)
        converter.flush()

    return run


def _audioop(source: AudioFormat, target: AudioFormat, chunks: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        state = None
        for chunk in chunks:
            pcm = audioop.ulaw2lin(chunk, 2) if source.encoding == "mulaw" else chunk
            if source.sample_rate != target.sample_rate:
                pcm, state = audioop.ratecv(
                    pcm, 2, 1, source.sample_rate, target.sample_rate, state
                )
            if target.encoding == "mulaw":
                audioop.lin2ulaw(pcm, 2)

    return run


def measure_codec() -> list[Result]:
    """Conversion speed for the call's two directions, on 20 ms frames and whole buffers."""
    cases = [
        ("mu-law decode 8k", MULAW_8K, PCM16_8K),
        ("mu-law encode 8k", PCM16_8K, MULAW_8K),
        ("mu-law 8k -> PCM16 16k (STT in)", MULAW_8K, PCM16_16K),
        ("PCM16 24k -> mu-law 8k (TTS out)", AudioFormat("pcm16", 24000), MULAW_8K),
        ("PCM16 22.05k -> mu-law 8k (piper out)", AudioFormat("pcm16", 22050), MULAW_8K),
    ]
    results = []
    for label, source, target in cases:
        audio = _signal(source.sample_rate, source.encoding)
        width = 1 if source.encoding == "mulaw" else 2
        frame = source.sample_rate // 50 * width
        framed = [audio[i : i + frame] for i in range(0, len(audio), frame)]
        for shape, chunks in (("20 ms frames", framed), ("whole buffer", [audio])):
            ours = SECONDS / _cpu_seconds(_ours(source, target, chunks))
            reference = SECONDS / _cpu_seconds(_audioop(source, target, chunks))
            results.append(Result(f"{label}, {shape}", ours, reference))
    return results


def measure_vad_us_per_frame() -> float:
    """CPU microseconds per 20 ms frame of 8 kHz audio (Silero runs once per 32 ms window)."""
    audio = _signal(8000, "pcm16")
    frames = [audio[i : i + 320] for i in range(0, len(audio), 320)]
    detector = VoiceActivityDetector()

    def run() -> None:
        for frame in frames:
            detector.feed(frame)

    run()  # warm-up: the first windows pay for ONNX runtime's lazy set-up
    return _cpu_seconds(run) / len(frames) * 1e6


def codec_rows() -> list[tuple[str, float]]:
    """(label, value) lines for another benchmark's table."""
    rows = []
    for result in measure_codec():
        rows.append((f"{result.case}: x realtime", result.ours))
        rows.append((f"{result.case}: x realtime with audioop", result.audioop))
    rows.append(("VAD (silero) CPU us per 20 ms frame", measure_vad_us_per_frame()))
    return rows


def main() -> None:
    results = measure_codec()
    width = max(len(result.case) for result in results)
    print(f"{'case':<{width}}  {'x realtime':>11}  {'audioop':>9}  {'ratio':>6}")
    for result in results:
        ratio = result.ours / result.audioop
        figures = f"{result.ours:>11,.0f}  {result.audioop:>9,.0f}  {ratio:>6.2f}"
        print(f"{result.case:<{width}}  {figures}")
    print(f"\nVAD (silero, 8 kHz): {measure_vad_us_per_frame():.0f} CPU us per 20 ms frame")


if __name__ == "__main__":
    main()
