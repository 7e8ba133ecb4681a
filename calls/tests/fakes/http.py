"""A scriptable HTTP fake on 127.0.0.1 that records what it received.

Subclasses add their provider's routes and the body of a successful answer; this base class
plays the failure modes shared by every HTTP provider.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import web

Mode = Literal["ok", "401", "429", "500", "hang", "cut"]
ERROR_MODES = {"401": 401, "429": 429, "500": 500}


@dataclass
class RecordedRequest:
    """One request as it arrived on the wire."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def closed_port_url(scheme: str = "http") -> str:
    """A URL on 127.0.0.1 where nothing listens, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}"


class HTTPFake:
    """Base for the HTTP fakes: start with `async with`, pick `mode`, read `requests`.

    Modes: ok (the provider's answer), 401/429/500 (a JSON error), hang (never answer),
    cut (send the first half of the answer, then drop the connection).
    """

    def __init__(self, mode: Mode = "ok") -> None:
        self.mode: Mode = mode
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def answer(self, recorded: RecordedRequest) -> tuple[str, list[bytes]]:
        """The content type and body chunks of a successful answer."""
        raise NotImplementedError

    def error_body(self, status: int) -> dict[str, Any]:
        return {"error": {"message": f"fake error {status}", "code": status}}

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        if self.mode in ERROR_MODES:
            status = ERROR_MODES[self.mode]
            return web.json_response(self.error_body(status), status=status)
        if self.mode == "hang":
            await self._release.wait()
            return web.Response(status=503)
        content_type, chunks = await self.answer(recorded)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if self.mode == "cut":
            for chunk in chunks[: max(1, len(chunks) // 2)]:
                await response.write(chunk)
            # Let the client read what was sent before the socket goes away.
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.abort()
            return response
        for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _record(self, request: web.Request) -> RecordedRequest:
        form: dict[str, Any] = {}
        if request.content_type.startswith("multipart/"):
            body = b""
            async for part in await request.multipart():
                if part.filename:
                    form[part.name] = (part.filename, await part.read())
                else:
                    form[part.name] = await part.text()
        else:
            body = await request.read()
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
            form=form,
        )
        self.requests.append(recorded)
        return recorded
