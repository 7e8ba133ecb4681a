"""One cheap authenticated request per configured provider, through the provider's own SDK.

Each probe raises on any failure (refused key, timeout, unreachable host, a server error) and
returns nothing on success; `probe()` turns that into a `Result`. The SDKs are built here with a
short timeout and no retries: a health check measures the provider, not the SDK's patience.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from telephony.models import TwilioAccount


@dataclass(frozen=True)
class Target:
    """A provider to check: its key (see ProviderStatus.key), who it belongs to, and its probe."""

    key: str
    label: str
    request: Callable[[float], None]
    tenant_id: int | None = None
    twilio_account_id: int | None = None


@dataclass(frozen=True)
class Result:
    target: Target
    ok: bool
    latency_ms: int
    error: str = ""


def deepgram(timeout: float) -> None:
    from deepgram import DeepgramClient, DeepgramClientEnvironment

    environment = DeepgramClientEnvironment.PRODUCTION
    if settings.DEEPGRAM_REST_URL:
        environment = DeepgramClientEnvironment(
            base=settings.DEEPGRAM_REST_URL,
            production=environment.production,
            agent=environment.agent,
            agent_rest=environment.agent_rest,
        )
    client = DeepgramClient(
        api_key=settings.DEEPGRAM_API_KEY, environment=environment, timeout=timeout, max_retries=0
    )
    client.manage.v1.projects.list()


def elevenlabs(timeout: float) -> None:
    from elevenlabs import ElevenLabs

    client = ElevenLabs(
        api_key=settings.ELEVENLABS_API_KEY,
        base_url=settings.ELEVENLABS_BASE_URL or None,
        timeout=timeout,
    )
    client.models.list(request_options={"max_retries": 0})


def groq(timeout: float) -> None:
    import groq as groq_sdk

    client = groq_sdk.Groq(
        api_key=settings.GROQ_API_KEY,
        base_url=settings.GROQ_BASE_URL or None,
        max_retries=0,
        timeout=timeout,
    )
    client.models.list()


def openai_compatible(timeout: float) -> None:
    import openai

    client = openai.OpenAI(
        # Local servers (Ollama, vLLM) need no key; the SDK insists on one.
        api_key=settings.OPENAI_API_KEY or "none",
        base_url=settings.OPENAI_BASE_URL or None,
        max_retries=0,
        timeout=timeout,
    )
    client.models.list()


def twilio_account(account: TwilioAccount) -> Callable[[float], None]:
    def request(timeout: float) -> None:
        from telephony.rest import client_for

        client = client_for(account)
        client.http_client.timeout = timeout
        client.api.v2010.accounts(account.account_sid).fetch()

    return request


def configured_targets() -> list[Target]:
    """The platform's providers that have a key (or, for the OpenAI-compatible endpoint, a base
    URL) in the settings, and every tenant's Twilio accounts."""
    targets = []
    if settings.DEEPGRAM_API_KEY:
        targets.append(Target("deepgram", "Deepgram", deepgram))
    if settings.ELEVENLABS_API_KEY:
        targets.append(Target("elevenlabs", "ElevenLabs", elevenlabs))
    if settings.GROQ_API_KEY:
        targets.append(Target("groq", "Groq", groq))
    if settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL:
        targets.append(Target("openai", "OpenAI-compatible endpoint", openai_compatible))
    accounts = TwilioAccount.objects.filter(tenant__active=True).select_related("tenant")
    for account in accounts:
        targets.append(
            Target(
                f"twilio:{account.account_sid}",
                f"Twilio {account.name} ({account.account_sid}) of {account.tenant.name}",
                twilio_account(account),
                tenant_id=account.tenant_id,
                twilio_account_id=account.pk,
            )
        )
    return targets


def probe(target: Target, timeout: float) -> Result:
    started = time.monotonic()
    try:
        target.request(timeout)
    # Any failure at all is the provider's state to record (a refused key, a timeout, a bad
    # reply), not an error of this job: it is stored and shown, never swallowed.
    except Exception as exc:
        elapsed = round((time.monotonic() - started) * 1000)
        return Result(target, False, elapsed, f"{type(exc).__name__}: {exc}"[:1000])
    return Result(target, True, round((time.monotonic() - started) * 1000))


def probe_all(targets: list[Target], timeout: float) -> list[Result]:
    """Probe every target at once, so one hung provider costs the job `timeout`, not N times."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        return list(pool.map(lambda target: probe(target, timeout), targets))
