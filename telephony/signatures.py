"""Checking that a request really comes from Twilio.

Twilio signs the URL it requested. We rebuild that URL from PUBLIC_BASE_URL, never from the
request's Host header, which whoever sends the request controls.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

from telephony.models import TwilioAccount

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def public_url(path: str) -> str:
    """The https URL Twilio uses for `path` (which may carry a query string)."""
    return settings.PUBLIC_BASE_URL + path


def stream_url(path: str) -> str:
    """The wss URL Twilio opens for `path`."""
    return _ws_base() + path


def _ws_base() -> str:
    base = settings.PUBLIC_BASE_URL
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :]
    return "ws://" + base[len("http://") :]


def webhook_account(request: HttpRequest) -> TwilioAccount | None:
    """The account that signed this webhook, or None (unknown account or bad signature).

    The account is read once per _TOKEN_CACHE_SECONDS, not per webhook: in a burst of calls the
    voice webhook's CPU is the process's bottleneck, and the account's query and the token's
    decryption were a fifth of it. A signature the cached token refuses is checked again
    against the account read afresh, so a token rotated in another process works at once."""
    account_sid = request.POST.get("AccountSid", "")
    account, cached = _account(account_sid)
    signed = account is not None and _signed_by(account, request)
    if cached and not signed:
        account, _ = _account(account_sid, fresh=True)
        signed = account is not None and _signed_by(account, request)
    if account is None or not signed:
        log.warning(
            "twilio webhook refused: %s",
            "unknown account" if account is None else "bad signature",
            extra={"account_sid": account_sid, "path": request.path},
        )
        return None
    return account


def _signed_by(account: TwilioAccount, request: HttpRequest) -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    url = public_url(request.get_full_path())
    return bool(signature) and RequestValidator(account.auth_token).validate(
        url, request.POST, signature
    )


_accounts: dict[str, tuple[float, TwilioAccount]] = {}  # account SID -> (read at, account)


def _account(account_sid: str, *, fresh: bool = False) -> tuple[TwilioAccount | None, bool]:
    """The account (with its tenant), and whether it came from the cache."""
    entry = _accounts.get(account_sid)
    now = time.monotonic()
    if entry is not None and not fresh and now - entry[0] <= _TOKEN_CACHE_SECONDS:
        return entry[1], True
    account = TwilioAccount.objects.select_related("tenant").filter(account_sid=account_sid).first()
    if account is None:
        _accounts.pop(account_sid, None)
    else:
        _accounts[account_sid] = (now, account)
    return account, False


# The media socket's handshake names no account, so its signature is checked against every
# account's token. Tokens are cached briefly: a handshake must not cost a query per account.
_token_cache: tuple[float, list[tuple[str, str]]] = (0.0, [])
_TOKEN_CACHE_SECONDS = 30.0


def _account_tokens() -> list[tuple[str, str]]:
    global _token_cache
    loaded_at, tokens = _token_cache
    if time.monotonic() - loaded_at > _TOKEN_CACHE_SECONDS:
        tokens = [
            (account.account_sid, account.auth_token)
            for account in TwilioAccount.objects.filter(tenant__active=True).only(
                "account_sid", "auth_token"
            )
        ]
        _token_cache = (time.monotonic(), tokens)
    return tokens


def forget_cached_tokens(**_signal) -> None:
    """Read accounts and tokens afresh (an account or tenant changed; a signal receiver)."""
    global _token_cache
    _token_cache = (0.0, [])
    _accounts.clear()


def stream_signers(path: str, query_string: str, signature: str) -> set[str]:
    """The account SIDs whose auth token produced `signature` for the stream URL `path`.
    Empty when nobody's did. (Sync: call it through database_sync_to_async.)"""
    if not signature:
        return set()
    return _signers(_account_tokens(), path, query_string, signature)


def cached_stream_signers(path: str, query_string: str, signature: str) -> set[str] | None:
    """stream_signers from the cached tokens, without the database; None when they must be
    read again (then ask stream_signers, in the database thread). A handshake with the tokens
    cached need not queue for that thread behind every webhook and call record of a burst."""
    if not signature:
        return set()
    loaded_at, tokens = _token_cache
    if time.monotonic() - loaded_at > _TOKEN_CACHE_SECONDS:
        return None
    return _signers(tokens, path, query_string, signature)


def _signers(
    tokens: list[tuple[str, str]], path: str, query_string: str, signature: str
) -> set[str]:
    url = _ws_base() + path
    params = dict(parse_qsl(query_string))
    return {
        sid for sid, token in tokens if RequestValidator(token).validate(url, params, signature)
    }
