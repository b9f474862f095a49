"""uvicorn's HTTP/1.1 protocol, with large request bodies read straight into their buffer.

Why: an inference request carries a 602 KB tensor. Through uvicorn's stock protocol it is
copied five times on its way to the handler: uvloop's read into a new bytes object,
httptools' slice per chunk, uvicorn's growing bytearray, ``bytes()`` of that for the ASGI
message, and the handler's join of the messages; with a wake-up of the handler per chunk.
At 500 req/s those copies and wake-ups were about a fifth of the gateway's CPU, and CPU is
queueing delay for the next request.

Here, once the headers of a request with a ``Content-Length`` body of at least
``DIRECT_BODY_MIN_BYTES`` (and at most the configured limit, while the process-wide budget
for such buffers allows) are parsed, a buffer of exactly that size is allocated and the
kernel reads the rest of the body into it (an asyncio ``BufferedProtocol``); the parser is
bypassed for those bytes and replaced by a fresh one for the connection's next request.
The handler gets the buffer, whole, from a future in ``scope["extensions"][BODY_EXTENSION]``,
with one wake-up. Everything else (headers, small or chunked bodies, ``Expect:
100-continue``, pipelined requests, the responses) is uvicorn's own code, and ``receive()``
still works for an app that ignores the extension.

Built on uvicorn 0.54's ``HttpToolsProtocol`` internals (``cycle``, ``parser``,
``headers``): requirements.txt pins it, and the gateway's tests run every request through
this protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

import httptools
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BODY_EXTENSION = "inference-mesh.direct_body"
"""``scope["extensions"]`` key: an ``asyncio.Future`` of the whole body (a ``bytearray``),
or of ``None`` when the client went away before sending all of it."""

DIRECT_BODY_MIN_BYTES = 64 * 1024
"""Smaller bodies arrive in one or two reads anyway: uvicorn's path costs them nothing."""

DEFAULT_BUDGET_BYTES = 64 << 20
"""About a hundred 602 KB tensors arriving at once, far above what one gateway sees."""

SCRATCH_BYTES = 256 * 1024

# Reads that are not a direct body (headers, small bodies) land here and are parsed at once;
# httptools copies whatever it keeps. One buffer serves every connection: the event loop
# runs a read and its buffer_updated() back to back, so no two reads ever share it.
_SCRATCH = memoryview(bytearray(SCRATCH_BYTES))


