"""simulate_call signs its webhook as Twilio would for the server it calls: with the server's
PUBLIC_BASE_URL when this environment sets it, else with the origin of --url (so the demo on
another port answers it)."""

from telephony.management.commands.simulate_call import signing_origin


def test_without_public_base_url_the_origin_of_url_signs(monkeypatch):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    assert signing_origin("", "http://localhost:8100/") == "http://localhost:8100"
    assert signing_origin("", "https://voice.example.com/path") == "https://voice.example.com"


def test_public_base_url_from_the_environment_wins(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://voice.example.com/")
    assert signing_origin("", "http://127.0.0.1:8000") == "https://voice.example.com"


def test_an_explicit_public_url_wins_over_both(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://voice.example.com")
    assert signing_origin("http://localhost:9000", "http://127.0.0.1:8000") == (
        "http://localhost:9000"
    )
