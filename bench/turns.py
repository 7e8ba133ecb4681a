"""Benchmark: end of turn, in the manner of LiveKit's end-of-turn benchmark.

Run from the project root:

    .venv/bin/python -m bench.turns [--quick] [--repeat N]

Synthetic callers spoken by the local voice (piper) talk to the real engine (CallSession) with
the offline speech providers: the silero VAD, whisper tiny.en, the scripted brain, and eSpeak NG
for the agent's voice (fast, so it adds no noise to the timings). A simulated carrier plays the
agent's audio on a clock and echoes its marks, as Twilio does. Each case is its own call:

- complete sentences, said 300 ms after the greeting ends;
- the same with one 300/500/700/900 ms pause mid-sentence (silence inserted at the quietest point
  between words near the middle, so the intonation stays that of an unfinished sentence);
- phone numbers read in groups, 600 ms between groups;
- one-word answers said 0/100/200/300/600 ms after the agent stops.

Per group it prints: false cut-offs (the engine ended the caller's turn, i.e. asked the model to
answer, before the caller's last voiced audio), lost utterances (a line that became neither a
caller turn nor an `unheard` event), and the end-of-turn delay (the caller's last voiced audio to
the engine asking the model to answer) p50/p95. Targets (issue 10): 0 lost, 0 false cut-offs
at 700 ms pauses, delay p50 under 300 ms on complete sentences.

No network, and the session's records are kept in memory (the apps' call hooks read the default
database, migrated first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field

FRAME = 160  # 20 ms of mu-law
SILENCE_FRAME = b"\xff" * FRAME
GREETING = "Hi, thanks for calling. How can I help?"
KNOWLEDGE = "hours: We are open from nine to five.\nparking: Park behind the shop."
VOICED_DBFS = -45.0

SENTENCES = [
    "What are your hours today?",
    "Is there parking near the shop?",
    "I would like to order a large coffee please.",
    "Can you tell me where you are located?",
]
PAUSED = [
    "I would like to order a large coffee please.",
    "Can you tell me where you are located?",
]
PHONE_GROUPS = [
    ["My number is four one five", "five five five", "zero one two three"],
    ["It's six five zero", "two three four", "nine eight seven six"],
]
SHORT = ["Yes.", "No.", "Two.", "Okay.", "Sure.", "Thanks.", "Is there parking?"]
PAUSES_MS = [300, 500, 700, 900]
GAPS_MS = [0, 100, 200, 300, 600]


@dataclass
class Case:
    group: str
    label: str
    audio: bytes  # mu-law 8 kHz, the whole line
    last_voiced: float  # seconds into `audio` where the last voiced frame ends
    gap: float = 0.3  # seconds after the agent stops


@dataclass
class Outcome:
    case: Case
    turn_ends: list[float] = field(default_factory=list)  # seconds after the line began
    unheard: int = 0
    heard_texts: list[str] = field(default_factory=list)
    signals: list = field(default_factory=list)  # what ended each turn (turn_signal)
    scores: list = field(default_factory=list)  # the model's score of each (turn_score)
    early: int = 0  # turns ended on the recogniser's guess, before the VAD's silence ran out

    @property
    def lost(self) -> bool:
        return not self.turn_ends and not self.unheard

    @property
    def cut_off(self) -> bool:
        return bool(self.turn_ends) and self.turn_ends[0] < self.case.last_voiced

    @property
    def delay_ms(self) -> float | None:
        ends = [t for t in self.turn_ends if t >= self.case.last_voiced]
        return (ends[0] - self.case.last_voiced) * 1000 if ends else None


# ---------------------------------------------------------------- audio


def _voiced_frames(mulaw: bytes) -> list[bool]:
    import numpy as np

    from calls.audio import ulaw_decode

    pcm = np.frombuffer(ulaw_decode(mulaw), "<i2").astype(np.float64)
    floor = 32768 * 10 ** (VOICED_DBFS / 20)
    return [
        float(np.sqrt(np.mean(pcm[i : i + FRAME] ** 2))) > floor
        for i in range(0, len(pcm) - FRAME + 1, FRAME)
    ]


def _trim(mulaw: bytes) -> bytes:
    """The line without its leading and trailing silence, frame-aligned."""
    voiced = _voiced_frames(mulaw)
    if not any(voiced):
        return mulaw
    first = voiced.index(True)
    last = len(voiced) - 1 - voiced[::-1].index(True)
    return mulaw[first * FRAME : (last + 1) * FRAME]


def _case(group: str, label: str, audio: bytes, gap: float = 0.3) -> Case:
    audio = audio[: len(audio) // FRAME * FRAME]
    voiced = _voiced_frames(audio)
    last = len(voiced) - 1 - voiced[::-1].index(True)
    return Case(group, label, audio, (last + 1) * FRAME / 8000, gap)


def _with_pause(line: bytes, pause: float) -> bytes:
    """`line` with `pause` seconds of silence at its quietest frame between 35 % and 65 %."""
    import numpy as np

    from calls.audio import ulaw_decode

    pcm = np.frombuffer(ulaw_decode(line), "<i2").astype(np.float64)
    frames = len(line) // FRAME
    energy = [float(np.mean(pcm[i * FRAME : (i + 1) * FRAME] ** 2)) for i in range(frames)]
    lo, hi = int(frames * 0.35), int(frames * 0.65)
    cut = min(range(lo, hi), key=energy.__getitem__)
    silence = SILENCE_FRAME * round(pause / 0.02)
    return line[: cut * FRAME] + silence + line[cut * FRAME :]


def build_cases(quick: bool) -> list[Case]:
    from telephony.simulator import speech

    sentences = SENTENCES[:2] if quick else SENTENCES
    short = SHORT[:3] + SHORT[-1:] if quick else SHORT
    cases = [_case("complete sentence", s, _trim(speech(s))) for s in sentences]
    for text in PAUSED[:1] if quick else PAUSED:
        line = _trim(speech(text))
        for pause in PAUSES_MS:
            cases.append(
                _case(f"pause {pause} ms", f"{text} ({pause} ms)", _with_pause(line, pause / 1000))
            )
    for groups in PHONE_GROUPS[:1] if quick else PHONE_GROUPS:
        gap = SILENCE_FRAME * 30
        audio = gap.join(_trim(speech(g)) for g in groups)
        cases.append(_case("phone number in groups", " / ".join(groups), audio))
    for gap_ms in GAPS_MS:
        for word in short:
            cases.append(
                _case(f"answer {gap_ms} ms after", word, _trim(speech(word)), gap=gap_ms / 1000)
            )
    return cases


# ---------------------------------------------------------------- one call


class Carrier:
    """Plays the agent's audio on a clock and echoes each mark when playback reaches it."""

    def __init__(self) -> None:
        self.session = None
        self.play_end = 0.0
        self.pending: list[asyncio.TimerHandle] = []

    async def send_audio(self, mulaw: bytes) -> None:
        now = time.monotonic()
        self.play_end = max(self.play_end, now) + len(mulaw) / 8000

    async def send_mark(self, name: str) -> None:
        delay = max(0.0, self.play_end - time.monotonic())
        loop = asyncio.get_running_loop()
        self.pending.append(
            loop.call_later(delay, lambda: asyncio.ensure_future(self.session.on_mark(name)))
        )

    async def send_clear(self) -> None:
        for handle in self.pending:
            handle.cancel()
        self.pending.clear()
        self.play_end = time.monotonic()

    async def hang_up(self) -> None:
        return None


