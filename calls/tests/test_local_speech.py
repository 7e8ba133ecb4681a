import asyncio
from pathlib import Path

import numpy as np
import pytest

from calls.audio import FrameSplitter, FromMulaw8k, ToMulaw8k
from calls.providers import whisper_window
from calls.providers.base import PCM16_16K, AudioFormat, ProviderError, Transcript
from calls.providers.local_stt import LocalWhisperSTT, build_prompt, load_model, transcribe
from calls.providers.local_tts import EspeakTTS, PiperTTS, load_piper_voice, piper_pcm16

DATA = Path(__file__).parent / "data"
MENU = ["latte", "cappuccino", "espresso", "americano", "muffin"]
# Piper varies every take; without its noise a take is repeatable, so the test is too.
STEADY = {"length_scale": 0.9, "noise_scale": 0.0, "noise_w_scale": 0.0}


@pytest.fixture(scope="session")
def models():
    load_piper_voice()
    load_model()


def over_the_phone(pcm: bytes, rate: int) -> list[bytes]:
    """TTS audio to 20 ms mu-law frames and back to STT input frames, as a call carries it."""
    to_line = ToMulaw8k(AudioFormat("pcm16", rate))
    splitter = FrameSplitter()
    line = splitter.push(to_line.convert(pcm)) + splitter.push(to_line.flush()) + splitter.flush()
    from_line = FromMulaw8k(PCM16_16K)
    return [from_line.convert(frame) for frame in line] + [from_line.flush()]


async def next_event(session):
    async with asyncio.timeout(30):
        return await anext(aiter(session.events()))


async def test_piper_caller_is_understood_through_the_phone_line(models):
    pcm, rate = piper_pcm16("I'd like a large latte, please.", **STEADY)
    session = await LocalWhisperSTT().open(language="en", hints=MENU)
    try:
        for frame in over_the_phone(pcm, rate):
            await session.send_audio(frame)
        await session.finalize()
        transcript = await next_event(session)
    finally:
        await session.close()
    assert transcript.is_final and transcript.speech_final
    assert "large latte" in transcript.text.lower()


async def test_silence_and_an_empty_turn_still_give_a_final_transcript(models):
    session = await LocalWhisperSTT().open(language="en")
    events = session.events()
    try:
        await session.finalize()
        assert await asyncio.wait_for(anext(events), 30) == Transcript("", True, True)
        await session.send_audio(bytes(16000 * 2))
        await session.finalize()
        assert await asyncio.wait_for(anext(events), 30) == Transcript("", True, True)
    finally:
        await session.close()


@pytest.mark.parametrize("window", [30, 20, 15])
@pytest.mark.parametrize("seed", [0, 5])
async def test_loud_noise_is_not_read_as_the_hints(models, seed, window, settings):
    # Unfiltered, whisper hears this as "Latte, cappuccino," (seed 0) or "La la la..." (seed 5).
    settings.WHISPER_WINDOW_SECONDS = window
    noise = np.random.default_rng(seed).normal(0, 0.18 * 32768, 16000 * 2)
    assert await transcribe(noise.clip(-32768, 32767).astype("<i2").tobytes(), hints=MENU) == ""


async def test_transcripts_come_in_turn_order_and_events_end_on_close(models):
    pcm, rate = piper_pcm16("I'd like a large latte, please.", **STEADY)
    session = await LocalWhisperSTT().open(language="en", hints=MENU)
    for frame in over_the_phone(pcm, rate):
        await session.send_audio(frame)
    await session.finalize()
    await session.finalize()  # a second turn with nothing in it
    received = []

    async def consume():
        async for event in session.events():
            received.append(event)
            if len(received) == 2:
                await session.close()

    await asyncio.wait_for(consume(), 30)
    assert "latte" in received[0].text.lower()
    assert received[1].text == ""


async def test_events_end_when_closed_while_waiting(models):
    session = await LocalWhisperSTT().open(language="en")
    waiting = asyncio.create_task(anext(aiter(session.events()), None))
    await asyncio.sleep(0.05)
    await session.close()
    await session.close()
    assert await asyncio.wait_for(waiting, 5) is None


