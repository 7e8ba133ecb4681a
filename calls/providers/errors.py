"""How an HTTP status from any vendor becomes a ProviderError (one rule for every adapter)."""

from __future__ import annotations

from calls.providers.base import ProviderError

# Client errors that can succeed when tried again: timeout, conflict, too early, rate limit.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


def is_permanent(status: int) -> bool:
    """A 4xx other than the retryable ones fails the same way next time (bad key, bad
    request, unknown voice or model); 5xx and the retryable 4xx are transient."""
    return 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS


def status_error(status: int, detail: object, *, provider: str) -> ProviderError:
    """The ProviderError for a provider's non-2xx answer. `detail` is the response body,
    never the SDK exception's text (Deepgram's carries our request headers, key included)."""
    return ProviderError(
        f"{provider} answered HTTP {status}: {str(detail)[:300]}",
        permanent=is_permanent(status),
        provider=provider,
    )


def transport_error(what: str, exc: BaseException, *, provider: str) -> ProviderError:
    """The ProviderError for a network failure: refused, timed out or cut mid-stream."""
    return ProviderError(
        f"{provider} {what}: {type(exc).__name__}: {exc}"[:400], permanent=False, provider=provider
    )
