import time

import pytest
from django.core import signing

from telephony import stream_token


def test_token_round_trip():
    grant = stream_token.verify(stream_token.issue(42, "AC" + "1" * 32))
    assert grant.call_id == 42 and grant.account_sid == "AC" + "1" * 32


def test_token_expires():
    token = stream_token.issue(42, "AC1")
    time.sleep(1.1)
    with pytest.raises(stream_token.InvalidStreamToken, match="expired"):
        stream_token.verify(token, max_age=1)


def test_forged_token_is_refused():
    token = stream_token.issue(42, "AC1")
    with pytest.raises(stream_token.InvalidStreamToken):
        stream_token.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_token_from_another_salt_is_refused():
    with pytest.raises(stream_token.InvalidStreamToken):
        stream_token.verify(signing.dumps({"c": 42, "a": "AC1"}))