async def test_transcribe_helper(models):
    pcm, rate = piper_pcm16("I'd like a large latte, please.", **STEADY)
    text = await transcribe(b"".join(over_the_phone(pcm, rate)), hints=MENU)
    assert "large latte" in text.lower()
    assert await transcribe(b"") == ""


def _spy_on_the_short_window(monkeypatch) -> list[int]:
    windows: list[int] = []
    real = whisper_window.transcribe

    def spy(model, samples, prompt, seconds):
        windows.append(seconds)
        return real(model, samples, prompt, seconds)

    monkeypatch.setattr(whisper_window, "transcribe", spy)
    return windows


async def test_a_shorter_window_hears_the_caller(models, settings, monkeypatch):
    windows = _spy_on_the_short_window(monkeypatch)
    pcm, rate = piper_pcm16("What are your hours today?", **STEADY)
    audio = b"".join(over_the_phone(pcm, rate))
    settings.WHISPER_WINDOW_SECONDS = 30
    assert "hours today" in (await transcribe(audio, hints=MENU)).lower()
    assert windows == []  # whisper's own 30 s window
    settings.WHISPER_WINDOW_SECONDS = 15
    assert "hours today" in (await transcribe(audio, hints=MENU)).lower()
    assert windows == [15]


async def test_a_lone_yes_on_the_short_window_is_heard(models, settings):
    # "Yes." as the engine cut it from a call (bench.turns, said 0 ms after the agent stopped):
    # on a 15 s window whisper reads it right, sure of its words, yet scores it 0.76 as no
    # speech (0.27 on its own 30 s window); the no-speech score alone threw it away.
    audio = (DATA / "yes_as_cut_by_the_engine.pcm").read_bytes()
    samples = np.frombuffer(audio, "<i2").astype(np.float32) / 32768
    heard = whisper_window.transcribe(load_model(), samples, build_prompt(["hours", "parking"]), 15)
    assert heard.text == "Yes." and heard.no_speech_prob > 0.6 and heard.avg_logprob > -1.0
    settings.WHISPER_WINDOW_SECONDS = 15
    assert await transcribe(audio, hints=["hours", "parking"]) == "Yes."


async def test_an_utterance_too_long_for_the_window_takes_whisper_own_path(
    models, settings, monkeypatch
):
    settings.WHISPER_WINDOW_SECONDS = 10
    windows = _spy_on_the_short_window(monkeypatch)
    line = "I would like a large latte please, and my friend wants a cappuccino with oat milk."
    pcm, rate = piper_pcm16(line, **STEADY)
    once = b"".join(over_the_phone(pcm, rate))
    seconds = len(once) / 32000
    long = once * (int(10 / seconds) + 1)  # longer than the window
    text = (await transcribe(long, hints=MENU)).lower()
    assert windows == []
    assert text.count("cappuccino") >= 2


def test_a_sentence_that_restarts_itself_is_told_apart():
    restarts = whisper_window.restarts_itself
    assert restarts("Is there parking? Is there")
    assert restarts("Can you tell me where you are located? Can you tell me where")
    assert restarts("I want a latte. I want")  # or a caller who restarted: heard again
    assert not restarts("Is there parking?")
    assert not restarts("Two lattes. And a muffin")
    assert not restarts("Is there parking? Is there parking?")  # whole: taken once instead
    assert not restarts("Yes. No")
    assert not restarts("")


async def test_a_short_windows_echo_is_heard_again_on_whispers_own_window(
    models, settings, monkeypatch
):
    # On a 15 s window whisper sometimes goes on into the silence with the sentence's start
    # ("Is there parking? Is there", 3 of 87 takes with a prompt): the utterance is heard again
    # on the 30 s window, which keeps the words a caller really said and drops the echo.
    settings.WHISPER_WINDOW_SECONDS = 15
    real = whisper_window.transcribe
    echoed: list[str] = []

    def echo(model, samples, prompt, seconds):
        heard = real(model, samples, prompt, seconds)
        echoed.append(heard.text)
        return whisper_window.Heard(f"{heard.text} Is there", 0.01, 1.0, -0.2)

    monkeypatch.setattr(whisper_window, "transcribe", echo)
    pcm, rate = piper_pcm16("Is there parking?", **STEADY)
    text = await transcribe(b"".join(over_the_phone(pcm, rate)), hints=MENU)
    assert echoed == ["Is there parking?"]
    assert text == "Is there parking?"


