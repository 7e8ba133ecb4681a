"""Semantic end of turn: Pipecat's Smart Turn v3.2 model scores whether the caller sounds done.

The VAD hears silence and the recogniser's text rules catch a trailing "and" or digit; Smart
Turn listens to the last 8 s of the utterance itself (intonation, a trailing "um" or "and", a
pause in mid-sentence) and gives the probability that the turn is complete, so a
complete-sounding turn can end at once and an incomplete one can wait. It hears prosody, not
grammar: words cut short but said with a falling, final tone ("I'd like a large.") sound
complete to it, so it adds to the text rules rather than replacing them.

The model (int8 ONNX, 8.7 MB, BSD-2-Clause, (c) Daily) ships inside the `pipecat-ai` wheel,
installed without its dependencies from requirements-models.txt; it is read by path, pipecat
itself is never imported (its package needs numba, loguru, ...). Nothing is downloaded.

Input: whisper log-mel features of exactly 8 s of 16 kHz audio, the speech at the end and
zeros before it, the waveform normalised to zero mean and unit variance first (as Pipecat's
LocalSmartTurnAnalyzerV3 prepares it). Phone audio is 8 kHz: fed as is, the model misjudges
it silently (bench/smart_turn.py shows by how much), so it is upsampled with soxr first.

One ONNX session per process serves every call: `InferenceSession.run` is thread-safe, and
scores run on a small executor so a call's audio loop never waits for one.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from calls.audio import Resampler
from calls.providers.base import ProviderError

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

NAME = "smart_turn"
DISTRIBUTION = "pipecat-ai"
MODEL_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
PHONE_RATE = 8000
MODEL_RATE = 16000
WINDOW_SECONDS = 8
N_MELS = 80
COMPLETE = 0.5  # the model's own decision threshold

_NORM_EPS = 1e-7  # as transformers' zero-mean unit-variance normalisation


def model_path() -> Path:
    """Where the installed `pipecat-ai` distribution keeps the model, without importing pipecat.

    Raises ProviderError (permanent) when the wheel or the file is missing.
    """
    try:
        path = Path(importlib.metadata.distribution(DISTRIBUTION).locate_file(MODEL_FILE))
    except importlib.metadata.PackageNotFoundError:
        raise ProviderError(
            f"Smart Turn model not installed: {DISTRIBUTION} is missing "
            "(pip install --no-deps --require-hashes -r requirements-models.txt)",
            permanent=True,
            provider=NAME,
        ) from None
    if not path.is_file():
        raise ProviderError(f"Smart Turn model not found at {path}", permanent=True, provider=NAME)
    return path


class SmartTurnModel:
    """One loaded Smart Turn model: PCM16 at 8 kHz in, probability of a complete turn out.

    Thread-safe: the ONNX session allows concurrent `run` calls, and the rest is per call.
    Each run uses one thread, so two cores score two calls at once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import onnxruntime as ort

        # Imported here: the package pulls in ctranslate2 and PyAV (~0.6 s), paid at preload.
        from faster_whisper.feature_extractor import FeatureExtractor

        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name
        self._mel = FeatureExtractor(
            feature_size=N_MELS, sampling_rate=MODEL_RATE, chunk_length=WINDOW_SECONDS
        )

    def score(self, pcm16: bytes, sample_rate: int = PHONE_RATE) -> float:
        """Probability that the utterance in `pcm16` (its last 8 s) is a finished turn.

        `sample_rate` is for the benchmark (16000 skips the upsampling, 8000 is the phone).
        """
        return self.score_features(self.features(pcm16, sample_rate))

    def score_features(self, features: np.ndarray) -> float:
        """The model's output for one (80, 800) feature matrix."""
        (output,) = self.session.run(None, {self._input: features[np.newaxis]})
        return float(output.reshape(-1)[0])

    def features(self, pcm16: bytes, sample_rate: int = PHONE_RATE) -> np.ndarray:
        """Whisper log-mel features (80 x 800, float32) of the last 8 s, upsampled to 16 kHz."""
        samples = np.frombuffer(pcm16, "<i2", count=len(pcm16) // 2)
        # Keep a little more than 8 s so the resampler's filter has history at the cut.
        samples = samples[-(WINDOW_SECONDS * sample_rate + sample_rate // 10) :]
        audio = samples.astype(np.float32) / 32768
        if sample_rate != MODEL_RATE:
            audio = Resampler(sample_rate, MODEL_RATE).resample(audio, last=True)
        return self.features_16k(audio)

    def features_16k(self, audio: np.ndarray) -> np.ndarray:
        """Features of float audio at 16 kHz: the last 8 s, zero-padded at the front."""
        window = np.zeros(WINDOW_SECONDS * MODEL_RATE, np.float32)
        audio = audio[-len(window) :]
        if len(audio):
            window[-len(audio) :] = audio
        # Normalised over the whole window, padding included, as the model was trained.
        window = (window - window.mean()) / np.sqrt(window.var() + _NORM_EPS)
        features = self._mel(window, padding=0)
        return np.ascontiguousarray(features, dtype=np.float32)


_model: SmartTurnModel | None = None
_failure: ProviderError | None = None
_model_lock = threading.Lock()
WORKERS = min(2, os.cpu_count() or 1)
_executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="turn")


def load_model() -> SmartTurnModel:
    """The process-wide model, loaded on first use (thread-safe; ~0.2 s and ~30 MiB).

    Raises ProviderError (permanent) when the model cannot be loaded. That is logged once and
    remembered, not retried on every turn: the engine falls back to the VAD and text rules
    until the process restarts with the model installed.
    """
    global _model, _failure
    if _model is None:
        with _model_lock:
            if _failure is not None:
                raise _failure.with_traceback(None)
            if _model is None:
                try:
                    _model = SmartTurnModel(model_path())
                except ProviderError as exc:
                    _failure = exc
                except Exception as exc:
                    _failure = ProviderError(
                        f"cannot load Smart Turn model: {exc}", permanent=True, provider=NAME
                    )
                    _failure.__cause__ = exc
                if _failure is not None:
                    log.error("%s; turns end on the VAD and text rules only", _failure)
                    raise _failure
    return _model


def score(pcm16_8k: bytes) -> float:
    """Probability (0-1) that the caller's utterance, PCM16 at 8 kHz, is a complete turn.

    Blocks for ~70 ms of one core on the 2-core reference machine (features ~5 ms, the model
    ~60 ms; bench/smart_turn.py); from async code use `score_async`.
    """
    return load_model().score(pcm16_8k)


# A score that waited this long for a worker is skipped. The turn waits TurnDetector.model_wait
# (1 s after the end of speech) for a score once the recogniser's text is in, so by then it has
# ended without it; and an overloaded process (200 calls on a core) would otherwise queue scores
# faster than it runs them, each 60-80 ms of a core, taking the cores from every call's audio.
STALE_AFTER = 1.0


def _score_unless_stale(pcm16_8k: bytes, queued_at: float) -> float | None:
    if time.monotonic() - queued_at > STALE_AFTER:
        return None
    return score(pcm16_8k)


async def score_async(pcm16_8k: bytes) -> float | None:
    """`score` on the turn model's worker threads, so the event loop keeps running; None (no
    verdict: the turn ends on the VAD and the text) when it waited STALE_AFTER for a worker."""
    return await asyncio.get_running_loop().run_in_executor(
        _executor, _score_unless_stale, pcm16_8k, time.monotonic()
    )