class DirectBodyBudget:
    """Bytes of direct-body buffers allocated for bodies still arriving, across connections.

    A buffer is allocated when the headers arrive, before the body: without a bound, clients
    declaring large bodies and sending them slowly could make the process allocate
    ``max_body_bytes`` per connection. Over the budget a request takes uvicorn's own path,
    which buffers only what has arrived (up to its high-water mark per connection)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.outstanding_bytes = 0

    def take(self, size: int) -> bool:
        """Reserves ``size`` bytes if they fit."""
        if self.outstanding_bytes + size > self.limit_bytes:
            return False
        self.outstanding_bytes += size
        return True

    def give_back(self, size: int) -> None:
        """The body finished arriving or will never finish."""
        self.outstanding_bytes -= size


class DirectBodyProtocol(asyncio.BufferedProtocol):
    """The transport's protocol: chooses where each read lands, then hands it on.

    uvloop only reads into a caller's buffer for protocols that are not ``asyncio.Protocol``
    subclasses, so this wraps uvicorn's protocol instead of extending it.
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_body_bytes: int,
        budget: DirectBodyBudget,
    ) -> None:
        self.http = _HttpToolsWithDirectBody(
            config, server_state, app_state, _loop, max_direct_bytes=max_body_bytes, budget=budget
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.http.connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.http.direct_body_lost()
        self.http.connection_lost(exc)

    def eof_received(self) -> None:
        self.http.eof_received()

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()

    def get_buffer(self, sizehint: int) -> memoryview:
        remaining = self.http.direct_remaining()
        return _SCRATCH if remaining is None else remaining

    def buffer_updated(self, nbytes: int) -> None:
        if self.http.reading_direct_body:
            self.http.direct_received(nbytes)
        else:
            self.http.data_received(_SCRATCH[:nbytes])  # type: ignore[arg-type]


def direct_body(scope: Mapping[str, Any]) -> Awaitable[bytearray] | None:
    """The request's whole body, when this protocol is reading it directly; else None (read
    it with ``receive()``). Raises Starlette's ``ClientDisconnect`` if the client leaves first."""
    delivered = scope.get("extensions", {}).get(BODY_EXTENSION)
    return None if delivered is None else _whole(delivered)


async def _whole(delivered: asyncio.Future[bytearray | None]) -> bytearray:
    body = await delivered
    if body is None:
        raise ClientDisconnect()
    return body


class ProtocolFactory:
    """What ``uvicorn.Config(http=...)`` takes: a ``DirectBodyProtocol`` per connection, all
    sharing one budget (the server's event loop is the only thread that touches it).

    uvicorn calls it as it would a protocol class, though its annotation asks for a class:
    pass ``factory.for_uvicorn``."""

    def __init__(self, max_body_bytes: int, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        """Direct bodies of up to ``max_body_bytes`` each, ``budget_bytes`` in all at a time."""
        self.max_body_bytes = max_body_bytes
        self.budget = DirectBodyBudget(budget_bytes)

    @property
    def for_uvicorn(self) -> Any:
        """This factory, typed as uvicorn's ``http`` setting accepts it."""
        return self

    def __call__(self, **kwargs: Any) -> DirectBodyProtocol:
        return DirectBodyProtocol(**kwargs, max_body_bytes=self.max_body_bytes, budget=self.budget)


class _HttpToolsWithDirectBody(HttpToolsProtocol):
    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None,
        *,
        max_direct_bytes: int,
        budget: DirectBodyBudget,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_direct_bytes = max_direct_bytes
        self.budget = budget
        self._body: bytearray | None = None
        self._view: memoryview | None = None
        self._filled = 0
        self._delivered: asyncio.Future[bytearray | None] | None = None

    @property
    def reading_direct_body(self) -> bool:
        """Whether the next bytes belong to a direct body."""
        return self._view is not None

    def direct_remaining(self) -> memoryview | None:
        """The part of the direct body still to read, or None when not reading one."""
        if self._view is None:
            return None
        return self._view[self._filled :]

    def direct_received(self, nbytes: int) -> None:
        """The kernel put ``nbytes`` more of the body into ``direct_remaining()``."""
        assert self._body is not None
        self._filled += nbytes
        if self._filled == len(self._body):
            # The parser never saw these bytes and still expects them: the next request
            # on this connection gets a fresh one.
            self.parser = httptools.HttpRequestParser(self)
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
            self._finish_direct_body()

    def direct_body_lost(self) -> None:
        """The connection closed: a handler waiting for the body gets None."""
        if self._body is not None:
            self.budget.give_back(len(self._body))
        if self._delivered is not None and not self._delivered.done():
            self._delivered.set_result(None)
        self._body = self._view = self._delivered = None

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        length = self._direct_length()
        if length is None:
            return
        self._body = bytearray(length)
        self._view = memoryview(self._body)
        self._filled = 0
        self._delivered = self.loop.create_future()
        # The request's task was created above but has not run: it sees the extension.
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[BODY_EXTENSION] = self._delivered

    def on_body(self, body: bytes) -> None:
        if self._view is None:
            super().on_body(body)
            return
        # The part of the body that came in the same read as the headers.
        end = self._filled + len(body)
        self._view[self._filled : end] = body
        self._filled = end

    def on_message_complete(self) -> None:
        if self._view is None:
            super().on_message_complete()
            return
        # The whole body came with the headers: the parser saw all of it and stays in step.
        self._finish_direct_body()

    def _direct_length(self) -> int | None:
        # Not for a request uvicorn queued behind another (pipelining), one that waits for
        # "100 Continue" (sent by receive()), or an upgrade (no cycle of its own).
        cycle = self.cycle
        if (
            self.pipeline
            or self.expect_100_continue
            or cycle is None
            or cycle.scope is not self.scope
        ):
            return None
        length = None
        for name, value in self.headers:
            if name == b"transfer-encoding":
                return None
            if name == b"content-length":
                length = value
        if length is None or not length.isdigit():
            return None
        size = int(length)
        if not DIRECT_BODY_MIN_BYTES <= size <= self.max_direct_bytes:
            return None
        return size if self.budget.take(size) else None

    def _finish_direct_body(self) -> None:
        body, delivered = self._body, self._delivered
        self._body = self._view = self._delivered = None
        assert body is not None
        self.budget.give_back(len(body))
        cycle = self.cycle
        if not cycle.response_complete:
            # For an app that reads with receive() instead of the extension.
            cycle.body = body
            cycle.more_body = False
            cycle.message_event.set()
        if delivered is not None and not delivered.done():
            delivered.set_result(body)