def test_a_sentence_whisper_repeats_back_to_back_is_taken_once():
    assert whisper_window.once("Sure. Sure. Sure. Sure.") == "Sure."
    assert whisper_window.once("Is there parking? Is there parking? Is") == "Is there parking? Is"
    assert whisper_window.once("Yes. No.") == "Yes. No."
    assert whisper_window.once("No, no, no.") == "No, no, no."
    assert whisper_window.once("I'll be there at 5.30. Bye.") == "I'll be there at 5.30. Bye."
    assert whisper_window.once("") == ""


async def test_whisper_refuses_languages_it_cannot_hear():
    with pytest.raises(ProviderError) as error:
        await LocalWhisperSTT().open(language="es")
    assert error.value.permanent


def test_hints_become_a_glossary_prompt():
    assert build_prompt(["latte", " flat white ", ""]) == "Latte, flat white."
    assert build_prompt([]) is None
    assert build_prompt(None) is None


async def test_piper_streams_a_chunk_per_sentence(models):
    tts = PiperTTS()
    assert tts.output_format == AudioFormat("pcm16", 22050)
    chunks = [chunk async for chunk in tts.synthesize("Hello there. What can I get you?")]
    assert len(chunks) == 2
    for chunk in chunks:
        audio = np.frombuffer(chunk, "<i2")
        assert 0.3 * 22050 < len(audio) < 3 * 22050
        assert np.abs(audio).max() > 10000


async def test_piper_has_no_voice_for_other_languages():
    with pytest.raises(ProviderError) as error:
        async for _chunk in PiperTTS().synthesize("Hola", language="es"):
            pass
    assert error.value.permanent


async def test_espeak_speaks():
    tts = EspeakTTS()
    chunks = [chunk async for chunk in tts.synthesize("I would like a large latte please.")]
    audio = np.frombuffer(b"".join(chunks), "<i2").astype(np.float64)
    assert tts.output_format == AudioFormat("pcm16", 22050)
    assert 1.0 < len(audio) / 22050 < 4.0
    assert np.sqrt(np.mean(audio**2)) > 1000


async def test_espeak_picks_a_voice_by_language_or_name():
    english = [chunk async for chunk in EspeakTTS().synthesize("hello", language="en-GB")]
    spanish = [chunk async for chunk in EspeakTTS().synthesize("hola", voice="es")]
    assert english and spanish


@pytest.mark.parametrize("choice", [{"voice": "no-such-voice"}, {"language": "xx"}])
async def test_espeak_fails_as_a_provider_on_an_unknown_voice(choice):
    with pytest.raises(ProviderError) as error:
        async for _chunk in EspeakTTS().synthesize("hello", **choice):
            pass
    assert error.value.permanent


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("That's $7.25 in total.", "That's 7 dollars 25 in total."),
        ("A topping is $0.75, a size $1.00 more.", "A topping is 75 cents, a size 1 dollar more."),
        ("$12.05 each", "12 dollars and 5 cents each"),
        ("It costs $10.", "It costs 10 dollars."),
        ("Order 104 at 7.25", "Order 104 at 7.25"),  # only money is rewritten
    ],
)
def test_piper_is_given_money_as_people_say_it(text, said):
    from calls.providers.local_tts import spoken

    assert spoken(text) == said


async def test_piper_says_dollars_not_dollar_signs(models):
    """Round trip through the real voice and the phone line: "$7.25" is heard as dollars."""
    pcm, rate = piper_pcm16("That's $7.25 in total.", **STEADY)
    heard = (await transcribe(b"".join(over_the_phone(pcm, rate)))).lower()
    assert "point" not in heard and ("7.25" in heard or "dollars" in heard), heard
