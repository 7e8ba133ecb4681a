import numpy as np
import pytest

from calls.audio import convert_audio
from calls.providers.base import PCM16_8K, AudioFormat
from calls.providers.local_tts import piper_pcm16
from calls.tests.gil import others_ran_during
from calls.vad import (
    GATE_AFTER_WINDOWS,
    SpeechEnd,
    SpeechStart,
    VoiceActivityDetector,
    model_for,
)

FRAME = 320  # 20 ms of PCM16 at 8 kHz
LEAD_MS = 500


def silence(ms: int) -> bytes:
    return bytes(16 * ms)


def feed_frames(detector: VoiceActivityDetector, pcm: bytes, frame: int = FRAME) -> list:
    events = []
    for i in range(0, len(pcm), frame):
        event = detector.feed(pcm[i : i + frame])
        if event is not None:
            events.append(event)
    return events


@pytest.fixture(scope="module")
def speech() -> tuple[bytes, float, float]:
    """Piper saying a sentence at 8 kHz, and where its sound starts and ends (ms)."""
    pcm, rate = piper_pcm16("I would like a large latte please", noise_scale=0, noise_w_scale=0)
    pcm8k = convert_audio(pcm, AudioFormat("pcm16", rate), PCM16_8K)
    loud = np.nonzero(np.abs(np.frombuffer(pcm8k, "<i2")) > 1000)[0]
    return pcm8k, loud[0] / 8, loud[-1] / 8


def test_silence_makes_no_event():
    detector = VoiceActivityDetector()
    assert feed_frames(detector, silence(3000)) == []
    assert not detector.speaking
    assert detector.last_probability < 0.1


def test_white_noise_is_not_speech():
    noise = np.random.default_rng(7).normal(0, 0.1 * 32768, 8000 * 3)  # -20 dBFS
    detector = VoiceActivityDetector()
    events = feed_frames(detector, noise.clip(-32768, 32767).astype("<i2").tobytes())
    assert not any(isinstance(event, SpeechStart) for event in events)


def test_speech_starts_and_ends_about_where_it_does(speech):
    pcm, onset, offset = speech
    detector = VoiceActivityDetector()
    assert feed_frames(detector, silence(LEAD_MS)) == []
    events = feed_frames(detector, pcm)
    assert [type(event) for event in events] == [SpeechStart]
    assert detector.speaking
    assert abs(events[0].at_ms - (LEAD_MS + onset)) <= 100

    events = feed_frames(detector, silence(1000))
    assert [type(event) for event in events] == [SpeechEnd]
    assert not detector.speaking
    assert LEAD_MS + offset - 50 <= events[0].at_ms <= LEAD_MS + offset + 350


def test_hysteresis_sets_how_soon_events_fire(speech):
    pcm, _onset, _offset = speech
    quick = VoiceActivityDetector(start_ms=0, stop_ms=0)
    slow = VoiceActivityDetector(start_ms=200, stop_ms=800)
    audio = silence(LEAD_MS) + pcm + silence(1000)
    fired_at = {}
    for name, detector in (("quick", quick), ("slow", slow)):
        for i in range(0, len(audio), FRAME):
            event = detector.feed(audio[i : i + FRAME])
            if event is not None:
                fired_at.setdefault((name, type(event)), i / 16)
    # Events carry where speech began or ended, but fire only once hysteresis is satisfied.
    assert fired_at["slow", SpeechStart] - fired_at["quick", SpeechStart] >= 150
    assert fired_at["slow", SpeechEnd] - fired_at["quick", SpeechEnd] >= 500


def test_frame_size_does_not_change_the_events(speech):
    pcm, _onset, _offset = speech
    audio = silence(LEAD_MS) + pcm + silence(1000)
    by_20ms = feed_frames(VoiceActivityDetector(), audio)
    by_10ms = feed_frames(VoiceActivityDetector(), audio, frame=160)
    all_at_once = VoiceActivityDetector().feed_all(audio)
    assert len(by_20ms) == 2
    assert by_20ms == by_10ms == all_at_once


