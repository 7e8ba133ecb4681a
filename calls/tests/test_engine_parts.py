"""The engine's small parts: sentences, turn-end rules, what was heard, circuit breaking, and
choosing providers."""

from __future__ import annotations

import pytest

from calls.engine.playout import heard_text
from calls.engine.sentences import SentenceSplitter, clean_for_speech
from calls.engine.turns import TurnDetector, sounds_unfinished
from calls.models import Agent
from calls.providers import factory
from calls.providers.resilience import CircuitBreaker, breaker_for


def split(*pieces: str) -> list[str]:
    splitter = SentenceSplitter()
    out = []
    for piece in pieces:
        out += splitter.feed(piece)
    return out + splitter.flush()


def test_sentences_come_out_as_soon_as_they_end():
    splitter = SentenceSplitter()
    assert splitter.feed("Sure! Your total") == ["Sure!"]
    assert splitter.feed(" is $3.50. Anything") == ["Your total is $3.50."]
    assert splitter.flush() == ["Anything"]


def test_abbreviations_and_initials_do_not_end_a_sentence():
    assert split("Dr. Smith is in on Mon. at 9 a.m. today. ", "Bye.") == [
        "Dr. Smith is in on Mon. at 9 a.m. today.",
        "Bye.",
    ]


def test_markdown_is_not_read_out():
    assert clean_for_speech("**Great** choice, _really_.") == "Great choice, really."


def test_a_long_clause_is_spoken_at_its_last_comma():
    text = "We have lattes, cappuccinos, flat whites, mochas, " * 4
    assert len(split(text)[0]) <= 200


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("my number is 415 555", True),
        ("it's four one five", True),
        ("I'd like a latte and", True),
        ("um", True),
        ("what are your hours?", False),
        ("a large latte please", False),
    ],
)
def test_what_sounds_unfinished(text, unfinished):
    assert sounds_unfinished(text) is unfinished


def test_turn_waits_for_the_hold_after_digits():
    detector = TurnDetector(hold=1.5, silence_cap=3.0)
    detector.speech_started()
    detector.speech_stopped(at=10.0)
    detector.final_text("my number is 415 555", speech_final=True)
    assert not detector.due(10.5)
    assert detector.due(11.5)


def test_turn_ends_at_the_endpoint_when_complete():
    detector = TurnDetector()
    detector.speech_started()
    detector.speech_stopped(at=10.0)
    assert not detector.due(10.1)  # no text yet
    detector.final_text("what are your hours", speech_final=True)
    assert detector.due(10.1)
    assert detector.take() == "what are your hours" and not detector.texts


@pytest.mark.parametrize(
    ("after_question", "punctuated", "text", "score", "signal"),
    [
        (True, False, "No.", 0.7, "short_answer"),  # a short answer to a question
        (True, False, "Two, please.", 0.6, "short_answer"),
        (False, False, "No.", 0.7, None),  # the agent asked nothing: the model's doubt counts
        (True, False, "is there parking near the shop", 0.7, None),  # more than a short answer
        (True, False, "No.", 0.3, None),  # the model hears an unfinished turn
        (True, False, "two and", 0.9, None),  # the text hangs
        (False, True, "Is there parking near the shop?", 0.7, "question"),  # whisper's question
        (False, True, "Is there parking near the shop?", 0.3, None),  # the model: unfinished
        (False, True, "I would like a large coffee.", 0.7, None),  # a statement: the doubt counts
        (False, False, "Is there parking near the shop?", 0.7, None),  # "?" from a non-punctuator
    ],
)
def test_a_short_answer_or_a_whole_question_ends_without_the_unsure_wait(
    after_question, punctuated, text, score, signal
):
    detector = TurnDetector(unsure_wait=0.9, hold=1.6)
    detector.after_question, detector.punctuated = after_question, punctuated
    detector.speech_started()
    detector.speech_stopped(at=10.0)
    detector.final_text(text, speech_final=True)
    detector.scored(score)
    assert detector.due(10.05) is (signal is not None)
    if not detector.unfinished(text):  # the early end asks the same, once the text rules pass
        assert detector.ends_at_once(text, score) is (signal is not None)
    if signal is not None:
        assert detector.decision == {"turn_signal": signal, "turn_score": score}
    assert detector.due(12.0)  # every turn ends in the end


