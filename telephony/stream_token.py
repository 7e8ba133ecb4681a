"""The token that ties a media stream to the Call its TwiML was made for.

Signed by the server and expiring: a stream that presents no token, a forged one, an old one,
or one for another call is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

_SALT = "telephony.stream-token"


class InvalidStreamToken(Exception):
    pass


@dataclass(frozen=True)
class StreamGrant:
    call_id: int
    account_sid: str


def issue(call_id: int, account_sid: str) -> str:
    return signing.dumps({"c": call_id, "a": account_sid}, salt=_SALT, compress=True)


def verify(token: str, *, max_age: int | None = None) -> StreamGrant:
    try:
        data = signing.loads(
            token, salt=_SALT, max_age=settings.STREAM_TOKEN_TTL if max_age is None else max_age
        )
    except signing.SignatureExpired:
        raise InvalidStreamToken("stream token expired") from None
    except signing.BadSignature:
        raise InvalidStreamToken("stream token forged or malformed") from None
    try:
        return StreamGrant(call_id=int(data["c"]), account_sid=str(data["a"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidStreamToken("stream token malformed") from None