def probabilities(detector: VoiceActivityDetector, pcm: bytes) -> list[float]:
    trace = []
    for i in range(0, len(pcm), FRAME):
        detector.feed(pcm[i : i + FRAME])
        trace.append(detector.last_probability)
    return trace


def test_concurrent_detectors_keep_their_own_state(speech):
    pcm, _onset, _offset = speech
    alone = probabilities(VoiceActivityDetector(), pcm)
    talking, quiet = VoiceActivityDetector(), VoiceActivityDetector()
    interleaved = []
    for i in range(0, len(pcm), FRAME):
        talking.feed(pcm[i : i + FRAME])
        quiet.feed(silence(20))
        interleaved.append(talking.last_probability)
        assert not quiet.speaking
    assert interleaved == alone


def test_every_detector_shares_the_one_model_and_starts_clean(speech):
    pcm, _onset, _offset = speech
    first = VoiceActivityDetector()
    fresh_trace = probabilities(first, pcm)  # ends mid-sentence state, as a hung-up call would
    first.close()

    second = VoiceActivityDetector()
    assert second.model is first.model is model_for(8000)  # loaded once per process
    assert probabilities(second, pcm) == fresh_trace


def test_a_closed_detector_cannot_be_fed():
    detector = VoiceActivityDetector()
    detector.close()
    detector.close()
    with pytest.raises(RuntimeError):
        detector.feed(silence(20))


def test_only_silero_rates_are_accepted():
    with pytest.raises(ValueError):
        VoiceActivityDetector(sample_rate=22050)


def test_quiet_windows_skip_the_model():
    """The caller listening costs next to nothing: once the line has been near-silent for a
    quarter of a second, its windows no longer reach silero."""
    detector = VoiceActivityDetector()
    model = model_for(8000)
    before = model.windows_scored
    quiet = (np.random.default_rng(1).normal(0, 30, 160)).astype("<i2").tobytes()  # ~ -60 dBFS
    for _ in range(50):  # 1 s: 31 windows
        assert detector.feed(quiet) is None
    assert model.windows_scored - before == GATE_AFTER_WINDOWS
    loud = (np.sin(np.arange(160) / 3) * 8000).astype("<i2").tobytes()
    for _ in range(5):
        detector.feed(loud)
    assert model.windows_scored - before > GATE_AFTER_WINDOWS  # a loud window is scored
    detector.close()


def test_a_quiet_frame_keeps_the_gil():
    """A listening caller's frames are handled on the event loop without letting go of the GIL
    (the energy gate was a BLAS dot product, which does)."""
    detector = VoiceActivityDetector()
    quiet = (np.random.default_rng(1).normal(0, 30, 160)).astype("<i2").tobytes()
    for _ in range(50):  # past the gate: these windows skip the model (which lets go, batched)
        detector.feed(quiet)
    assert others_ran_during(lambda: detector.feed(quiet)) == 0
    detector.close()


@pytest.mark.parametrize("phrase", ["Is there parking?", "Okay."])
def test_short_answers_with_soft_onsets_are_heard(phrase):
    """Short answers whose first sounds or the dips between words are quieter than the energy
    gate: the gate used to reset the model there and break the run of speech before it
    counted, and about half of the renditions of "Is there parking?" were never heard."""
    from calls.audio import ulaw_decode
    from calls.engine.hearing import VAD_OPTIONS
    from telephony.simulator import speech

    for _ in range(8):  # piper says it a little differently each time
        detector = VoiceActivityDetector(sample_rate=8000, **VAD_OPTIONS)
        audio = ulaw_decode(b"\xff" * 16000 + speech(phrase) + b"\xff" * 8000)
        events = [
            type(event).__name__
            for i in range(0, len(audio), 320)
            if (event := detector.feed(audio[i : i + 320])) is not None
        ]
        detector.close()
        assert events[:1] == ["SpeechStart"] and events[-1] == "SpeechEnd", events
