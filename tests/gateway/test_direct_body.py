"""The direct-body HTTP protocol under a real uvicorn server on 127.0.0.1, over raw sockets.

Each request's answer says how the app got the body (``direct``: the whole buffer from the
extension; ``receive``: uvicorn's messages) and the body's SHA-256, so every case checks both
the path taken and that not a byte was lost, duplicated or reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
import uvloop
from uvicorn.server import ServerState

import gateway.__main__ as entry
from gateway.config import load_config
from gateway.direct_body import (
    BODY_EXTENSION,
    DIRECT_BODY_MIN_BYTES,
    DirectBodyProtocol,
    ProtocolFactory,
)

MAX_BODY = 4 << 20
TENSOR_BYTES = 602_112


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers ``{"via", "size", "sha256"}``; ``x-use-receive: 1`` ignores the extension."""
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    direct = scope.get("extensions", {}).get(BODY_EXTENSION)
    if direct is not None and headers.get(b"x-use-receive") != b"1":
        body = await direct
        if body is None:
            DISCONNECTS.append(scope["path"])
            return
        via = "direct"
    else:
        parts = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                DISCONNECTS.append(scope["path"])
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, via = b"".join(parts), "receive"
    answer = json.dumps(
        {"via": via, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})


DISCONNECTS: list[str] = []


