"""AiohttpTransport against real loopback sockets: the wire, the pool, proxies, and the errors.

Every error must come out as the httpx class that makes ``may_have_arrived`` right: that
answer decides whether a request that cannot be sent twice (a refund) is sent again.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import shutil
import socket
import ssl
import struct
import subprocess
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.hepsiglobal import transport as transport_module
from connectors.hepsiglobal.client import HGClient, Outcome, may_have_arrived
from connectors.hepsiglobal.transport import AiohttpTransport
from engine.definitions.targets import TargetSettings

TIMEOUT = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback servers are reached directly, whatever proxies this machine names."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # urllib ignores HTTP_PROXY under CGI


# --- a loopback HTTP/1.1 server -----------------------------------------------------------


@dataclass
class Received:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


Handler = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Then = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]  # after a request


@dataclass
class Server:
    """Runs ``handler`` on each accepted connection; counts connections and keeps the requests."""

    handler: Handler
    accepted: int = 0
    open: int = 0
    most_open: int = 0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    tls: ssl.SSLContext | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        for writer in self._writers:  # handlers still waiting on a client see their connection end
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> Received | None:
        """The next request on this connection, or None when the client closed it."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        line, *fields = head.decode("latin-1").split("\r\n")[:-2]
        method, target, _ = line.split(" ")
        headers = [(name, value.strip()) for name, value in (f.split(":", 1) for f in fields)]
        length = sum(int(value) for name, value in headers if name.lower() == "content-length")
        received = Received(method, target, headers, await reader.readexactly(length))
        self.requests.append(received)
        return received

    async def closed(self) -> None:
        """Wait until the client has closed every connection."""
        while self.open:
            await asyncio.sleep(0.01)


def answer(status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answering(reply: bytes, *, hold: float = 0.0) -> Handler:
    """A keep-alive handler giving ``reply`` to every request, each after ``hold`` seconds."""

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            await asyncio.sleep(hold)
            writer.write(reply)
            await writer.drain()

    return handler


def after_reading(then: Then) -> Handler:
    """A handler reading one request, then doing ``then`` with the connection."""

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await server.read_request(reader) is not None:
            await then(reader, writer)

    return handler


async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # closing with a zero linger sends RST


def sending(raw: bytes, *, then_wait: bool = False) -> Then:
    """Send ``raw``, then close, or wait until the client closes."""

    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        if then_wait:
            await reader.read()

    return send


def request(
    method: str, url: str, *, json_body: Any = None, timeout: dict[str, float] | None = None, **headers: str
) -> httpx.Request:
    content = None if json_body is None else json.dumps(json_body).encode()
    if content is not None:
        headers.setdefault("Content-Type", "application/json")
    return httpx.Request(
        method, url, content=content, headers=headers, extensions={"timeout": timeout or TIMEOUT}
    )


async def send(transport: AiohttpTransport, req: httpx.Request) -> httpx.Response:
    response = await transport.handle_async_request(req)
    await response.aread()
    return response


async def failure(req: httpx.Request, *, connections: int = 1) -> httpx.TransportError:
    """The transport error ``req`` ends in, sent by a fresh transport closed afterwards."""
    transport = AiohttpTransport(connections=connections)
    try:
        with pytest.raises(httpx.TransportError) as caught:
            await send(transport, req)
    finally:
        await transport.aclose()
    return caught.value


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the round trip ------------------------------------------------------------------------


def test_request_arrives_as_sent_and_answer_comes_back_whole() -> None:
    reply = answer(201, b'{"data": {"id": 7}}', [("X-Multi", "a"), ("X-Multi", "b")])
    ours = {"Idempotency-Key": "key-1", "Authorization": "Bearer tok-1"}

    async def main() -> tuple[Received, httpx.Response]:
        async with Server(answering(reply)) as server:
            transport = AiohttpTransport(connections=2)
            url = server.url + "/v1/refunds?order=42&note=a%20b"
            try:
                response = await send(
                    transport, request("POST", url, json_body={"amount": "12.50", "items": [1, 2]}, **ours)
                )
            finally:
                await transport.aclose()
            return server.requests[0], response

    got, response = asyncio.run(main())
    assert (got.method, got.target) == ("POST", "/v1/refunds?order=42&note=a%20b")
    assert got.header("Idempotency-Key") == ["key-1"]
    assert got.header("Authorization") == ["Bearer tok-1"]
    assert got.header("Content-Type") == ["application/json"]
    assert json.loads(got.body) == {"amount": "12.50", "items": [1, 2]}
    for name in ("Host", "Content-Length"):  # httpx's, not doubled by aiohttp
        assert len(got.header(name)) == 1, got.headers
    assert got.header("User-Agent") == []  # aiohttp adds none of its own
    assert response.status_code == 201
    assert response.headers.get_list("X-Multi") == ["a", "b"]
    assert response.json() == {"data": {"id": 7}}


def test_gzip_answer_is_decoded_by_httpx() -> None:
    body = gzip.compress(json.dumps({"message": "ok", "data": [1, 2, 3]}).encode())
    reply = answer(200, body, [("Content-Encoding", "gzip"), ("Content-Type", "application/json")])

    async def main() -> httpx.Response:
        async with Server(answering(reply)) as server:
            transport = AiohttpTransport(connections=1)
            try:
                return await send(transport, request("GET", server.url + "/x", **{"Accept-Encoding": "gzip"}))
            finally:
                await transport.aclose()

    response = asyncio.run(main())
    assert response.json() == {"message": "ok", "data": [1, 2, 3]}


def test_requests_one_after_another_reuse_one_connection() -> None:
    async def main() -> tuple[int, list[int]]:
        async with Server(answering(answer(200, b"{}"))) as server:
            transport = AiohttpTransport(connections=4)
            try:
                statuses = [
                    (
                        await send(transport, request("PUT", f"{server.url}/x/{n}", json_body={"n": n}))
                    ).status_code
                    for n in range(5)
                ]
            finally:
                await transport.aclose()
            return server.accepted, statuses

    accepted, statuses = asyncio.run(main())
    assert statuses == [200] * 5
    assert accepted == 1


def test_answer_of_exactly_the_allowed_size_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "MAX_ANSWER_BYTES", 1000)

    async def main() -> httpx.Response:
        async with Server(answering(answer(200, b"x" * 1000))) as server:
            transport = AiohttpTransport(connections=1)
            try:
                return await send(transport, request("GET", server.url + "/x"))
            finally:
                await transport.aclose()

    assert asyncio.run(main()).content == b"x" * 1000