def _recorder_class():
    from calls.engine.recorder import CallRecorder

    class MemoryRecorder(CallRecorder):
        """Keeps the records in memory (the bench measures the engine, not the database)."""

        def __init__(self, call_id: int) -> None:
            super().__init__(call_id)
            self.turns: list = []
            self.events: list[tuple[str, dict]] = []

        def start(self) -> None:
            return None

        def save_turn(self, record) -> None:
            self.turns.append(record)

        def event(self, kind: str, **data) -> None:
            self.events.append((kind, data))

        def call_update(self, **fields) -> None:
            return None

        async def close(self, *, outcome, audio) -> None:
            return None

    return MemoryRecorder


async def run_case(case: Case, n: int, *, with_model: bool = False) -> Outcome:
    from calls.builtin_tools import parse_knowledge
    from calls.engine import smart_turn
    from calls.engine.session import VAD_OPTIONS, AgentSettings, CallSession
    from calls.engine.speech import Listener, Speaker
    from calls.providers.local_stt import LocalWhisperSTT
    from calls.providers.local_tts import EspeakTTS
    from calls.providers.resilience import FallbackLLM
    from calls.providers.scripted import ScriptedBrain
    from calls.tools import ToolContext, registry
    from calls.vad import VoiceActivityDetector

    outcome = Outcome(case)
    line_started: list[float] = []
    tools = registry.for_agent(["lookup_info", "current_time"])
    context = ToolContext(n, 1, 1, "+14155550000", knowledge=parse_knowledge(KNOWLEDGE))
    brain = ScriptedBrain(tools, context)

    class TimedBrain(type(brain)):
        async def stream(self, messages, specs):
            last = messages[-1] if messages else {}
            if line_started and last.get("role") == "user":
                outcome.turn_ends.append(time.monotonic() - line_started[0])
                outcome.heard_texts.append(str(last.get("content")))
                decision = session.hearing.detector.decision
                outcome.signals.append(decision.get("turn_signal"))
                outcome.scores.append(decision.get("turn_score"))
            async for event in super().stream(messages, specs):
                yield event

    brain.__class__ = TimedBrain
    carrier = Carrier()
    recorder = _recorder_class()(n)
    stt = LocalWhisperSTT()
    session = CallSession(
        call_id=n,
        agent=AgentSettings(
            greeting=GREETING, system_prompt="", silence_reprompt=30, silence_hangup=60
        ),
        listener_factory=lambda s: Listener(
            stt,
            None,
            language="en",
            hints=["hours", "parking"],
            on_event=s.on_stt_event,
            on_switch=s.on_stt_switch,
        ),
        llm=FallbackLLM(brain, None, first_timeout=10, idle_timeout=10),
        speaker=Speaker(EspeakTTS(), None, first_timeout=10, idle_timeout=10),
        tools=tools,
        tool_context=context,
        transport=carrier,
        recorder=recorder,
        vad=VoiceActivityDetector(sample_rate=8000, **VAD_OPTIONS),
        turn_model=smart_turn.score_async if with_model else None,
    )
    carrier.session = session
    await session.start()

    async def feed(audio: bytes) -> None:
        frames = [audio[i : i + FRAME] for i in range(0, len(audio), FRAME)]
        t0 = time.monotonic()
        for i, frame in enumerate(frames):
            await session.on_audio(frame)
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - time.monotonic()))

    async def silence_until(condition, limit: float) -> None:
        t0 = time.monotonic()
        i = 0
        while not condition() and time.monotonic() - t0 < limit:
            await session.on_audio(SILENCE_FRAME)
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))

    # The greeting plays; the caller answers `gap` after its audio stops.
    await silence_until(lambda: carrier.play_end > 0, 10)
    await silence_until(lambda: time.monotonic() > carrier.play_end + case.gap, 15)
    line_started.append(time.monotonic())
    await feed(case.audio)
    unheard_before = sum(1 for kind, _ in recorder.events if kind == "unheard")

    def unheard() -> int:
        return sum(1 for kind, _ in recorder.events if kind == "unheard") - unheard_before

    # Time to answer, or to say it did not hear.
    await silence_until(lambda: bool(outcome.turn_ends) or unheard() > 0, 5.0)
    outcome.unheard = unheard()
    await session.close("bench")
    outcome.early = sum("turn_early_ms" in turn.timings for turn in recorder.turns)
    return outcome