@contextlib.contextmanager
def serving(factory: ProtocolFactory) -> Iterator[int]:
    """uvicorn with the direct-body protocol, on uvloop, in a thread of its own; its port."""
    server = uvicorn.Server(
        uvicorn.Config(
            echo_app,
            host="127.0.0.1",
            port=0,
            http=factory.for_uvicorn,
            loop="none",
            lifespan="off",
            log_level="warning",
        )
    )
    ready: list[int] = []

    async def serve() -> None:
        config = server.config
        config.load()
        sock = config.bind_socket()
        ready.append(sock.getsockname()[1])
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: uvloop.run(serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (ready and server.started):
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield ready[0]
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def factory() -> ProtocolFactory:
    """The protocol factory of the module's server (its budget is inspected)."""
    return ProtocolFactory(MAX_BODY)


@pytest.fixture(scope="module")
def port(factory: ProtocolFactory) -> Iterator[int]:
    """A server with the default budget."""
    with serving(factory) as bound:
        yield bound


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def payload(size: int, seed: int = 0) -> bytes:
    """Bytes whose every position matters (a shifted or repeated chunk changes the hash)."""
    return ((np.arange(size, dtype=np.uint64) * 7 + seed) % 251).astype(np.uint8).tobytes()


def request(body: bytes, path: str = "/infer", extra: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


def read_answer(conn: socket.socket) -> dict[str, Any]:
    """Reads exactly one response (pipelined answers may follow it in the stream)."""
    stream = _streams.setdefault(conn.fileno(), conn.makefile("rb"))
    status = stream.readline()
    assert status.startswith(b"HTTP/1.1 200"), status or "connection closed before an answer"
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    result: dict[str, Any] = json.loads(stream.read(length))
    return result


_streams: dict[int, Any] = {}


def expect(answer: dict[str, Any], body: bytes, via: str) -> None:
    assert answer == {"via": via, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    _streams.pop(conn.fileno(), None)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def test_a_tensor_sized_body_is_handed_over_whole_and_intact(port: int) -> None:
    body = payload(TENSOR_BYTES)
    with connect(port) as conn:
        conn.sendall(request(body))
        expect(read_answer(conn), body, "direct")


def test_small_and_chunked_bodies_take_uvicorns_own_path(port: int) -> None:
    small = payload(DIRECT_BODY_MIN_BYTES - 1)
    big = payload(200_000, seed=3)
    chunked = (
        b"POST /infer HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n"
        + f"{len(big):x}\r\n".encode()
        + big
        + b"\r\n0\r\n\r\n"
    )
    with connect(port) as conn:
        conn.sendall(request(small))
        expect(read_answer(conn), small, "receive")
        conn.sendall(chunked)
        expect(read_answer(conn), big, "receive")


def test_a_body_over_the_limit_is_left_to_the_app(port: int) -> None:
    # The app decides (the gateway answers 413 from the declared length); no buffer is
    # allocated for a body the gateway will refuse.
    body = payload(MAX_BODY + 1)
    with connect(port) as conn:
        conn.sendall(request(body))
        expect(read_answer(conn), body, "receive")


def test_keep_alive_requests_alternate_paths_without_losing_step(port: int) -> None:
    # After a direct body the parser is replaced; the next request must parse cleanly.
    bodies = [payload(TENSOR_BYTES, 1), payload(100, 2), payload(70_000, 3), payload(10, 4)]
    with connect(port) as conn:
        for body in bodies:
            conn.sendall(request(body))
            via = "direct" if len(body) >= DIRECT_BODY_MIN_BYTES else "receive"
            expect(read_answer(conn), body, via)


def test_a_body_trickling_in_small_pieces_arrives_intact(port: int) -> None:
    body = payload(150_000, seed=5)
    raw = request(body)
    with connect(port) as conn:
        for start in range(0, len(raw), 7_001):
            conn.sendall(raw[start : start + 7_001])
            if start % 70_010 == 0:
                time.sleep(0.002)
        expect(read_answer(conn), body, "direct")


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    first, second, third = payload(120_000, 6), payload(90_000, 7), payload(50, 8)
    with connect(port) as conn:
        conn.sendall(request(first) + request(second) + request(third))
        answers = [read_answer(conn) for _ in range(3)]
    assert [a["sha256"] for a in answers] == [
        hashlib.sha256(b).hexdigest() for b in (first, second, third)
    ]
    assert answers[0]["via"] == "direct"


def test_an_app_that_reads_with_receive_gets_the_same_bytes(port: int) -> None:
    body = payload(TENSOR_BYTES, seed=9)
    with connect(port) as conn:
        conn.sendall(request(body, extra=b"x-use-receive: 1\r\n"))
        expect(read_answer(conn), body, "receive")


def test_expect_100_continue_is_answered_before_the_body(port: int) -> None:
    body = payload(100_000, seed=10)
    with connect(port) as conn:
        conn.sendall(request(b"", extra=b"expect: 100-continue\r\n").replace(
            b"content-length: 0", f"content-length: {len(body)}".encode()
        ))  # fmt: skip
        assert conn.recv(100).startswith(b"HTTP/1.1 100 Continue")
        conn.sendall(body)
        expect(read_answer(conn), body, "receive")


def test_a_client_leaving_mid_body_frees_the_handler_and_the_server_carries_on(
    port: int, factory: ProtocolFactory
) -> None:
    body = payload(TENSOR_BYTES, seed=11)
    with connect(port) as conn:
        conn.sendall(request(body, path="/abandoned")[: len(body) // 2])
        time.sleep(0.1)
    wait_for(lambda: "/abandoned" in DISCONNECTS, "the handler never heard of the disconnect")
    assert factory.budget.outstanding_bytes == 0, "the abandoned body's buffer is still counted"
    with connect(port) as conn:
        conn.sendall(request(body))
        expect(read_answer(conn), body, "direct")


def test_many_connections_at_once_share_the_read_buffer_safely(port: int) -> None:
    bodies = [payload(TENSOR_BYTES, seed) for seed in range(12)]

    async def one(body: bytes) -> dict[str, Any]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request(body))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        answer: dict[str, Any] = json.loads(await reader.readexactly(length))
        writer.close()
        return answer

    async def all_at_once() -> list[dict[str, Any]]:
        return await asyncio.gather(*(one(body) for body in bodies))

    for body, answer in zip(bodies, asyncio.run(all_at_once()), strict=True):
        expect(answer, body, "direct")


def test_the_gateway_serves_inference_through_the_direct_body_protocol(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without it every test above would still pass, and the gateway would quietly go back
    # to copying each tensor five times.
    example = Path(__file__).resolve().parents[2] / "gateway" / "config.example.yaml"
    config = load_config(example, {"GATEWAY_JWT_SECRET": "s" * 32})
    started: list[uvicorn.Server] = []

    async def record(public: uvicorn.Server, exporter: uvicorn.Server) -> None:
        started.append(public)

    monkeypatch.setattr(entry, "_serve_both", record)
    entry.serve(config)
    public_config = started[0].config
    factory: Any = public_config.http
    loop = asyncio.new_event_loop()
    try:
        protocol = factory(
            config=public_config, server_state=ServerState(), app_state={}, _loop=loop
        )
    finally:
        loop.close()
    assert isinstance(protocol, DirectBodyProtocol)
    assert protocol.http.max_direct_bytes == config.server.max_body_bytes
    assert protocol.http.budget.limit_bytes == config.server.direct_body_budget_bytes == 64 << 20


def test_bodies_over_the_buffer_budget_take_uvicorns_path_until_it_frees() -> None:
    # Room for one tensor: a slow sender holds it, so the next tensor is read uvicorn's
    # way (still whole and intact); once the slow body is in, the budget is free again.
    small_budget = ProtocolFactory(MAX_BODY, budget_bytes=TENSOR_BYTES + 1000)
    slow, quick = payload(TENSOR_BYTES, 20), payload(TENSOR_BYTES, 21)
    with serving(small_budget) as bound, connect(bound) as holder, connect(bound) as other:
        raw = request(slow)
        holder.sendall(raw[: len(raw) // 2])
        wait_for(lambda: small_budget.budget.outstanding_bytes == len(slow), "no reservation")
        other.sendall(request(quick))
        expect(read_answer(other), quick, "receive")
        holder.sendall(raw[len(raw) // 2 :])
        expect(read_answer(holder), slow, "direct")
        assert small_budget.budget.outstanding_bytes == 0
        other.sendall(request(quick))
        expect(read_answer(other), quick, "direct")


def test_a_zero_budget_turns_direct_bodies_off() -> None:
    body = payload(TENSOR_BYTES, 22)
    with serving(ProtocolFactory(MAX_BODY, budget_bytes=0)) as bound, connect(bound) as conn:
        conn.sendall(request(body))
        expect(read_answer(conn), body, "receive")
