"""Whisper tiny.en with its 30 s window (faster-whisper's own path) against a shorter window
(calls.providers.whisper_window, WHISPER_WINDOW_SECONDS): lines heard right, and milliseconds
per utterance.

Run from the project root:

    .venv/bin/python -m bench.whisper_window [--window 20] [--repeat N]

Each line is spoken by the local voice (piper), carried through the phone line (mu-law 8 kHz and
back to 16 kHz) and transcribed greedily, as the engine does. Two sets: open speech (short
answers and questions; heard right = every word), with and without a menu prompt; and ordering
lines at five speaking rates with the menu as the prompt (heard right = every menu word in the
line found, allowing a misspelling). Both windows hear the same audio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.whisper_models import LINES, heard_right, phone_line, words

SENTENCES = [
    "What are your hours today?",
    "Is there parking near the shop?",
    "I would like to order a large coffee please.",
    "Can you tell me where you are located?",
    "Can I get a large latte with oat milk?",
    "I'd like two blueberry muffins and a small mocha.",
    "Actually, make the latte a medium.",
    "No, that's everything, thank you.",
    "Do you have any vegan options?",
    "Sorry, sorry, can I ask something first?",
    "My name is Daniel and I'm calling about my order.",
    "Hmm, let me think. I guess a small one.",
    "Could you repeat that please?",
    "I'd like a cappuccino, a croissant, and a bottle of water, please.",
]
PROMPT = "Latte, mocha, muffin, oat milk, boba, cappuccino, croissant, hours, parking."
# The demo boba menu and a coffee shop's words, as an ordering agent's hints.
MENU = [
    "Taro milk tea", "Black milk tea", "Small", "Large", "Boba", "Egg pudding",
    "Crystal agar boba", "Vanilla cream", "Matcha stencil", "Regular sweet", "Less sweet",
    "Half sweet", "No sugar", "Regular ice", "Less ice", "No ice", "latte", "cappuccino",
    "espresso", "americano", "muffin",
]  # fmt: skip
ORDERS = [
    ("I would like a large latte please", ["latte"]),
    ("Can I get a taro milk tea?", ["taro"]),
    ("A large black milk tea with boba, less ice.", ["black", "boba", "less ice"]),
    ("Add egg pudding please.", ["egg pudding"]),
    ("Half sweet, no ice.", ["half sweet", "no ice"]),
    ("Two lattes and a muffin.", ["latte", "muffin"]),
    ("One cappuccino and an americano please.", ["cappuccino", "americano"]),
    ("Can I add vanilla cream and a matcha stencil?", ["vanilla cream", "matcha stencil"]),
    ("A small espresso.", ["espresso"]),
    ("Crystal agar boba, please.", ["crystal", "agar"]),
]
RATES = (0.85, 0.95, 1.0, 1.05, 1.15)  # piper's length_scale: faster to slower callers


def right(line: str, text: str) -> bool:
    return heard_right(line, text) if line in LINES else words(text) == words(line)


def thirty(model, samples, prompt: str | None) -> str:
    segments, _ = model.transcribe(
        samples,
        language="en",
        beam_size=1,
        temperature=0.0,
        vad_filter=False,
        initial_prompt=prompt,
        condition_on_previous_text=False,
        without_timestamps=True,
    )
    return "".join(s.text for s in segments).strip()


def shorter(seconds: int):
    def path(model, samples, prompt: str | None) -> str:
        from calls.providers import whisper_window

        return whisper_window.transcribe(model, samples, prompt, seconds).text

    return path


def menu_words_found(text: str, words_said: list[str]) -> bool:
    from rapidfuzz import fuzz

    return all(fuzz.partial_ratio(word, text.lower()) >= 85 for word in words_said)


def order_line(text: str, rate: float):
    import numpy as np

    from calls.providers.local_tts import piper_pcm16
    from calls.tests.test_local_speech import over_the_phone

    pcm, sample_rate = piper_pcm16(text, length_scale=rate)
    pcm16 = b"".join(over_the_phone(pcm, sample_rate))
    return np.frombuffer(pcm16, "<i2").astype(np.float32) / 32768


def _row(name: str, prompt: str, heard: int, total: int, took: list[float]) -> None:
    took.sort()
    p95 = took[min(len(took) - 1, round(0.95 * (len(took) - 1)))]
    print(f"| {name} | {prompt} | {heard} / {total} | {statistics.median(took):.0f} | {p95:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=20, help="the shorter window, seconds")
    parser.add_argument("--repeat", type=int, default=1, help="synthesize every line N times")
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    import django

    django.setup()
    from calls.providers.local_stt import build_prompt, load_model

    model = load_model()
    paths = (("30 s", thirty), (f"{args.window} s", shorter(args.window)))
    lines = (LINES + SENTENCES) * args.repeat
    audio = [phone_line(line) for line in lines]
    orders = [(t, w, order_line(t, r)) for t, w in ORDERS for r in RATES] * args.repeat
    menu_prompt = build_prompt(MENU)
    print("| window | prompt | heard right | ms p50 | ms p95 |")
    print("|---|---|---|---|---|")
    misses: list[str] = []
    for name, path in paths:
        path(model, audio[0], None)  # warm up
        for prompt in (None, PROMPT):
            took, heard = [], 0
            for line, samples in zip(lines, audio, strict=True):
                started = time.perf_counter()
                text = path(model, samples, prompt)
                took.append((time.perf_counter() - started) * 1000)
                if right(line, text):
                    heard += 1
                else:
                    misses.append(
                        f"{name}, open speech, prompt {bool(prompt)}: {line!r} -> {text!r}"
                    )
            _row(name, "menu" if prompt else "none", heard, len(lines), took)
        took, heard = [], 0
        for line, words_said, samples in orders:
            started = time.perf_counter()
            text = path(model, samples, menu_prompt)
            took.append((time.perf_counter() - started) * 1000)
            if menu_words_found(text, words_said):
                heard += 1
            else:
                misses.append(f"{name}, menu words: {line!r} -> {text!r}")
        _row(name, "menu words (ordering lines)", heard, len(orders), took)
    print()
    for miss in misses:
        print(f"  {miss}")


if __name__ == "__main__":
    main()
