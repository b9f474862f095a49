"""The backend HTTP/1.1 client against a scripted asyncio server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gateway.http1 import ConnectionPool, ProtocolViolation

Script = Callable[[int, bytes], bytes | None]
"""(connection number, request head) -> raw response, or None to hang up / stay silent."""


class Server:
    """Answers each request per ``script``; counts connections and requests."""

    def __init__(self, script: Script, *, silent: bool = False) -> None:
        self.script = script
        self.silent = silent
        self.connections = 0
        self.requests = 0
        self.bodies: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.bodies.append(await reader.readexactly(length))
                self.requests += 1
                if self.silent:
                    await asyncio.sleep(3600)
                answer = self.script(number, head)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(server: Server, scenario: Callable[[ConnectionPool], Awaitable[None]]) -> None:
    async def main() -> None:
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        pool = ConnectionPool(f"http://127.0.0.1:{port}", max_idle=4)
        try:
            await scenario(pool)
        finally:
            await pool.close()
            listener.close()

    asyncio.run(main())


def ok(body: bytes = b"hello", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_keep_alive_reuses_one_connection_and_sends_the_body() -> None:
    server = Server(lambda _n, _h: ok())

    async def scenario(pool: ConnectionPool) -> None:
        for _ in range(3):
            response = await pool.request(
                "POST", "/x", [b"pay", memoryview(b"load")], {"x-test": "1"}
            )
            assert (response.status, response.body) == (200, b"hello")

    run(server, scenario)
    assert (server.connections, server.requests) == (1, 3)
    assert server.bodies == [b"payload"] * 3


def test_chunked_response_with_trailers() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nA: b\r\n\r\n"
    server = Server(lambda _n, _h: chunked)

    async def scenario(pool: ConnectionPool) -> None:
        assert (await pool.request("GET", "/")).body == b"hello world"
        assert (await pool.request("GET", "/")).body == b"hello world"

    run(server, scenario)
    assert server.connections == 1


def test_connection_close_is_honoured() -> None:
    server = Server(lambda _n, _h: ok(extra="Connection: close\r\n"))

    async def scenario(pool: ConnectionPool) -> None:
        await pool.request("GET", "/")
        await pool.request("GET", "/")

    run(server, scenario)
    assert server.connections == 2


def test_idle_connection_closed_by_the_server_is_retried_once_on_a_fresh_one() -> None:
    # The first connection answers once and then hangs up without saying so.
    server = Server(lambda n, h: ok() if n > 1 or b"first" in h else None)

    async def scenario(pool: ConnectionPool) -> None:
        assert (await pool.request("GET", "/first")).status == 200
        assert (await pool.request("GET", "/second")).status == 200

    run(server, scenario)
    assert server.connections == 2


def test_a_fresh_connection_that_fails_is_not_retried() -> None:
    server = Server(lambda _n, _h: None)

    async def scenario(pool: ConnectionPool) -> None:
        with pytest.raises(asyncio.IncompleteReadError):
            await pool.request("GET", "/")

    run(server, scenario)
    assert server.requests == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SMTP ready\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "neither Content-Length nor chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ],
)
def test_protocol_violations_are_reported(answer: bytes, message: str) -> None:
    server = Server(lambda _n, _h: answer)

    async def scenario(pool: ConnectionPool) -> None:
        with pytest.raises(ProtocolViolation, match=message):
            await pool.request("GET", "/")

    run(server, scenario)


def test_cancelled_request_never_leaves_its_connection_for_reuse() -> None:
    server = Server(lambda _n, _h: ok(), silent=True)

    async def scenario(pool: ConnectionPool) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await pool.request("POST", "/", [b"x"])
        server.silent = False
        assert (await pool.request("POST", "/", [b"y"])).status == 200

    run(server, scenario)
    assert server.connections == 2


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="expected an http"):
        ConnectionPool("grpc://triton:8001", max_idle=1)