# --- errors: what may have reached the server ----------------------------------------------


def chunked(size: int, piece: int = 250) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (piece, b"y" * piece) for _ in range(size // piece))
    return head + chunks + b"0\r\n\r\n"


HALF_AN_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"
AFTER_CONNECTING = {
    "closed without answering": (after_reading(close), httpx.RemoteProtocolError),
    "no answer within the read timeout": (after_reading(say_nothing), httpx.ReadTimeout),
    "malformed status line": (after_reading(sending(b"NOT HTTP AT ALL\r\n\r\n")), httpx.RemoteProtocolError),
    "half an answer, then closed": (after_reading(sending(HALF_AN_ANSWER)), httpx.RemoteProtocolError),
    "half an answer, then silence": (
        after_reading(sending(HALF_AN_ANSWER, then_wait=True)),
        httpx.ReadTimeout,
    ),
    "headers never finished, then closed": (
        after_reading(sending(b"HTTP/1.1 200 OK\r\nContent-Le")),
        httpx.RemoteProtocolError,
    ),
    "reset": (after_reading(reset), httpx.ReadError),
    "oversized, with a Content-Length": (answering(answer(200, b"x" * 2000)), httpx.ReadError),
    "oversized, chunked": (answering(chunked(2000)), httpx.ReadError),
}


@pytest.mark.parametrize(("handler", "kind"), AFTER_CONNECTING.values(), ids=AFTER_CONNECTING.keys())
def test_failure_once_connected_may_have_arrived(
    handler: Handler, kind: type[httpx.TransportError], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "MAX_ANSWER_BYTES", 1000)

    async def main() -> tuple[BaseException, int]:
        async with Server(handler) as server:
            req = request(
                "POST", server.url + "/v1/refunds", json_body={"a": 1}, timeout={**TIMEOUT, "read": 0.3}
            )
            return await failure(req, connections=2), len(server.requests)

    error, arrived = asyncio.run(main())
    assert type(error) is kind, repr(error)
    assert may_have_arrived(error)
    assert arrived == 1
    assert error.request is not None


def test_connection_refused_is_connect_error_not_sent() -> None:
    async def main() -> BaseException:
        return await failure(request("POST", f"http://127.0.0.1:{free_port()}/x", json_body={}))

    error = asyncio.run(main())
    assert type(error) is httpx.ConnectError, repr(error)
    assert not may_have_arrived(error)


def test_no_free_connection_within_the_pool_timeout_is_connect_timeout_not_sent() -> None:
    """One connection, held by a slow answer: the second request never gets one."""

    async def main() -> tuple[BaseException, int]:
        async with Server(answering(answer(200, b"{}"), hold=0.5)) as server:
            transport = AiohttpTransport(connections=1)
            first = asyncio.create_task(send(transport, request("GET", server.url + "/slow")))
            while not server.requests:
                await asyncio.sleep(0.01)
            waiting = {**TIMEOUT, "pool": 0.1, "connect": 0.1}
            try:
                with pytest.raises(httpx.TransportError) as caught:
                    await send(transport, request("POST", server.url + "/x", json_body={}, timeout=waiting))
                await first
            finally:
                await transport.aclose()
            return caught.value, len(server.requests)

    error, arrived = asyncio.run(main())
    assert type(error) is httpx.ConnectTimeout, repr(error)
    assert not may_have_arrived(error)
    assert arrived == 1  # only the slow one


UNSENDABLE = {
    "not http": ("ftp://127.0.0.1/x", httpx.UnsupportedProtocol),
    "no host": ("http:///x", httpx.UnsupportedProtocol),
    "a host DNS cannot encode": ("http://a..b/x", httpx.ConnectError),
}


@pytest.mark.parametrize(("url", "kind"), UNSENDABLE.values(), ids=UNSENDABLE.keys())
def test_url_that_cannot_be_sent_is_not_sent(url: str, kind: type[httpx.TransportError]) -> None:
    async def main() -> BaseException:
        return await failure(request("POST", url, json_body={}))

    error = asyncio.run(main())
    assert type(error) is kind, repr(error)
    assert not may_have_arrived(error)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST"])
@pytest.mark.parametrize("then", [close, reset], ids=["closed", "reset"])
def test_request_whose_connection_dies_is_sent_once(method: str, then: Then) -> None:
    """aiohttp resends idempotent methods on a dropped connection; HGClient decides resends."""

    async def main() -> tuple[BaseException, int]:
        async with Server(after_reading(then)) as server:
            return await failure(request(method, server.url + "/x", json_body={"a": 1})), len(server.requests)

    error, arrived = asyncio.run(main())
    assert may_have_arrived(error)
    assert arrived == 1


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_server(certificate: tuple[Path, Path]) -> Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return Server(answering(answer(200, b"over tls")), tls=context)


def test_https_server_trusted_through_ssl_cert_file_answers(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))

    async def main() -> httpx.Response:
        async with tls_server(certificate) as server:
            transport = AiohttpTransport(connections=1)
            try:
                return await send(transport, request("POST", server.url + "/x", json_body={}))
            finally:
                await transport.aclose()

    assert asyncio.run(main()).content == b"over tls"


