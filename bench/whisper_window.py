"""Whisper tiny.en with its 30 s window (faster-whisper's own path) against a shorter window
(calls.providers.whisper_window, WHISPER_WINDOW_SECONDS): lines heard right, and milliseconds
per utterance.

Run from the project root:

    .venv/bin/python -m bench.whisper_window [--window 15] [--repeat N]

Each line is spoken by the local voice (piper), carried through the phone line (mu-law 8 kHz and
back to 16 kHz) and transcribed by the engine's own code (calls.providers.local_stt:
greedy, the noise filter, the window asked for). Two sets: open speech (short
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


def transcriber(seconds: int):
    """The engine's own transcription (calls.providers.local_stt) with a `seconds` window."""
    from calls.providers.local_stt import transcribe_blocking

    def transcribe(pcm16: bytes, prompt: str | None) -> str:
        return transcribe_blocking(pcm16, "en", prompt, seconds)

    return transcribe


def measure(transcribe, cases, prompt: str | None, heard_right, misses: list[str], label: str):
    """Each (line, expected, audio) of `cases` transcribed: how many heard right, and the ms
    each took; what was missed goes to `misses`."""
    took, heard = [], 0
    for line, expected, pcm16 in cases:
        started = time.perf_counter()
        text = transcribe(pcm16, prompt)
        took.append((time.perf_counter() - started) * 1000)
        if heard_right(expected, text):
            heard += 1
        else:
            misses.append(f"{label}: {line!r} -> {text!r}")
    return heard, took


def menu_words_found(words_said: list[str], text: str) -> bool:
    from rapidfuzz import fuzz

    return all(fuzz.partial_ratio(word, text.lower()) >= 85 for word in words_said)


def order_line(text: str, rate: float) -> bytes:
    """`text` spoken by piper at `rate`, through the phone line: PCM16 16 kHz."""
    from calls.providers.local_tts import piper_pcm16
    from calls.tests.test_local_speech import over_the_phone

    pcm, sample_rate = piper_pcm16(text, length_scale=rate)
    return b"".join(over_the_phone(pcm, sample_rate))


def pcm16(samples) -> bytes:
    import numpy as np

    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _row(name: str, prompt: str, heard: int, total: int, took: list[float]) -> None:
    took.sort()
    p95 = took[min(len(took) - 1, round(0.95 * (len(took) - 1)))]
    print(f"| {name} | {prompt} | {heard} / {total} | {statistics.median(took):.0f} | {p95:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=15, help="the shorter window, seconds")
    parser.add_argument("--repeat", type=int, default=1, help="synthesize every line N times")
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    import django

    django.setup()
    from calls.providers.local_stt import build_prompt, load_model

    load_model()
    paths = (("30 s", transcriber(30)), (f"{args.window} s", transcriber(args.window)))
    lines = (LINES + SENTENCES) * args.repeat
    speech = [(line, line, pcm16(phone_line(line))) for line in lines]
    orders = [(t, w, order_line(t, r)) for t, w in ORDERS for r in RATES] * args.repeat
    menu_prompt = build_prompt(MENU)
    print("| window | prompt | heard right | ms p50 | ms p95 |")
    print("|---|---|---|---|---|")
    misses: list[str] = []
    for name, transcribe in paths:
        transcribe(speech[0][2], None)  # warm up
        for prompt in (None, PROMPT):
            label = f"{name}, open speech, prompt {bool(prompt)}"
            heard, took = measure(transcribe, speech, prompt, right, misses, label)
            _row(name, "menu" if prompt else "none", heard, len(speech), took)
        label = f"{name}, menu words"
        heard, took = measure(transcribe, orders, menu_prompt, menu_words_found, misses, label)
        _row(name, "menu words (ordering lines)", heard, len(orders), took)
    print()
    for miss in misses:
        print(f"  {miss}")


if __name__ == "__main__":
    main()
