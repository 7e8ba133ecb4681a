"""The HTTP clients of the providers' SDKs, made cheap to build.

An httpx client builds a TLS context from the CA bundle when it is made: ~25 ms of CPU. Every
call builds its providers (an SDK client for each remote one, its fallbacks too) in its set-up,
in the database thread that every call's set-up shares, so a burst of calls queued behind those
loads. The context is built once per process (ahead of the first call: calls.warmup) and
shared; each client still has its own connections, bound to its own event loop.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """This process's TLS context for providers, as httpx builds it (certifi's CA bundle, or
    SSL_CERT_FILE / SSL_CERT_DIR when set)."""
    return httpx.create_ssl_context()


def client(timeout: float, **options) -> httpx.AsyncClient:
    """A new httpx client for one provider object, on the shared TLS context."""
    return httpx.AsyncClient(verify=tls_context(), timeout=timeout, **options)
