"""Loading the offline speech models, and synthesizing the agents' greetings, before the first
call needs them.

Piper's voice takes ~3 s to load and whisper's ~0.6 s: paid by the first caller, that would
trip the first-audio timeout and the call would start on the fallback voice. Daphne loads
them in a background thread at start-up instead (PRELOAD_SPEECH_MODELS=false turns it off),
and the Smart Turn end-of-turn model with them, so the first turn is not the one that waits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

log = logging.getLogger(__name__)


def preload() -> None:
    started = time.monotonic()
    from calls import vad
    from calls.providers.local_stt import load_model
    from calls.providers.local_tts import load_piper_voice

    for load in (vad.preload, load_model, _load_turn_model, load_piper_voice):
        try:
            load()
        except Exception:  # a missing model is reported when a call needs it, not fatal here
            log.exception("could not preload %s", load.__qualname__)
    log.info("speech models loaded in %.1fs", time.monotonic() - started)


def _load_turn_model() -> None:
    from calls.engine import smart_turn
    from calls.providers.base import ProviderError

    # A missing model is logged once by load_model; turns then end on the VAD and text rules.
    with contextlib.suppress(ProviderError):
        smart_turn.load_model()


def prepare_greetings() -> None:
    """The fixed greetings of active tenants' agents into the phrase cache (calls.greeting)."""
    from calls.greeting import prepare_active

    started = time.monotonic()
    try:
        made = prepare_active()
    except Exception:  # a greeting not ready is synthesized by its first call, not fatal here
        log.exception("could not prepare the agents' greetings")
        return
    log.info("%s greeting sentence(s) synthesized in %.1fs", made, time.monotonic() - started)


def warm_up() -> None:
    """What a web process makes ready before its first call: the providers' TLS context, the
    speech models (PRELOAD_SPEECH_MODELS), then the agents' greetings (PREPARE_GREETINGS); and
    then its long-lived heap frozen out of the garbage collector's way (voiceapp.heap)."""
    from django.conf import settings

    from calls.providers.http import tls_context
    from voiceapp.heap import settle

    tls_context()  # the providers' shared TLS context (~25 ms of CPU), not the first call's
    if settings.PRELOAD_SPEECH_MODELS:
        preload()
    if settings.PREPARE_GREETINGS:
        prepare_greetings()
    settle()


def warm_up_in_background() -> None:
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
