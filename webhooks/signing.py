"""How deliveries are signed, and how a receiver checks them.

Each POST carries:

    X-Webhook-Event: order.created
    X-Webhook-Delivery: <uuid, the same on every attempt of one delivery>
    X-Webhook-Timestamp: <unix seconds when this attempt was made>
    X-Webhook-Signature: sha256=<hex HMAC-SHA256 of f"{timestamp}.{body}" keyed with the secret>

A receiver recomputes the HMAC over the raw body bytes as received (before any JSON parsing),
compares it in constant time, and refuses a timestamp more than 5 minutes from its own clock,
so a captured request cannot be replayed later. `verify` below does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def headers_for(secret: str, *, event: str, delivery_id: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": "voiceapp-webhooks/1",
        "X-Webhook-Event": event,
        "X-Webhook-Delivery": delivery_id,
        "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Signature": sign(secret, timestamp, body),
    }


def verify(
    secret: str,
    *,
    timestamp: str,
    signature: str,
    body: bytes,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether `signature` was made with `secret` for `body` at `timestamp`, within
    `tolerance` seconds of `now`."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)