# ---------------------------------------------------------------- report


def _decisions(outcome: Outcome) -> str:
    return ", ".join(
        f"{signal} {score}" if score is not None else str(signal)
        for signal, score in zip(outcome.signals, outcome.scores, strict=True)
    )


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def report(outcomes: list[Outcome], title: str) -> None:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.case.group, []).append(o)
    print()
    print(title)
    print(
        f"{'case':28} {'n':>3} {'cut-offs':>9} {'lost':>5} {'delay p50':>10} {'p95 ms':>7}"
        f" {'early':>6}"
    )
    for group, items in groups.items():
        delays = [o.delay_ms for o in items if o.delay_ms is not None and not o.cut_off]
        p50 = f"{statistics.median(delays):.0f}" if delays else "-"
        p95 = f"{_pct(delays, 0.95):.0f}" if delays else "-"
        print(
            f"{group:28} {len(items):>3} {sum(o.cut_off for o in items):>9} "
            f"{sum(o.lost for o in items):>5} {p50:>10} {p95:>7} {sum(o.early for o in items):>6}"
        )
    print()
    for o in outcomes:
        if o.lost or o.cut_off:
            what = "LOST" if o.lost else "CUT OFF"
            print(f"  {what}: [{o.case.group}] {o.case.label!r} heard as {o.heard_texts}")


async def main_async(args) -> None:
    from calls.warmup import preload

    preload()
    cases = build_cases(args.quick) * args.repeat
    modes = {"VAD + text rules": False, "VAD + text rules + Smart Turn": True}
    if args.mode != "both":
        modes = {k: v for k, v in modes.items() if v == (args.mode == "model")}
    results = {}
    for title, with_model in modes.items():
        outcomes = []
        for n, case in enumerate(cases, 1):
            outcome = await run_case(case, n, with_model=with_model)
            outcomes.append(outcome)
            status = "lost" if outcome.lost else "cut off" if outcome.cut_off else "ok"
            delay = f"{outcome.delay_ms:.0f} ms" if outcome.delay_ms is not None else "-"
            print(
                f"[{title}] [{n}/{len(cases)}] {case.group}: {case.label!r} -> {status}, {delay}"
                f" ({_decisions(outcome) or 'no turn'}; heard {outcome.heard_texts})",
                flush=True,
            )
        results[title] = outcomes
    for title, outcomes in results.items():
        report(outcomes, title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller set of cases")
    parser.add_argument("--repeat", type=int, default=1, help="run every case this many times")
    parser.add_argument(
        "--mode", choices=["both", "text", "model"], default="both", help="which end of turn"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("LOG_LEVEL", "warning")
    import django

    django.setup()
    from django.core.management import call_command

    # The session's records stay in memory, but the apps' call hooks (the menu, the cost) read
    # the default database: it needs its tables, as after ./scripts/demo.
    call_command("migrate", verbosity=0)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
