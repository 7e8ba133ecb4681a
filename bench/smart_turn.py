"""Benchmark of the Smart Turn end-of-turn model (calls.engine.smart_turn).

Run from the project root: `.venv/bin/python -m bench.smart_turn`. Prints

- the cost of one score for 1 s, 4 s and 8 s of 8 kHz caller audio: CPU ms of the scoring
  thread (time.thread_time; the ONNX session runs on the caller's thread, one intra-op thread)
  and wall ms, median and p95, split into features (resampling + log-mel) and the model run;
- the score of a small set of complete and unfinished phrases spoken by the local voice (piper,
  repeatable settings) through the phone line, as the engine holds them when the VAD calls the
  end of speech (the speech and 200 ms of silence), and the accuracy at 0.5; next to it the same
  audio fed at 8 kHz without upsampling, and the voice's own wideband audio at 16 kHz that
  never went through the phone line.

The phrase set is not cherry-picked: it includes what the model gets wrong.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from calls.audio import convert_audio, ulaw_decode
from calls.engine import smart_turn
from calls.providers.base import MULAW_8K, AudioFormat
from calls.providers.local_tts import piper_pcm16

RATE = smart_turn.PHONE_RATE
# Piper varies every take; without its noise a take is repeatable.
STEADY = {"length_scale": 0.9, "noise_scale": 0.0, "noise_w_scale": 0.0}
FRAME_MS = 10
QUIET = 100  # RMS below which a 10 ms frame of piper's output is a pause
RUNS = 40

COMPLETE = [
    "What are your hours?",
    "I'd like a large taro milk tea please.",
    "Where can I park?",
    "Can I get a latte?",
    "Do you have oat milk?",
    "That's all, thank you.",
    "My number is five five five, one two three four.",
    "Goodbye.",
]
# Unfinished phrases read on their own: piper ends some with a final, falling intonation.
UNFINISHED = [
    "I want a latte and",
    "I'd like a large, um",
    "So, I was wondering",
    "I'd like a large",
    "Can I ask",
    "What are your",
    "I'd like to order a",
    "My number is five five five",
]
# Whole sentences stopped at a pause inside them: (sentence, the words before the pause).
STOPPED = [
    ("I'd like a large, um, taro milk tea please.", "I'd like a large, um,"),
    ("Can I ask, um, what are your hours?", "Can I ask, um,"),
    ("My number is five five five, one two three four.", "My number is five five five,"),
    ("I'd like to order, a large latte, and a croissant.", "I'd like to order,"),
]


def caller(text: str) -> bytes:
    """`text` as the engine hears it: piper, mu-law 8 kHz on the line, decoded to PCM16."""
    pcm, rate = piper_pcm16(text, **STEADY)
    return ulaw_decode(convert_audio(pcm, AudioFormat("pcm16", rate), MULAW_8K))


def ms(duration: int, rate: int = RATE) -> int:
    """Bytes of PCM16 in `duration` ms."""
    return duration * rate // 1000 * 2


def _frame_rms(pcm: bytes) -> np.ndarray:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    size = RATE * FRAME_MS // 1000
    frames = samples[: len(samples) // size * size].reshape(-1, size)
    return np.sqrt((frames**2).mean(axis=1))


def speech_end_ms(pcm: bytes) -> int:
    """Where the last 10 ms frame louder than a pause ends."""
    loud = np.nonzero(_frame_rms(pcm) >= QUIET)[0]
    return int(loud[-1] + 1) * FRAME_MS


def pauses_ms(pcm: bytes, shortest: int = 120) -> list[int]:
    """Where each pause of at least `shortest` ms inside the speech starts (ms), in order."""
    quiet = _frame_rms(pcm) < QUIET
    loud = np.nonzero(~quiet)[0]
    starts, i = [], int(loud[0])
    while i < loud[-1]:
        j = i
        while quiet[j]:
            j += 1
        if (j - i) * FRAME_MS >= shortest:
            starts.append(i * FRAME_MS)
        i = j + 1
    return starts


def at_vad_end(pcm: bytes, end_ms: int | None = None) -> bytes:
    """The utterance as the engine holds it when its VAD calls the end of speech: the speech
    up to `end_ms` (default: where it stops) and 200 ms of line silence after it."""
    end = speech_end_ms(pcm) if end_ms is None else end_ms
    return pcm[: ms(end)] + bytes(ms(200))


def cut_at_pause(sentence: str, words_before: str) -> tuple[bytes, int]:
    """`sentence` as if the caller stopped at the pause after `words_before`, and where (ms).

    The pause is found in the sentence's own audio (nearest to where `words_before` said alone
    ends), so the model hears the real mid-sentence intonation, not a new reading.
    """
    audio = caller(sentence)
    target = speech_end_ms(caller(words_before))
    pause = min(pauses_ms(audio), key=lambda start: abs(start - target))
    return at_vad_end(audio, pause), pause


def _wideband(text: str, end_ms: int | None = None) -> bytes:
    """The voice's own audio at 16 kHz (no phone line), cut like `at_vad_end`."""
    from calls.providers.base import PCM16_16K

    pcm, rate = piper_pcm16(text, **STEADY)
    pcm16k = convert_audio(pcm, AudioFormat("pcm16", rate), PCM16_16K)
    end = speech_end_ms(caller(text)) if end_ms is None else end_ms
    return pcm16k[: ms(end, 16000)] + bytes(ms(200, 16000))


