"""HTTP/1.1 request framing, as RFC 9112 has it: the request line, header fields, the body's
length, and chunk-size lines. What the RFC says to refuse is refused here (400), so this
service and any proxy in front of it agree on where one request ends and the next begins."""

from __future__ import annotations

import re
from typing import Dict

MAX_HEADERS = 100

#: a field name is a token (RFC 9110 5.1): no whitespace, not even before the colon
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: a head may hold visible characters, spaces, tabs (and obs-text) and its CRLFs, nothing else
_BAD_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: chunk-size = 1*HEXDIG (RFC 9112 7.1): no sign, no prefix, no underscores
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BadHead(Exception):
    """A request this service refuses before reading it further (its status and message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Head:
    """An HTTP/1.1 request head: method, target, version, headers and how its body is framed."""

    __slots__ = ("method", "target", "version", "headers", "length", "chunked", "expect_continue", "keep_alive")

    def __init__(self, method: str, target: str, version: str, headers: Dict[str, str]) -> None:
        self.method, self.target, self.version, self.headers = method, target, version, headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        encoding = headers.get("transfer-encoding", "").lower().strip()
        self.chunked = encoding == "chunked"
        if encoding and not self.chunked:
            raise BadHead(501, f"Transfer-Encoding {encoding!r} is not supported; send chunked or a Content-Length")
        raw_length = headers.get("content-length")
        if raw_length is not None and self.chunked:
            raise BadHead(400, "send either Content-Length or Transfer-Encoding: chunked, not both")
        if raw_length is None:
            self.length = 0
        elif raw_length.isdigit() and raw_length.isascii() and len(raw_length) <= 18:
            self.length = int(raw_length)
        else:
            raise BadHead(400, "Content-Length must be a non-negative integer")
        expect = headers.get("expect", "").lower()
        if expect and expect != "100-continue":
            raise BadHead(417, f"Expect {expect!r} is not supported")
        self.expect_continue = bool(expect) and version == "HTTP/1.1"


def head_end(buf: bytearray) -> int:
    """Where the head ends (the index of its blank line's CRLFCRLF), -1 while it is incomplete.

    A head whose lines end in a bare LF is refused rather than waited on for ever."""
    end = buf.find(b"\r\n\r\n")
    bare = buf.find(b"\n\n")
    if bare >= 0 and (end < 0 or bare < end):
        raise BadHead(400, "request lines must end with CRLF, not a bare LF")
    return end


def parse_head(data: bytes) -> Head:
    """The head up to (not including) its blank line."""
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        raise BadHead(400, "request lines must end with CRLF (a bare CR or LF is not allowed)")
    bad = _BAD_BYTE.search(data)
    if bad is not None:
        raise BadHead(400, f"the request head holds a control character ({bad.group()!r}: NUL, CR, LF...) where none may be")
    lines = data.split(b"\r\n")
    request_line = lines[0].decode("iso-8859-1")
    words = request_line.split(" ")
    if len(words) != 3 or not all(words) or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadHead(400, f"Bad request line {request_line[:100]!r}")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadHead(431, "Too many headers")
    headers: Dict[str, str] = {}
    for raw in lines[1:]:
        if not raw:
            continue
        if raw[:1] in (b" ", b"\t"):
            raise BadHead(400, "obsolete line folding (a header line starting with whitespace) is not allowed")
        name_bytes, sep, value_bytes = raw.partition(b":")
        # most names are letters and dashes: the regex only for the rest
        if not sep or not (name_bytes.replace(b"-", b"").isalnum() or _TOKEN.fullmatch(name_bytes)) or not name_bytes.isascii():
            raise BadHead(400, f"Malformed header line {raw[:100]!r} (a field name is a token followed directly by ':')")
        name = name_bytes.decode("ascii").lower()
        value = value_bytes.decode("iso-8859-1").strip(" \t")
        if name in headers and name in ("content-length", "host", "transfer-encoding") and headers[name] != value:
            raise BadHead(400, f"conflicting {name} headers")
        headers[name] = value
    if words[2] == "HTTP/1.1" and "host" not in headers:
        raise BadHead(400, "an HTTP/1.1 request needs a Host header")
    return Head(words[0], words[1], words[2], headers)


def chunk_size(line: bytes) -> int:
    """The size a chunk-size line announces (chunk extensions after ';' are ignored)."""
    size_text = line.split(b";", 1)[0].rstrip(b" \t")
    if not _CHUNK_SIZE.fullmatch(size_text):
        raise BadHead(400, f"bad chunk size {size_text[:20]!r} (hexadecimal digits only)")
    return int(size_text, 16)