def test_https_server_with_an_untrusted_certificate_is_connect_error_not_sent(
    certificate: tuple[Path, Path],
) -> None:
    async def main() -> tuple[BaseException, int]:
        async with tls_server(certificate) as server:
            return await failure(request("POST", server.url + "/x", json_body={})), len(server.requests)

    error, arrived = asyncio.run(main())
    assert type(error) is httpx.ConnectError, repr(error)
    assert not may_have_arrived(error)
    assert arrived == 0


async def speak_plain_http(
    server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await reader.read(10)
    writer.write(answer(400))
    await writer.drain()


async def drop_at_once(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(10)


async def stay_silent(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


HANDSHAKES = {
    "server speaks plain http": (speak_plain_http, httpx.ConnectError),
    "server drops the connection": (drop_at_once, httpx.ConnectError),
    "server never answers the hello": (stay_silent, httpx.ConnectTimeout),
}


@pytest.mark.parametrize(("handler", "kind"), HANDSHAKES.values(), ids=HANDSHAKES.keys())
def test_failed_tls_handshake_is_not_sent(handler: Handler, kind: type[httpx.TransportError]) -> None:
    async def main() -> BaseException:
        async with Server(handler) as server:
            url = f"https://127.0.0.1:{server.port}/x"
            return await failure(request("POST", url, json_body={}, timeout={**TIMEOUT, "connect": 0.3}))

    error = asyncio.run(main())
    assert type(error) is kind, repr(error)
    assert not may_have_arrived(error)


# --- the pool ------------------------------------------------------------------------------


def test_pool_never_opens_more_connections_than_allowed() -> None:
    async def main() -> tuple[list[int], int]:
        async with Server(answering(answer(200, b"{}"), hold=0.2)) as server:
            transport = AiohttpTransport(connections=2)
            try:
                responses = await asyncio.gather(
                    *(send(transport, request("GET", f"{server.url}/x/{n}")) for n in range(5))
                )
            finally:
                await transport.aclose()
            return [r.status_code for r in responses], server.most_open

    statuses, most_open = asyncio.run(main())
    assert statuses == [200] * 5
    assert most_open == 2


# --- proxies from the environment ----------------------------------------------------------


def test_http_proxy_from_environment_gets_the_absolute_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> tuple[httpx.Response, list[Received]]:
        async with Server(answering(answer(200, b"via proxy"))) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            transport = AiohttpTransport(connections=1)
            try:
                response = await send(transport, request("GET", "http://example.invalid/x?y=1"))
            finally:
                await transport.aclose()
            return response, proxy.requests

    response, at_proxy = asyncio.run(main())
    assert response.content == b"via proxy"
    assert [(r.method, r.target) for r in at_proxy] == [("GET", "http://example.invalid/x?y=1")]
    assert at_proxy[0].header("Host") == ["example.invalid"]


def test_no_proxy_covering_the_host_goes_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> tuple[int, int, int]:
        async with (
            Server(answering(answer(200, b"via proxy"))) as proxy,
            Server(answering(answer(200, b"direct"))) as origin,
        ):
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            monkeypatch.setenv("NO_PROXY", "example.invalid,127.0.0.1")
            transport = AiohttpTransport(connections=1)
            try:
                response = await send(transport, request("GET", origin.url + "/x"))
            finally:
                await transport.aclose()
            assert response.content == b"direct"
            return proxy.accepted, origin.accepted, len(origin.requests)

    assert asyncio.run(main()) == (0, 1, 1)


def test_trust_env_off_ignores_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> tuple[int, bytes]:
        async with (
            Server(answering(answer(200, b"via proxy"))) as proxy,
            Server(answering(answer(200, b"direct"))) as origin,
        ):
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            transport = AiohttpTransport(connections=1, trust_env=False)
            try:
                response = await send(transport, request("GET", origin.url + "/x"))
            finally:
                await transport.aclose()
            return proxy.accepted, response.content

    assert asyncio.run(main()) == (0, b"direct")


# --- closing -------------------------------------------------------------------------------


def resource_warnings_of(main: Callable[[], Awaitable[Any]]) -> list[str]:
    """The ResourceWarnings (unclosed sessions, connectors, sockets) of running ``main``."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        while gc.collect() or caught:  # a warning holds its source: freeing it can warn again
            messages += [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
            caught.clear()
    return messages


def test_aclose_closes_session_and_its_connections() -> None:
    async def main() -> None:
        async with Server(answering(answer(200, b"{}"))) as server:
            transport = AiohttpTransport(connections=2)
            await send(transport, request("GET", server.url + "/x"))
            assert server.open == 1
            await transport.aclose()
            await asyncio.wait_for(server.closed(), 2)  # the server saw the connection end

    assert resource_warnings_of(main) == []


def test_unclosed_transport_is_noticed() -> None:
    """The check above can fail: without aclose, aiohttp warns of the session left open."""

    async def main() -> None:
        async with Server(answering(answer(200, b"{}"))) as server:
            transport = AiohttpTransport(connections=2)
            await send(transport, request("GET", server.url + "/x"))

    assert any("Unclosed client session" in message for message in resource_warnings_of(main))


def test_transport_never_used_closes() -> None:
    async def main() -> None:
        transport = AiohttpTransport(connections=2)
        await transport.aclose()
        await transport.aclose()

    assert resource_warnings_of(main) == []


# --- through HGClient ----------------------------------------------------------------------


def hg_settings(url: str) -> TargetSettings:
    return TargetSettings(
        base_url=url, client_id="mp", client_secret="secret-value-1234", rate_limit=None, max_attempts=1
    )


async def token_then_drop(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Issues tokens; drops the connection on reading any other request."""
    while (got := await server.read_request(reader)) is not None:
        if got.target != "/v1/auth/token":
            return
        writer.write(answer(200, b'{"access_token": "tok-abc", "expires_in": 3600}'))
        await writer.drain()


@pytest.mark.parametrize(
    ("stop_when_in_doubt", "kind"), [(False, "failed"), (True, "in_doubt")], ids=["retrying", "holding"]
)
def test_hgclient_over_the_transport_reports_a_dropped_request_in_doubt(
    stop_when_in_doubt: bool, kind: str
) -> None:
    async def main() -> tuple[Outcome, list[Received]]:
        async with Server(token_then_drop) as server:
            async with HGClient(hg_settings(server.url)) as hg:
                outcome = await hg.send(
                    "POST",
                    "/v1/refunds",
                    {"amount": 5},
                    idempotency_key="refund-1",
                    stop_when_in_doubt=stop_when_in_doubt,
                )
            return outcome, server.requests

    outcome, requests = asyncio.run(main())
    assert (outcome.kind, outcome.doubted, outcome.attempts) == (kind, True, 1)
    refunds = [r for r in requests if r.target == "/v1/refunds"]
    assert len(refunds) == 1
    assert refunds[0].header("Idempotency-Key") == ["refund-1"]
    assert refunds[0].header("Authorization") == ["Bearer tok-abc"]