class Cost(NamedTuple):
    seconds: int
    features_cpu: tuple[float, float]
    model_cpu: tuple[float, float]
    total_cpu: tuple[float, float]
    total_wall: tuple[float, float]


def _median_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), float(np.percentile(values, 95))


def _timed(work: Callable[[], object]) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    work()  # warm
    for _ in range(RUNS):
        c, w = time.thread_time(), time.perf_counter()
        work()
        cpu.append((time.thread_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return cpu, wall


def costs(model: smart_turn.SmartTurnModel) -> list[Cost]:
    speech = caller("I'd like a large taro milk tea please, and two cookies, and a croissant.")
    rows = []
    for seconds in (1, 4, 8):
        pcm = (speech * (1 + ms(seconds * 1000) // len(speech)))[-ms(seconds * 1000) :]
        features = model.features(pcm)
        feat_cpu, _ = _timed(lambda pcm=pcm: model.features(pcm))
        run_cpu, _ = _timed(lambda f=features: model.score_features(f))
        total_cpu, total_wall = _timed(lambda pcm=pcm: model.score(pcm))
        rows.append(
            Cost(
                seconds,
                _median_p95(feat_cpu),
                _median_p95(run_cpu),
                _median_p95(total_cpu),
                _median_p95(total_wall),
            )
        )
    return rows


class Phrase(NamedTuple):
    kind: str  # "complete" or "unfinished"
    label: str
    phone: float  # 8 kHz upsampled: what the engine does
    raw_8k: float  # the same samples fed as if they were 16 kHz
    wideband: float  # the voice at 16 kHz, no phone line


def phrases(model: smart_turn.SmartTurnModel) -> list[Phrase]:
    rows = []

    def add(kind: str, label: str, phone: bytes, wide: bytes) -> None:
        rows.append(
            Phrase(
                kind,
                label,
                model.score(phone),
                model.score(phone, sample_rate=16000),
                model.score(wide, sample_rate=16000),
            )
        )

    for text in COMPLETE:
        add("complete", text, at_vad_end(caller(text)), _wideband(text))
    for text in UNFINISHED:
        add("unfinished", text, at_vad_end(caller(text)), _wideband(text))
    for sentence, before in STOPPED:
        audio, pause = cut_at_pause(sentence, before)
        add("unfinished", f"{before} ... (stopped)", audio, _wideband(sentence, pause))
    return rows


def _accuracy(rows: list[Phrase], column: str) -> str:
    right = sum((getattr(row, column) > 0.5) == (row.kind == "complete") for row in rows)
    return f"{right}/{len(rows)}"


def main() -> None:
    model = smart_turn.load_model()
    print(f"Smart Turn v3.2 ({smart_turn.model_path().name}), one ONNX thread, {RUNS} runs each")
    print()
    print("| input | features CPU ms | model CPU ms | score CPU ms | score wall ms |")
    print("|---|---|---|---|---|")
    for row in costs(model):
        cells = [row.features_cpu, row.model_cpu, row.total_cpu, row.total_wall]
        print(
            f"| {row.seconds} s at 8 kHz | "
            + " | ".join(f"{median:.1f} / {p95:.1f}" for median, p95 in cells)
            + " |"
        )
    print("(median / p95)")
    print()
    rows = phrases(model)
    header = "phone, upsampled | 8 kHz as is | wideband 16 kHz"
    print(f"| expected | phrase (piper, then 200 ms of silence) | {header} |")
    print("|---|---|---|---|---|")
    for row in rows:
        marks = [
            f"{score:.2f}{'' if (score > 0.5) == (row.kind == 'complete') else ' ✗'}"
            for score in (row.phone, row.raw_8k, row.wideband)
        ]
        print(f"| {row.kind} | {row.label} | " + " | ".join(marks) + " |")
    print(
        f"| accuracy at 0.5 | | {_accuracy(rows, 'phone')} | {_accuracy(rows, 'raw_8k')} "
        f"| {_accuracy(rows, 'wideband')} |"
    )


if __name__ == "__main__":
    main()
