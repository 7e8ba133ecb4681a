"""Serving a call's recording: to its tenant's staff only, streamed, and seekable.

Recordings live in Django's default storage (`Call.recording`): local files by default, or a
private S3-compatible bucket (settings RECORDINGS_S3_BUCKET). No URL serves either: the admin's
player and the API reach a recording through a view that has already resolved the call within
the user's tenants (404 across tenants) and then hands it to `serve_recording`.

From a bucket, the answer is a redirect to a presigned URL valid RECORDINGS_PRESIGNED_SECONDS:
the bucket serves the bytes and the byte ranges a player asks for, and the app is not on the
path of megabytes of audio (django-storages reads a whole object before the first byte, so
streaming it through would cost a full download per seek). RECORDINGS_PRESIGNED_SECONDS=0
streams through the app instead, for a bucket the browsers cannot reach. Local files are
streamed, one range at a time.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import IO

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import Storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect

from calls.models import Call

# One "bytes=first-last" range. Several ranges, another unit or a malformed header are ignored
# (the whole file is sent), which RFC 9110 allows; a browser's player only ever asks for one.
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


# The recorder writes WAV; the platform's mimetypes table may say audio/x-wav or nothing.
_CONTENT_TYPES = {".wav": "audio/wav"}


class RangeNotSatisfiable(Exception):
    """The requested range starts past the end of the file (answered 416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The byte range `header` (an HTTP Range value) asks of a `size`-byte file, as (first,
    last) inclusive, or None to send the whole file. Raises RangeNotSatisfiable."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or size == 0:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None  # "bytes=-" is not a range
        suffix = int(last)  # "bytes=-n": the last n bytes
        if suffix == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored, like a malformed header
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last), size - 1) if last else size - 1
    return start, end


class _Slice:
    """`length` bytes of `file` from its current position, read by FileResponse in blocks."""

    def __init__(self, file: IO[bytes], length: int) -> None:
        self._file = file
        self._remaining = length

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if size < 0 or size > self._remaining:
            size = self._remaining
        data = self._file.read(size)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


class RecordingResponse(FileResponse):
    """A FileResponse that stays streamed under ASGI.

    Django's ASGI handler reads a synchronous streaming response whole into a list before sending
    it (StreamingHttpResponse.__aiter__); a recording is megabytes, so here each block is read
    in a worker thread as it is sent.
    """

    block_size = 64 * 1024

    async def __aiter__(self) -> AsyncIterator[bytes]:
        blocks = iter(self.streaming_content)
        read = sync_to_async(next, thread_sensitive=False)
        while (block := await read(blocks, None)) is not None:
            yield block


def serve_recording(request: HttpRequest, call: Call) -> HttpResponse:
    """The recording of `call`, which the caller has already found within the user's tenants.

    200 with the whole file, or 206 with one range (`Range: bytes=a-b`, `a-`, `-n`), or 416;
    always `Accept-Ranges: bytes`, `Cache-Control: private`, inline with a filename. 404 when the
    call has no recording or its file is gone.
    """
    if not call.recording:
        raise Http404("This call has no recording.")
    if settings.RECORDINGS_PRESIGNED_SECONDS and presigns(call.recording.storage):
        return _redirect_to_presigned(call)
    try:
        file = call.recording.open("rb")
        size = call.recording.size
    except FileNotFoundError:
        raise Http404("This call's recording file is missing.") from None
    suffix = PurePosixPath(call.recording.name).suffix or ".wav"
    content_type = _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0]
    # If-Range names a validator this response never gives, so it cannot match: send it all.
    header = None if "HTTP_IF_RANGE" in request.META else request.META.get("HTTP_RANGE")
    try:
        chosen = byte_range(header, size)
    except RangeNotSatisfiable:
        file.close()
        response = HttpResponse(status=416)
        response.headers["Content-Range"] = f"bytes */{size}"
        return _common_headers(response)
    first, last = chosen if chosen is not None else (0, size - 1)
    length = last - first + 1 if size else 0
    if first:
        file.seek(first)
    response = RecordingResponse(
        _Slice(file, length),
        status=206 if chosen is not None else 200,
        content_type=content_type or "application/octet-stream",
        filename=f"call-{call.pk}{suffix}",
    )
    response.headers["Content-Length"] = str(length)
    if chosen is not None:
        response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _common_headers(response)


def presigns(storage: Storage) -> bool:
    """Does `storage` make presigned URLs (django-storages' S3Storage with querystring auth)?"""
    return bool(getattr(storage, "querystring_auth", False))


def _redirect_to_presigned(call: Call) -> HttpResponse:
    storage, name = call.recording.storage, call.recording.name
    if not storage.exists(name):
        raise Http404("This call's recording file is missing.")
    suffix = PurePosixPath(name).suffix or ".wav"
    content_type = _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0]
    url = storage.url(
        name,
        parameters={
            # The bucket answers with the headers this view would have sent.
            "ResponseContentType": content_type or "application/octet-stream",
            "ResponseContentDisposition": f'inline; filename="call-{call.pk}{suffix}"',
            "ResponseCacheControl": "private",
        },
        expire=settings.RECORDINGS_PRESIGNED_SECONDS,
    )
    response = HttpResponseRedirect(url)
    # The URL is a bearer credential while it lasts: no cache keeps the redirect.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _common_headers(response: HttpResponse) -> HttpResponse:
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private"  # a tenant's audio: never in a shared cache
    return response
