"""Receiving uploaded files safely: streamed, checked, and written only inside HOME/uploads/.

The multipart body is parsed as it arrives (python-multipart's streaming parser), so a file is
refused as soon as its name, type or size is wrong, nothing is buffered in memory or in /tmp,
and every byte lands in a hidden temporary file in the uploads folder that is renamed into place
only after the whole request checked out. File names are reduced to a plain base name.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from rag.ingest.load import SUPPORTED

MAX_FILES = 10
_MB = 1024 * 1024
_OVERHEAD = 64 * 1024  # multipart boundaries and part headers
_GENERIC = {"application/octet-stream", "binary/octet-stream"}  # what many clients send for anything
CONTENT_TYPES = {
    ".txt": {"text/plain"},
    ".md": {"text/markdown", "text/x-markdown", "text/plain"},
    ".html": {"text/html", "application/xhtml+xml"},
    ".htm": {"text/html", "application/xhtml+xml"},
    ".pdf": {"application/pdf", "application/x-pdf"},
    ".docx": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip"},
}
assert set(CONTENT_TYPES) == SUPPORTED


class UploadRejected(Exception):
    """The request cannot be accepted; `status` is the HTTP status, the message says why and what to do."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Received:
    """One uploaded file, checked and saved to a temporary path next to its final place."""

    filename: str  # as the client sent it
    name: str  # sanitised base name
    content_type: str
    tmp: Path
    size: int = 0


def sanitise(name: str) -> str:
    """A safe base name: no directories, ASCII letters, digits, '.', '-', '_'; lower-case extension."""
    base = unicodedata.normalize("NFKD", name.replace("\\", "/").split("/")[-1])
    base = base.encode("ascii", "ignore").decode()
    stem, ext = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100] or "upload"
    ext = re.sub(r"[^A-Za-z0-9.]+", "", ext).lower()
    return stem + ext


def check_file(filename: str, content_type: str) -> str:
    """The sanitised name, or UploadRejected(415/400) naming what is accepted."""
    if not filename:
        raise UploadRejected(400, "A file part has no filename. Send files as multipart/form-data "
                                  "with a filename, e.g. curl -F file=@report.pdf")
    name = sanitise(filename)
    ext = os.path.splitext(name)[1]
    if ext not in SUPPORTED:
        raise UploadRejected(415, f"{filename!r} is not a supported type ({ext or 'no extension'}). "
                                  f"Upload one of: {', '.join(sorted(SUPPORTED))}.")
    ctype = content_type.split(";")[0].strip().lower()
    if ctype and ctype not in _GENERIC and ctype not in CONTENT_TYPES[ext]:
        raise UploadRejected(415, f"{filename!r} was sent as {ctype}, which does not match its extension {ext} "
                                  f"(expected {' or '.join(sorted(CONTENT_TYPES[ext]))}).")
    return name


async def receive(request: Request, folder: Path, limit_mb: float) -> list[Received]:
    """Parse a multipart upload into temporary files inside `folder`; raise UploadRejected on any fault.

    On failure every temporary file is removed. Non-file form fields are ignored.
    """
    limit = int(limit_mb * _MB)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRejected(415, "Send the files as multipart/form-data (e.g. curl -F file=@report.pdf).")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FILES * limit + _OVERHEAD:
        raise UploadRejected(413, f"The request is {int(declared) / _MB:.1f} MB; at most {MAX_FILES} files "
                                  f"of {limit_mb:g} MB each are accepted (RAG_UPLOAD_MAX_MB).")
    folder.mkdir(parents=True, exist_ok=True)
    sink = _Sink(folder, limit, limit_mb)
    parser = MultipartParser(params[b"boundary"], sink.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_FILES * limit + _OVERHEAD and sink.error is None:
                sink.error = UploadRejected(413, f"The request is over {MAX_FILES} files of {limit_mb:g} MB "
                                                 "(RAG_UPLOAD_MAX_MB); send fewer or smaller files.")
                break  # an unbounded (chunked) body is not drained
            if sink.error is None:
                await run_in_threadpool(_feed, parser, sink, chunk)
            # after an error the rest of the body is read and dropped, so the client gets the answer
        if sink.error is None:
            parser.finalize()
            if not sink.files:
                raise UploadRejected(400, "No file in the request. Send it as a form field with a filename, "
                                          "e.g. curl -F file=@report.pdf")
    except BaseException:
        sink.discard()
        raise
    if sink.error is not None:
        sink.discard()
        raise sink.error
    return sink.files


def _feed(parser: MultipartParser, sink: "_Sink", chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except UploadRejected as e:
        sink.error = e
    except Exception as e:  # malformed multipart
        sink.error = UploadRejected(400, f"The multipart body is malformed ({e}).")


class _Sink:
    """python-multipart callbacks writing each file part to its own temporary file."""

    def __init__(self, folder: Path, limit: int, limit_mb: float):
        self.folder = folder.resolve()
        self.limit = limit
        self.limit_mb = limit_mb
        self.files: list[Received] = []
        self.error: UploadRejected | None = None
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""
        self._current: Received | None = None
        self._fh = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: setattr(self, "_field", self._field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_value", self._value + d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._current = None

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("utf-8", "replace")
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        if b"filename" not in params:
            return  # an ordinary form field: ignored
        if len(self.files) >= MAX_FILES:
            raise UploadRejected(413, f"At most {MAX_FILES} files per request.")
        filename = params[b"filename"].decode("utf-8", "replace")
        ctype = self._headers.get("content-type", "")
        name = check_file(filename, ctype)
        tmp = self.folder / f".upload-{secrets.token_hex(8)}.part"
        if tmp.resolve().parent != self.folder:  # cannot happen with a generated name; belt and braces
            raise UploadRejected(400, "Refusing to write outside the uploads folder.")
        self._current = Received(filename, name, ctype, tmp)
        self.files.append(self._current)
        self._fh = open(tmp, "xb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            return
        self._current.size += end - start
        if self._current.size > self.limit:
            raise UploadRejected(413, f"{self._current.filename!r} is over the {self.limit_mb:g} MB upload limit. "
                                      "Split the file, or raise RAG_UPLOAD_MAX_MB and restart `rag serve`.")
        self._fh.write(data[start:end])

    def _part_end(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._current is not None and self._current.size == 0:
            raise UploadRejected(400, f"{self._current.filename!r} is empty. Upload a file with text in it.")
        self._current = None

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for f in self.files:
            f.tmp.unlink(missing_ok=True)
