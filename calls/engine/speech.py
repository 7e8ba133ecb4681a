"""The two ends of the audio path around the conversation, each with its fallback.

Speaker: sentence → the TTS (or its fallback) → mu-law 8 kHz chunks.
Listener: caller audio → the STT (or its fallback) → recognition events; when the recogniser
fails mid-call, the fallback is opened and the current utterance replayed into it, so the
caller's words are not lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from calls.audio import FromMulaw8k, ToMulaw8k
from calls.providers.base import STT, TTS, ProviderError, STTEvent, STTSession, Transcript
from calls.providers.resilience import (
    FallbackListener,
    breaker_for,
    chain,
    first_answer,
    hedged,
    timed,
)

log = logging.getLogger(__name__)


class Speaker:
    def __init__(
        self,
        primary: TTS,
        fallback: TTS | None,
        *,
        voice: str = "",
        language: str = "en",
        first_timeout: float = 5.0,
        idle_timeout: float = 5.0,
        hedge_after: float | None = None,
        on_fallback: FallbackListener | None = None,
    ) -> None:
        self.primary, self.fallback = primary, fallback
        self.voice, self.language = voice, language
        self.first_timeout, self.idle_timeout = first_timeout, idle_timeout
        self.hedge_after = hedge_after
        self.on_fallback = on_fallback

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """Mu-law 8 kHz audio for `text`. If the primary fails, or has not answered within
        `hedge_after` seconds while the fallback answers first, the fallback says the whole
        sentence. Raises ProviderError only when both fail."""
        breaker = breaker_for(f"tts:{self.primary.name}")
        fallback = self.fallback
        if breaker.allow() or fallback is None:
            start_fallback = None
            if fallback is not None:
                start_fallback = lambda: self._chunks(fallback, "", text)  # noqa: E731
            race = await hedged(
                breaker,
                self._chunks(self.primary, self.voice, text),
                start_fallback,
                self.hedge_after if self.primary.remote else None,
                self._fell_back,
            )
            if race.winner == "fallback":
                async for chunk in chain(race.first, race.rest):
                    yield chunk
                return
            try:
                async for chunk in chain(race.first, race.rest):
                    yield chunk
                breaker.record_success()
                return
            except ProviderError as error:
                breaker.record_failure(error)
                if fallback is None:
                    raise
                await self._fell_back(error)
        assert fallback is not None
        async for chunk in self._chunks(fallback, "", text):  # voice ids belong to one provider
            yield chunk

    async def _fell_back(self, error: ProviderError) -> None:
        if self.on_fallback and self.fallback is not None:
            await self.on_fallback("tts", self.primary.name, self.fallback.name, error)

    async def _chunks(self, tts: TTS, voice: str, text: str) -> AsyncIterator[bytes]:
        converter = ToMulaw8k(tts.output_format)
        chunks = timed(
            tts.synthesize(text, voice=voice, language=self.language),
            self.first_timeout,
            self.idle_timeout,
            tts.name,
        )
        try:
            async for chunk in chunks:
                out = converter.convert(chunk)
                if out:
                    yield out
            tail = converter.flush()
            if tail:
                yield tail
        finally:
            await chunks.aclose()


EventHandler = Callable[[STTEvent], Awaitable[None]]


class Listener:
    """Owns the recognition stream of one call and its reader task."""

    REPLAY_FRAMES = 50 * 30  # up to 30 s of the current utterance is kept for a fallback

    def __init__(
        self,
        primary: STT,
        fallback: STT | None,
        *,
        language: str,
        hints: list[str],
        on_event: EventHandler,
        on_fallback: FallbackListener | None = None,
        on_switch: Callable[[], Awaitable[None]] | None = None,
        open_timeout: float = 10.0,
        hedge_after: float | None = None,
    ) -> None:
        self.candidates = [primary] + ([fallback] if fallback is not None else [])
        self.open_timeout, self.hedge_after = open_timeout, hedge_after
        self.language, self.hints = language, hints
        self.on_event, self.on_fallback, self.on_switch = on_event, on_fallback, on_switch
        self.active: STT | None = None
        self.session: STTSession | None = None
        self._converter: FromMulaw8k | None = None
        self._reader: asyncio.Task | None = None
        # Frames, and None where an utterance ended before any recogniser was open.
        self._replay: deque[bytes | None] = deque(maxlen=self.REPLAY_FRAMES)
        self._closed = False

    @property
    def streaming(self) -> bool:
        return bool(self.active and self.active.streaming)

    async def start(self) -> None:
        primary = self.candidates[0]
        if not breaker_for(f"stt:{primary.name}").allow() and len(self.candidates) > 1:
            self.candidates = self.candidates[1:]
        await self._open_next(None)

    async def _open_next(self, error: ProviderError | None) -> None:
        while self.candidates:
            stt = self.candidates.pop(0)
            backup = self.candidates[0] if self.candidates else None
            start_backup = None
            if backup is not None and self.hedge_after is not None and stt.remote:
                start_backup = functools.partial(self._opening, backup)
            try:
                race = await first_answer(
                    self._opening(stt), start_backup, self.hedge_after, discard=_close_quietly
                )
            except ProviderError as exc:
                breaker_for(f"stt:{stt.name}").record_failure(exc)
                error = exc
                if start_backup is not None:
                    self.candidates.pop(0)  # it was tried alongside, and failed too
                elif self.on_fallback and backup is not None:
                    await self.on_fallback("stt", stt.name, backup.name, exc)
                continue
            session = race.first
            if race.winner == "fallback":
                assert backup is not None and race.primary_error is not None
                breaker_for(f"stt:{stt.name}").record_failure(race.primary_error)
                if self.on_fallback:
                    await self.on_fallback("stt", stt.name, backup.name, race.primary_error)
                stt = self.candidates.pop(0)
            previous, self.active, self.session = self.active, stt, session
            self._converter = FromMulaw8k(stt.input_format)
            self._reader = asyncio.create_task(self._read(session, stt), name=f"stt-{stt.name}")
            for frame in list(self._replay):  # heard before this recogniser was ready
                if frame is None:
                    await self.finalize()
                else:
                    await self._send(frame)
            if previous is not None and self.on_switch:
                await self.on_switch()
            return
        raise error or ProviderError("no speech recogniser could be opened")

    async def _opening(self, stt: STT) -> AsyncIterator[STTSession]:
        """`stt` opened for this call (one item), within `open_timeout`: a recogniser whose
        connection hangs is a recogniser that failed (some SDKs wait 10 s on their own)."""
        try:
            async with asyncio.timeout(self.open_timeout):
                session = await stt.open(language=self.language, hints=self.hints)
        except TimeoutError:
            raise ProviderError(
                f"no connection within {self.open_timeout:g}s", provider=stt.name
            ) from None
        yield session

    async def _read(self, session: STTSession, stt: STT) -> None:
        try:
            async for event in session.events():
                if isinstance(event, Transcript) and event.is_final:
                    self._replay.clear()  # heard and final: nothing to replay any more
                await self.on_event(event)
            breaker_for(f"stt:{stt.name}").record_success()
        except ProviderError as error:
            breaker_for(f"stt:{stt.name}").record_failure(error)
            if self._closed:
                return
            log.warning(
                "speech recogniser failed", extra={"provider": stt.name, "error": str(error)}
            )
            await _close_quietly(session)
            if not self.candidates:
                # Nothing left to hear with; the silence watchdog will end the call politely.
                log.error("no speech recogniser left for this call", extra={"provider": stt.name})
                self.session = None
                return
            if self.on_fallback:
                await self.on_fallback("stt", stt.name, self.candidates[0].name, error)
            await self._open_next(error)

    async def send(self, mulaw: bytes) -> None:
        self._replay.append(mulaw)
        await self._send(mulaw)

    async def _send(self, mulaw: bytes) -> None:
        if self.session is None or self._converter is None:
            return
        audio = self._converter.convert(mulaw)
        if audio:
            try:
                await self.session.send_audio(audio)
            except ProviderError as error:
                # The reader sees the same failure and switches; this frame is in the replay.
                log.info("audio not accepted by the recogniser", extra={"error": str(error)})

    async def finalize(self) -> None:
        if self.session is None:
            # Speech that came faster than the recogniser opened (a burst of frames, a busy
            # worker): the utterance's end waits in the replay, so each one is still heard.
            self._replay.append(None)
            return
        try:
            await self.session.finalize()
        except ProviderError as error:
            log.info("finalize not accepted by the recogniser", extra={"error": str(error)})

    @property
    def guesses(self) -> bool:
        return bool(self.session and self.session.guesses)

    @property
    def punctuates(self) -> bool:
        return bool(self.session and self.session.punctuates)

    async def guess(self) -> str | None:
        """The recogniser's guess at the open utterance (see STTSession.guess), or None."""
        if self.session is None:
            return None
        try:
            return await self.session.guess()
        except ProviderError as error:
            log.info("no guess from the recogniser", extra={"error": str(error)})
            return None

    def forget_guess(self) -> None:
        if self.session is not None:
            self.session.forget_guess()

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, ProviderError):
                pass
        if self.session is not None:
            await _close_quietly(self.session)


async def _close_quietly(session: STTSession) -> None:
    try:
        async with asyncio.timeout(2):
            await session.close()
    except (ProviderError, TimeoutError, OSError) as error:
        log.info("recogniser did not close cleanly", extra={"error": str(error)})
