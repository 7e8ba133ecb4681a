"""Smart Turn v3.2 on the caller's 8 kHz audio, spoken by the local voice through the phone line.

The examples were measured first (bench/smart_turn.py prints the wider set): these are ones the
model gets right with a wide margin over several piper takes. What it gets wrong is in the
benchmark and the README, not hidden here: a truncated text that piper reads with a falling,
final intonation ("I'd like a large.") sounds complete to it, and so does "My number is five
five five," before the pause; the engine's text rules still cover a trailing digit.

The margins depend on the CPU (piper's and the model's kernels): on the machine of 2026-12-01,
"That's all, thank you." scored 0.57 (0.8 wanted) and "Can I ask, um," 0.56 (0.3 wanted), the
same on every run, so they are no longer among these examples.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import logging
import threading

import numpy as np
import pytest

from bench.smart_turn import RATE, at_vad_end, caller, cut_at_pause, ms
from calls.engine import smart_turn
from calls.providers.base import ProviderError
from calls.providers.local_tts import load_piper_voice


@pytest.fixture(scope="module")
def model() -> smart_turn.SmartTurnModel:
    load_piper_voice()
    return smart_turn.load_model()


@pytest.mark.parametrize(
    "text",
    [
        "What are your hours?",
        "I'd like a large taro milk tea please.",
        "Can I get a latte?",
    ],
)
def test_a_complete_sentence_sounds_complete(model, text):
    assert smart_turn.score(at_vad_end(caller(text))) > 0.8


@pytest.mark.parametrize(
    ("sentence", "words_before"),
    [
        ("I'd like a large, um, taro milk tea please.", "I'd like a large, um,"),
    ],
)
def test_the_same_sentence_stopped_at_a_hesitation_sounds_unfinished(model, sentence, words_before):
    whole = smart_turn.score(at_vad_end(caller(sentence)))
    stopped = smart_turn.score(cut_at_pause(sentence, words_before)[0])
    assert whole > 0.8
    assert stopped < 0.3


@pytest.mark.parametrize(
    "text", ["I want a latte and", "I'd like a large, um", "So, I was wondering"]
)
def test_a_trailing_conjunction_or_filler_sounds_unfinished(model, text):
    assert smart_turn.score(at_vad_end(caller(text))) < 0.3


def test_phone_audio_is_upsampled_before_the_model_hears_it(model):
    """Fed at 8 kHz as if it were 16 kHz, the model hears everything as finished."""
    unfinished = at_vad_end(caller("I want a latte and"))
    assert model.score(unfinished) < 0.3
    assert model.score(unfinished, sample_rate=16000) > 0.5


def _pipecat_features():
    """Pipecat's own numpy port of transformers' WhisperFeatureExtractor, read from the
    installed wheel by path (importing the pipecat package would need its dependencies)."""
    path = importlib.metadata.distribution(smart_turn.DISTRIBUTION).locate_file(
        "pipecat/audio/turn/smart_turn/_whisper_features.py"
    )
    spec = importlib.util.spec_from_file_location("pipecat_whisper_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compute_whisper_log_mel_features


def test_features_match_the_reference_extractor_the_model_was_made_with(model):
    reference = _pipecat_features()
    rng = np.random.default_rng(7)
    spoken = np.frombuffer(caller("What are your hours?"), "<i2").astype(np.float32) / 32768
    inputs = {  # 16 kHz audio; the last two shorter than the window, as most turns are
        "noise": (rng.standard_normal(128_000) * 0.1).astype(np.float32),
        "speech": np.repeat(spoken, 2),  # any signal will do for the comparison
        "silence": np.zeros(16_000, np.float32),
    }
    for name, audio in inputs.items():
        padded = np.concatenate([np.zeros(128_000 - len(audio), np.float32), audio])
        ours = model.features_16k(audio)
        expected = reference(padded, do_normalize=True)
        assert ours.shape == expected.shape == (80, 800), name
        assert ours.dtype == np.float32, name
        np.testing.assert_allclose(ours, expected, atol=1e-4, err_msg=name)


def test_features_are_normalised_whatever_the_line_level(model):
    audio = caller("Can I get a latte?")
    quiet = (np.frombuffer(audio, "<i2") // 8).astype("<i2").tobytes()
    loud, soft = model.features(audio), model.features(quiet)
    assert loud.shape == (80, 800)
    # Zero-mean unit-variance waveform, then whisper's log-mel: an 8x quieter caller (18 dB)
    # gives the same features, within the mu-law and rounding noise.
    assert np.abs(loud - soft).mean() < 0.02
    # Whisper's scaling: log10 floored 8 decades under the peak, then (x + 4) / 4.
    assert loud.max() - loud.min() <= 2.0 + 1e-6
    # The speech sits at the end of the 8 s window, zeros before it.
    spoken_frames = len(audio) // 2 * 100 // RATE
    assert np.ptp(loud[:, : 800 - spoken_frames - 5], axis=1).max() < 1e-6
    assert np.ptp(loud[:, -spoken_frames:]) > 1


def test_only_the_last_eight_seconds_count(model):
    tail = at_vad_end(caller("I want a latte and"))
    recent = caller("Hello. I would like to place an order for pickup.") + tail
    assert len(recent) < ms(8000)
    older_a = caller("What are your hours?") * 4
    older_b = bytes(len(older_a))
    filler = bytes(ms(8200) - len(recent))  # pushes both older parts out of the window
    a, b = older_a + filler + recent, older_b + filler + recent
    assert len(a) > ms(8000)
    np.testing.assert_array_equal(model.features(a), model.features(b))
    assert model.score(a) == model.score(b) < 0.3
    # Inside the window the older speech is heard.
    assert not np.array_equal(model.features(older_a + recent), model.features(recent))


@pytest.mark.parametrize("duration", [0, 1, 150, 600])
def test_input_shorter_than_a_second_still_scores(model, duration):
    pcm = caller("Yes.")[: ms(duration)] + b"\x00"  # a half sample at the end is ignored
    probability = model.score(pcm)
    assert 0.0 <= probability <= 1.0
    assert model.features(pcm).shape == (80, 800)


@pytest.fixture
def fresh_loader(monkeypatch):
    """An empty process-wide slot, as before the first load; restored afterwards."""
    monkeypatch.setattr(smart_turn, "_model", None)
    monkeypatch.setattr(smart_turn, "_failure", None)


def test_a_missing_wheel_is_a_clear_permanent_error_logged_once(fresh_loader, monkeypatch, caplog):
    monkeypatch.setattr(smart_turn, "DISTRIBUTION", "pipecat-ai-not-installed")
    with caplog.at_level(logging.ERROR, logger=smart_turn.__name__):
        for _ in range(3):
            with pytest.raises(ProviderError) as raised:
                smart_turn.score(caller("Hello."))
    assert raised.value.permanent
    assert raised.value.provider == "smart_turn"
    assert "requirements-models.txt" in str(raised.value)
    assert [record.getMessage() for record in caplog.records] == [
        f"{raised.value}; turns end on the VAD and text rules only"
    ]


def test_a_missing_model_file_names_the_path(fresh_loader, monkeypatch):
    monkeypatch.setattr(smart_turn, "MODEL_FILE", "pipecat/no-such-model.onnx")
    with pytest.raises(ProviderError, match=r"no-such-model\.onnx") as raised:
        smart_turn.load_model()
    assert raised.value.permanent


def test_a_broken_model_file_is_a_provider_error(fresh_loader, tmp_path, monkeypatch):
    broken = tmp_path / "smart-turn.onnx"
    broken.write_bytes(b"not a model")
    monkeypatch.setattr(smart_turn, "model_path", lambda: broken)
    with pytest.raises(ProviderError, match="cannot load Smart Turn model"):
        smart_turn.load_model()


def test_every_call_shares_one_session(fresh_loader, monkeypatch):
    built = []
    original = smart_turn.SmartTurnModel

    def counting(path):
        built.append(path)
        return original(path)

    monkeypatch.setattr(smart_turn, "SmartTurnModel", counting)
    start = threading.Barrier(4)
    models = []

    def first_turn_of_a_call():
        start.wait(timeout=30)
        models.append(smart_turn.load_model())

    threads = [threading.Thread(target=first_turn_of_a_call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(built) == 1
    assert len(models) == 4 and all(m is models[0] for m in models)
    options = models[0].session.get_session_options()
    assert options.intra_op_num_threads == options.inter_op_num_threads == 1


async def test_calls_score_concurrently_off_the_event_loop(model, monkeypatch):
    turns = [at_vad_end(caller(text)) for text in ("What are your hours?", "I want a latte and")]
    expected = [model.score(turn) for turn in turns]
    loop_thread = threading.get_ident()
    threads = set()
    real_score = smart_turn.score

    def recording_score(pcm16_8k):
        threads.add(threading.get_ident())
        return real_score(pcm16_8k)

    monkeypatch.setattr(smart_turn, "score", recording_score)
    monkeypatch.setattr(smart_turn, "STALE_AFTER", 60)  # a loaded test machine is no overload
    async with asyncio.timeout(60):
        got = await asyncio.gather(*(smart_turn.score_async(turn) for turn in turns * 3))
    assert got == expected * 3
    assert loop_thread not in threads


async def test_a_score_that_waited_too_long_for_a_worker_is_skipped(monkeypatch):
    """An overloaded process does not queue turn scores without bound: one that waited longer
    than STALE_AFTER is skipped (no verdict), its 60-80 ms of a core not spent."""
    release = threading.Event()
    ran = []

    def slow_score(pcm16_8k):
        ran.append(pcm16_8k)
        release.wait(5)
        return 0.9

    monkeypatch.setattr(smart_turn, "score", slow_score)
    monkeypatch.setattr(smart_turn, "STALE_AFTER", 0.2)
    busy = [
        asyncio.ensure_future(smart_turn.score_async(b"busy")) for _ in range(smart_turn.WORKERS)
    ]
    late = asyncio.ensure_future(smart_turn.score_async(b"late"))  # every worker is busy
    await asyncio.sleep(0.5)
    release.set()
    async with asyncio.timeout(10):
        assert await asyncio.gather(*busy) == [0.9] * smart_turn.WORKERS
        assert await late is None
    assert b"late" not in ran
    fresh = await smart_turn.score_async(b"fresh")  # an idle worker scores at once
    assert fresh == 0.9 and ran[-1] == b"fresh"


def test_start_up_preloads_the_turn_model(fresh_loader, monkeypatch):
    from calls import warmup
    from calls.providers import local_stt, local_tts

    monkeypatch.setattr(local_stt, "load_model", lambda: None)  # not what this test is about
    monkeypatch.setattr(local_tts, "load_piper_voice", lambda: None)
    warmup.preload()
    assert isinstance(smart_turn._model, smart_turn.SmartTurnModel)


def test_start_up_without_the_model_says_so_once_and_goes_on(fresh_loader, monkeypatch, caplog):
    from calls import warmup
    from calls.providers import local_stt, local_tts

    loaded = []
    monkeypatch.setattr(local_stt, "load_model", lambda: loaded.append("whisper"))
    monkeypatch.setattr(local_tts, "load_piper_voice", lambda: loaded.append("piper"))
    monkeypatch.setattr(smart_turn, "DISTRIBUTION", "pipecat-ai-not-installed")
    with caplog.at_level(logging.ERROR):
        warmup.preload()
        with pytest.raises(ProviderError):  # the engine's first turn: no second log line
            smart_turn.load_model()
    assert loaded == ["whisper", "piper"]
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "requirements-models.txt" in errors[0].getMessage()
