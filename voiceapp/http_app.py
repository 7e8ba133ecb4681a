"""HTTP for the ASGI server: each request runs whole, middleware and view, in one hop to a
thread, through asgiref's WSGI adapter around Django's WSGI handler; on PostgreSQL on the `http`
threads (voiceapp.db_threads), so webhooks do not queue behind calls' set-up or each other.

Every view here is synchronous (the admin, the API, Twilio's webhooks). Django's own ASGI handler
runs the middleware on the event loop and hops to its thread and back for every middleware's
request and response step: about sixteen hops a request with this project's middleware. While
the loop carries hundreds of calls' audio, each hop waits for the GIL; in a burst of 100 calls
the voice webhook took 2.0 s at the median that way, 1.2 s in one hop (bench.greeting).

Two things asgiref's adapter leaves out are added: a request sent without a Content-Length
(chunked) gets its real length, so Django reads its body; and a client that leaves before its
request is whole is let go quietly, as Django's handler does.
"""

from __future__ import annotations

import asyncio
from functools import partial
from tempfile import SpooledTemporaryFile

from asgiref.sync import AsyncToSync
from asgiref.wsgi import WsgiToAsgi, WsgiToAsgiInstance
from django.conf import settings
from django.core.wsgi import get_wsgi_application

from voiceapp.db_threads import in_database_thread

# The adapter's own step, unwrapped from its hop to the one database thread: the request goes
# to the `http` threads instead (voiceapp.db_threads).
_run_wsgi_app = WsgiToAsgiInstance.__dict__["run_wsgi_app"].func


def _done(body: SpooledTemporaryFile, run: asyncio.Future) -> None:
    body.close()
    if not run.cancelled():
        run.exception()  # raised to the request's task, or, once it is gone, Django logged it


class _Request(WsgiToAsgiInstance):
    body_length = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError("an HTTP application was given a non-HTTP scope")
        self.scope = scope
        body = SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
        run: asyncio.Future | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before its request was whole: no one to answer
                body.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
            self.body_length = body.tell()
            body.seek(0)
            self.sync_send = AsyncToSync(send)
            run = asyncio.ensure_future(
                in_database_thread(partial(_run_wsgi_app, self), "http")(body)
            )
        finally:
            if run is None:
                body.close()
        # A thread cannot be stopped: when the server gives up on the request (cancels this
        # task: a timeout, the client gone, a shutdown), the view still runs to its end in its
        # thread and must still find the body there. It is closed when the thread is done.
        run.add_done_callback(partial(_done, body))
        await asyncio.shield(run)

    def build_environ(self, scope, body):
        environ = super().build_environ(scope, body)
        environ.setdefault("CONTENT_LENGTH", str(self.body_length))
        return environ


class OneHopHTTP(WsgiToAsgi):
    async def __call__(self, scope, receive, send) -> None:
        await _Request(self.wsgi_application, self.duplicate_header_limit)(scope, receive, send)


def http_application() -> OneHopHTTP:
    return OneHopHTTP(get_wsgi_application())
