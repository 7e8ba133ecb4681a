"""What the product exposes at /metrics: one definition per figure, and the small functions
the places where things happen call (one line each, so no logic sits in the engine).

Every metric works in prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR): each
Daphne process and rq worker writes its own file and a scrape sums them (monitoring.views).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram

from monitoring import loop_lag

log = logging.getLogger(__name__)

# Phone-call latencies: the interesting range is 100 ms to a few seconds.
STAGE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

CALLS_IN_PROGRESS = Gauge(
    "voice_calls_in_progress",
    "Calls whose audio this process is carrying now.",
    multiprocess_mode="liveall",  # one series per live process (the pid label)
)
CALLS = Counter(
    "voice_calls", "Calls that ended, by direction and outcome.", ["direction", "outcome"]
)
TURN_LATENCY = Histogram(
    "voice_turn_latency_seconds",
    "End of the caller's speech to the agent's first audio frame sent.",
    ["llm", "tts"],
    buckets=STAGE_BUCKETS,
)
TURN_STAGE = Histogram(
    "voice_turn_stage_seconds",
    "Each stage of a turn, in seconds after the end of the caller's speech (the turn's timings).",
    ["stage", "provider"],
    buckets=STAGE_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "voice_provider_errors", "Provider failures (hangs, errors).", ["provider", "permanent"]
)
BREAKER_OPEN = Gauge(
    "voice_provider_breaker_open",
    "1 while a provider's circuit breaker is open (it is skipped), 0 once it answers again.",
    ["provider"],
    multiprocess_mode="livemax",
)
FALLBACKS = Counter(
    "voice_provider_fallbacks", "A role switched to its fallback.", ["role", "failed", "used"]
)
UNHEARD = Counter(
    "voice_utterances_unheard", "Speech the recogniser made no words of (re-asked).", ["reason"]
)
RECORDS_LOST = Counter("voice_call_records_lost", "Call records the database never took.")
JOB_FAILURES = Counter("voice_job_failures", "Background jobs that raised.", ["job"])
TEXTS = Counter("voice_texts", "Text messages reaching a status.", ["status"])
WEBHOOK_DELIVERIES = Counter(
    "voice_webhook_deliveries", "Webhook delivery attempts by resulting status.", ["status"]
)
PHRASE_CACHE = Counter("voice_phrase_cache", "Phrase cache look-ups.", ["result"])
CALLS_REFUSED = Counter(
    "voice_calls_refused",
    "Calls refused for want of a line (admission control), by the cap that was full and where "
    "it was checked; a campaign attempt left waiting counts here too.",
    ["reason", "at"],
)

LOOP_LAG = Histogram(
    "voice_event_loop_lag_seconds",
    "How late a 100 ms timer on the calls' event loop fired, sampled while calls are up: every "
    "call's audio in the process waits as long (monitoring.loop_lag).",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

# Which timing comes from which role's provider (the others are the engine's own).
STAGE_ROLE = {
    "endpoint": None,
    "stt_final": "stt",
    "turn_end": None,
    "llm_first_token": "llm",
    "tts_first_audio": "tts",
    "first_frame_sent": "tts",
}

# The providers of each live call in this process, for the turn histograms' labels.
_call_providers: dict[int, dict[str, str]] = {}


def call_started(call_id: int, *, stt: str = "", llm: str = "", tts: str = "") -> None:
    """A call's audio starts in this process, with these primary providers."""
    _call_providers[call_id] = {"stt": stt, "llm": llm, "tts": tts}
    CALLS_IN_PROGRESS.inc()
    loop_lag.watch(LOOP_LAG.observe)


def call_stopped(call_id: int) -> None:
    """The call's audio stopped in this process (however it ended)."""
    if _call_providers.pop(call_id, None) is not None:
        CALLS_IN_PROGRESS.dec()
        if not _call_providers:
            loop_lag.unwatch()


def turn_saved(call_id: int, speaker: str, timings: dict[str, int], latency_ms: int | None) -> None:
    """An agent turn's timings (ms after the caller's end of speech), as the recorder saves them."""
    if speaker != "agent" or not timings:
        return
    providers = _call_providers.get(call_id, {})
    for stage, role in STAGE_ROLE.items():
        value = timings.get(stage)
        if isinstance(value, int | float):
            provider = providers.get(role, "") if role else "engine"
            TURN_STAGE.labels(stage, provider or "unknown").observe(value / 1000)
    if latency_ms is not None:
        TURN_LATENCY.labels(
            providers.get("llm") or "unknown", providers.get("tts") or "unknown"
        ).observe(latency_ms / 1000)


def call_event(kind: str, data: dict) -> None:
    """A call event as the recorder writes it."""
    if kind == "fallback" and data.get("failed"):
        FALLBACKS.labels(data.get("role", ""), data["failed"], data.get("used", "")).inc()
    elif kind == "unheard":
        UNHEARD.labels(str(data.get("reason", ""))).inc()


def on_call_ended(
    sender, *, call_id: int, outcome: str, status: str, direction: str = "", **kwargs
) -> None:
    """calls.signals.call_ended: sent once per call, on commit, in the process that ended it."""
    from calls.models import Call

    if not direction:
        direction = Call.objects.filter(pk=call_id).values_list("direction", flat=True).first()
    CALLS.labels(direction or "unknown", outcome or status).inc()


def breaker_changed(provider: str, *, opened: bool) -> None:
    BREAKER_OPEN.labels(provider).set(1 if opened else 0)


def provider_failed(provider: str, *, permanent: bool) -> None:
    PROVIDER_ERRORS.labels(provider, "true" if permanent else "false").inc()


def records_lost(count: int) -> None:
    if count:
        RECORDS_LOST.inc(count)


def job_failed(job: str) -> None:
    JOB_FAILURES.labels(job).inc()


def text_status(status: str, moved: int | bool = True) -> None:
    """A text reached `status` (counted only when its row did move: `moved`)."""
    if moved:
        TEXTS.labels(str(status)).inc()


def webhook_status(status: str, moved: int | bool = True) -> None:
    """A webhook delivery attempt left its delivery in `status` (when its row did move)."""
    if moved:
        WEBHOOK_DELIVERIES.labels(str(status)).inc()


def phrase_cache(hit: bool) -> None:
    PHRASE_CACHE.labels("hit" if hit else "miss").inc()


def call_refused(reason: str, at: str) -> None:
    """A call was refused (or an attempt left waiting): `reason` the cap, `at` the check
    (voice_webhook, stream, dial, dialer)."""
    CALLS_REFUSED.labels(reason, at).inc()
