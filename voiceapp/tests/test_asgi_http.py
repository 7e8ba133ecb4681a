"""HTTP through the ASGI application, as Daphne serves it: each request runs whole (middleware
and view) in one hop to Django's thread (voiceapp.http_app, asgiref's WSGI adapter around
Django's WSGI handler)."""

from __future__ import annotations

import importlib
import threading
from urllib.parse import urlencode

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import override_settings
from twilio.request_validator import RequestValidator

from calls.models import Call
from telephony.tests.test_webhooks import BASE, voice_params

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def application():
    # Without the warm-up (speech models, greetings) that a web process starts.
    with override_settings(PRELOAD_SPEECH_MODELS=False, PREPARE_GREETINGS=False):
        return importlib.import_module("voiceapp.asgi").application


VOICE = "/telephony/twilio/voice/"


def headers(**named: str) -> list[tuple[bytes, bytes]]:
    pairs = {"host": "voice.example.test", **named}
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in pairs.items()]


def http_scope(method: str, path: str, **named: str) -> dict:
    """An HTTP request's ASGI scope, as Daphne builds it; `named` are its headers."""
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers(**named),
        "client": ("127.0.0.1", 50000),
        "server": ("voice.example.test", 80),
    }


async def request(
    application, method: str, path: str, body: bytes = b"", *, chunks: int = 1, **named
) -> dict:
    """One HTTP request through `application` (its body in `chunks` messages): the status and
    the whole body of the response. (The ASGI spec lets a response's last message leave `body`
    out, as asgiref's adapter does.) A body with no Content-Length header is sent chunked."""
    communicator = ApplicationCommunicator(application, http_scope(method, path, **named))
    size = -(-len(body) // chunks) if body else 0
    for n in range(chunks):
        piece = body[n * size : (n + 1) * size]
        more = n < chunks - 1
        await communicator.send_input({"type": "http.request", "body": piece, "more_body": more})
    start = await communicator.receive_output(20)
    assert start["type"] == "http.response.start", start
    content = b""
    while True:
        message = await communicator.receive_output(20)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(5)
    return {"status": start["status"], "body": content}


async def post_voice(application, params: dict, *, signature: str = "", chunks: int = 1) -> dict:
    """The voice webhook with `params`, signed with the account's token unless `signature` is
    given; its length sent in a Content-Length header, unless its body comes in `chunks`."""
    signature = signature or RequestValidator("token-a").compute_signature(BASE + VOICE, params)
    body = urlencode(params).encode()
    length = {"content_length": str(len(body))} if chunks == 1 else {}
    return await request(
        application,
        "POST",
        VOICE,
        body,
        chunks=chunks,
        content_type="application/x-www-form-urlencoded",
        x_twilio_signature=signature,
        **length,
    )


async def test_a_signed_voice_webhook_is_answered_through_the_asgi_application(
    application, world_a
):
    params = voice_params(world_a, call_sid="CA" + "6" * 32)
    response = await post_voice(application, params)
    assert response["status"] == 200, response
    assert b"<Connect>" in response["body"]
    assert await Call.objects.filter(twilio_call_sid=params["CallSid"]).aexists()

    forged = await post_voice(application, params, signature="x")
    assert forged["status"] == 403


async def test_a_request_runs_whole_in_django_wsgi_handler(application, monkeypatch):
    """Django's ASGI handler would hop to its thread and back for each middleware step: under
    load each hop waits for the GIL. Here the middleware sees a WSGI request, handled in one go
    on a thread of its own, off the event loop."""
    from django.contrib.sessions.middleware import SessionMiddleware

    seen: list[tuple[str, str]] = []
    real = SessionMiddleware.process_request

    def process_request(self, request):
        seen.append((type(request).__name__, threading.current_thread().name))
        return real(self, request)

    monkeypatch.setattr(SessionMiddleware, "process_request", process_request)
    response = await request(application, "GET", "/healthz")
    assert response["status"] == 200
    assert seen == [("WSGIRequest", seen[0][1])]
    assert seen[0][1] != threading.current_thread().name


async def test_a_chunked_body_without_a_length_is_read_whole(application, world_a):
    params = voice_params(world_a, call_sid="CA" + "4" * 32)
    response = await post_voice(application, params, chunks=3)
    assert response["status"] == 200 and b"<Connect>" in response["body"], response


async def test_a_client_that_leaves_mid_body_is_let_go_quietly(application, caplog):
    scope = http_scope("POST", VOICE, content_length="100")
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"a=1", "more_body": True})
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(5)  # returns: no exception, nothing sent
    assert await communicator.receive_nothing()
    assert "Traceback" not in caplog.text


async def test_a_request_the_server_gives_up_on_still_reads_its_body():
    """A server that gives up on a request (a timeout, the client gone) cancels its task, but
    the view runs on in its thread: it must still read the body, not a closed file (a burst of
    calls turned such webhooks into 500s and tracebacks)."""
    import asyncio

    from voiceapp.http_app import OneHopHTTP

    started, release, read = threading.Event(), threading.Event(), []

    def slow_view(environ, start_response):
        started.set()
        release.wait(5)
        try:
            read.append(environ["wsgi.input"].read())
        except ValueError as error:  # I/O operation on closed file
            read.append(error)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    communicator = ApplicationCommunicator(
        OneHopHTTP(slow_view), http_scope("POST", "/slow", content_length="5")
    )
    await communicator.send_input({"type": "http.request", "body": b"hello"})
    assert await asyncio.to_thread(started.wait, 5)
    communicator.future.cancel()
    await asyncio.sleep(0.05)  # the cancellation lands while the view waits in its thread
    release.set()
    for _ in range(100):
        if read:
            break
        await asyncio.sleep(0.02)
    assert read == [b"hello"]
