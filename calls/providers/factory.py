"""Building an agent's providers from its choices and the settings.

A provider whose key is not configured is skipped in favour of the role's fallback, and when
neither can be built the offline provider of that role is used: a call always has someone to
hear, think and speak. Other apps (or deployments, through PROVIDER_PLUGINS) register more
providers with `register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from django.conf import settings

from calls.providers.base import LLM, STT, TTS
from calls.tools import Tool, ToolContext

Builder = Callable[..., Any]
_builders: dict[tuple[str, str], Builder] = {}
OFFLINE = {"stt": "local_whisper", "llm": "scripted", "tts": "piper"}


def register(role: str, name: str, builder: Builder) -> None:
    """`builder(agent, **context)` returns the provider, or None when it is not configured."""
    _builders[(role, name)] = builder


def _timeout() -> float:
    return float(settings.PROVIDER_TIMEOUT_SECONDS)


# -- speech to text
def _deepgram_stt(agent, **_):
    if not settings.DEEPGRAM_API_KEY:
        return None
    from calls.providers.deepgram_stt import DeepgramSTT

    return DeepgramSTT(
        api_key=settings.DEEPGRAM_API_KEY,
        model=settings.DEEPGRAM_STT_MODEL,
        environment_url=settings.DEEPGRAM_URL or None,
        connect_timeout=_timeout(),
    )


def _groq_whisper(agent, **_):
    if not settings.GROQ_API_KEY:
        return None
    from calls.providers.groq_whisper import GroqWhisperSTT

    return GroqWhisperSTT(
        api_key=settings.GROQ_API_KEY,
        base_url=settings.GROQ_BASE_URL or None,
        model=settings.GROQ_WHISPER_MODEL,
        timeout=_timeout(),
    )


def _local_whisper(agent, **_):
    from calls.providers.local_stt import LocalWhisperSTT

    return LocalWhisperSTT()


# -- language
def _groq_llm(agent, **_):
    if not settings.GROQ_API_KEY:
        return None
    from calls.providers.groq_llm import GroqLLM

    return GroqLLM(
        api_key=settings.GROQ_API_KEY,
        model=agent.llm_model or settings.GROQ_MODEL,
        base_url=settings.GROQ_BASE_URL or None,
        timeout=_timeout(),
    )


def _openai_llm(agent, **_):
    if not settings.OPENAI_BASE_URL and not settings.OPENAI_API_KEY:
        return None
    from calls.providers.openai_llm import OpenAICompatibleLLM

    return OpenAICompatibleLLM(
        model=agent.llm_model or settings.OPENAI_MODEL,
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or None,
        timeout=_timeout(),
    )


def _scripted(agent, *, tools: list[Tool], context: ToolContext, **_):
    from calls.providers.scripted import ScriptedBrain

    return ScriptedBrain(tools, context)


# -- text to speech
def _elevenlabs(agent, **_):
    if not settings.ELEVENLABS_API_KEY:
        return None
    from calls.providers.elevenlabs_tts import ElevenLabsTTS

    kwargs = {"voice_id": agent.voice} if agent.voice else {}
    return ElevenLabsTTS(
        api_key=settings.ELEVENLABS_API_KEY,
        base_url=settings.ELEVENLABS_BASE_URL or None,
        model_id=settings.ELEVENLABS_MODEL,
        timeout=_timeout(),
        **kwargs,
    )


def _deepgram_aura(agent, **_):
    if not settings.DEEPGRAM_API_KEY:
        return None
    from calls.providers.deepgram_tts import DeepgramTTS

    return DeepgramTTS(
        api_key=settings.DEEPGRAM_API_KEY,
        base_url=settings.DEEPGRAM_REST_URL or None,
        timeout=_timeout(),
    )


def _piper(agent, **_):
    from calls.providers.local_tts import PiperTTS

    return PiperTTS()


def _espeak(agent, **_):
    from calls.providers.local_tts import EspeakTTS

    return EspeakTTS()


for _role, _name, _builder in [
    ("stt", "deepgram", _deepgram_stt),
    ("stt", "groq_whisper", _groq_whisper),
    ("stt", "local_whisper", _local_whisper),
    ("llm", "groq", _groq_llm),
    ("llm", "openai", _openai_llm),
    ("llm", "scripted", _scripted),
    ("tts", "elevenlabs", _elevenlabs),
    ("tts", "deepgram_aura", _deepgram_aura),
    ("tts", "piper", _piper),
    ("tts", "espeak", _espeak),
]:
    register(_role, _name, _builder)

for _module in getattr(settings, "PROVIDER_PLUGINS", []):
    importlib.import_module(_module)


def build(role: str, name: str, agent, **context) -> Any:
    builder = _builders.get((role, name)) if name else None
    return builder(agent, **context) if builder else None


def build_pair(role: str, agent, **context) -> tuple[Any, Any, list[str]]:
    """(primary, fallback, notes): the role's providers, with notes on what was skipped."""
    primary_name = getattr(agent, f"{role}_provider")
    fallback_name = getattr(agent, f"{role}_fallback")
    notes = []
    primary = build(role, primary_name, agent, **context)
    fallback = (
        build(role, fallback_name, agent, **context) if fallback_name != primary_name else None
    )
    if primary is None:
        notes.append(f"{role} provider {primary_name!r} is not configured")
        primary, fallback = fallback, None
    if primary is None:
        primary = build(role, OFFLINE[role], agent, **context)
        notes.append(f"{role}: using the offline {OFFLINE[role]!r}")
    return primary, fallback, notes


__all__ = ["LLM", "STT", "TTS", "build", "build_pair", "register"]