@pytest.mark.parametrize(
    ("punctuated", "text", "waits"),
    [
        (True, "Can you tell me where you", True),  # whisper heard the caller stop mid-question
        (True, "Can you tell me where you are located?", False),
        (True, "Thank you.", False),
        (False, "can you tell me where you", False),  # a recogniser that never punctuates
    ],
)
def test_a_punctuating_recogniser_text_without_a_sentence_end_waits(punctuated, text, waits):
    detector = TurnDetector(hold=1.6)
    detector.punctuated = punctuated
    detector.speech_started()
    detector.speech_stopped(at=10.0)
    detector.final_text(text, speech_final=True)
    detector.scored(0.98)  # the model, confident: the text alone holds the turn
    assert detector.due(10.05) is not waits
    if waits:
        assert detector.due(11.7) and detector.decision["turn_held_for"] == "text"


def test_speech_resuming_keeps_the_turn_open():
    detector = TurnDetector(hold=1.0)
    detector.speech_started()
    detector.speech_stopped(at=0.0)
    detector.final_text("call me on 415", speech_final=True)
    detector.speech_started()
    assert not detector.due(5.0)
    detector.speech_stopped(at=5.0)
    detector.final_text("555 0123 thanks", speech_final=True)
    assert detector.due(5.0)
    assert detector.take() == "call me on 415 555 0123 thanks"


def test_heard_text_keeps_the_words_played():
    assert heard_text("one two three four", 0.5) == "one two"
    assert heard_text("one two three four", 1.0) == "one two three four"
    assert heard_text("one two three four", 0.0) == ""


def test_circuit_opens_after_repeated_failures_and_half_opens(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("calls.providers.resilience.time.monotonic", lambda: now[0])
    breaker = CircuitBreaker("x", threshold=3, cooldown=30)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow()
    now[0] += 29
    assert not breaker.allow()
    now[0] += 2
    assert breaker.allow()  # half-open: one try
    breaker.record_success()
    assert breaker.allow() and breaker.failures == 0


async def test_an_open_circuit_skips_the_primary():
    from calls.providers.base import LLM, Finished, TextDelta
    from calls.providers.resilience import FallbackLLM

    class Counting(LLM):
        def __init__(self, name, text):
            self.name, self.text, self.calls = name, text, 0

        async def stream(self, messages, tools):
            self.calls += 1
            yield TextDelta(self.text)
            yield Finished()

    primary, backup = Counting("primary-x", "a"), Counting("backup-x", "b")
    breaker = breaker_for("llm:primary-x")
    for _ in range(breaker.threshold):
        breaker.record_failure()
    events = [e async for e in FallbackLLM(primary, backup).stream([], [])]
    assert primary.calls == 0 and backup.calls == 1
    assert events[0] == TextDelta("b")


def test_unconfigured_provider_falls_back_then_goes_offline(settings):
    settings.GROQ_API_KEY = ""
    settings.DEEPGRAM_API_KEY = ""
    agent = Agent(
        llm_provider="groq", llm_fallback="openai", stt_provider="deepgram", stt_fallback=""
    )
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    primary, fallback, notes = factory.build_pair("llm", agent, tools=[], context=None)
    assert primary.name == "openai" and fallback is None
    assert any("'groq' is not configured" in note for note in notes)
    primary, fallback, notes = factory.build_pair("stt", agent)
    assert primary.name == "local_whisper" and any("offline" in note for note in notes)


def test_configured_providers_are_built_with_their_settings(settings):
    settings.GROQ_API_KEY = "gsk_test"
    settings.GROQ_BASE_URL = "http://127.0.0.1:9"
    settings.ELEVENLABS_API_KEY = "el_test"
    agent = Agent(
        llm_provider="groq",
        llm_fallback="scripted",
        llm_model="openai/gpt-oss-120b",
        tts_provider="elevenlabs",
        tts_fallback="piper",
        voice="VOICE1",
    )
    llm, llm_fallback, notes = factory.build_pair("llm", agent, tools=[], context=None)
    assert (llm.name, llm_fallback.name, notes) == ("groq", "scripted", [])
    tts, tts_fallback, _ = factory.build_pair("tts", agent)
    assert (tts.name, tts_fallback.name) == ("elevenlabs", "piper")


async def test_a_lost_mark_does_not_leave_the_agent_speaking_forever():
    import asyncio

    from calls.engine.playout import Playout, Utterance

    now = [0.0]
    sent = []

    async def record(*args):
        sent.append(args)

    playout = Playout(record, record, record, clock=lambda: now[0], mark_grace=2.0)
    task = asyncio.create_task(playout.run())
    utterance = Utterance("hello", mark="m1")
    playout.add(utterance, b"\xff" * 800)  # 0.1 s
    playout.end_utterance(utterance)
    for _ in range(5):
        await asyncio.sleep(0)
    assert playout.busy  # waiting for its mark
    now[0] = 1.0
    assert playout.busy
    now[0] = 2.2  # the mark never came
    assert not playout.busy and utterance.played
    task.cancel()
