"""End of turn with real speech: the local voice talks to the real engine (silero VAD, whisper
tiny.en, the scripted brain, Smart Turn) through bench.turns' simulated carrier.

Short answers said right after the agent stops were lost (the VAD's energy gate reset the model
on the quiet start of "Is there parking?"); each now becomes a caller turn, or at worst an
`unheard` event and a re-ask, never silence."""

from __future__ import annotations

import pytest

from bench.turns import _case, _trim, _with_pause, run_case
from telephony.simulator import speech

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

SHORT_ANSWERS = ["Yes.", "No.", "Two.", "Okay.", "Sure.", "Thanks.", "Is there parking?"]
GAPS_MS = [0, 150, 300, 450, 600, 750, 900]


async def test_short_answers_right_after_the_agent_stops_are_never_lost():
    for n, (word, gap) in enumerate(zip(SHORT_ANSWERS, GAPS_MS, strict=True)):
        case = _case(f"{gap} ms", word, _trim(speech(word)), gap=gap / 1000)
        outcome = await run_case(case, 9000 + n, with_model=True)
        assert not outcome.lost, f"{word!r} said {gap} ms after the agent stopped was lost"
        assert not outcome.cut_off


async def test_a_700_ms_pause_mid_sentence_is_not_cut_off():
    text = "I would like to order a large coffee please."
    case = _case("pause", text, _with_pause(_trim(speech(text)), 0.7))
    outcome = await run_case(case, 9100, with_model=True)
    assert not outcome.lost and not outcome.cut_off, outcome.heard_texts
    assert "coffee" in outcome.heard_texts[0].lower()


async def test_a_complete_question_ends_quickly_and_says_what_ended_it():
    case = _case("complete", "What are your hours?", _trim(speech("What are your hours?")))
    outcome = await run_case(case, 9200, with_model=True)
    assert not outcome.lost and not outcome.cut_off
    assert outcome.delay_ms is not None and outcome.delay_ms < 1500
    assert outcome.signals and outcome.signals[0] in ("model", "model_unsure", "text")
