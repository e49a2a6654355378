"""httpx over aiohttp: the HG client's HTTP/1.1 wire, at a fraction of the CPU per request.

:class:`HGClient` keeps httpx's API (requests, responses, timeouts, ``MockTransport`` in tests)
and hands the connection work to aiohttp's pool and C-accelerated parser through this
``httpx.AsyncBaseTransport``. Measured on these machines against a local stand-in at 16 in
flight (scripts/bench_send.py): httpx's own async pool spends 2.4–3.4 ms of CPU per request
(its pool re-checks every connection's socket through anyio on each request), this transport
0.6–0.7 ms.

Errors keep httpx's meaning, which decides whether a failed request may have reached HG
(:func:`connectors.hepsiglobal.client.may_have_arrived`): only a failure to get a connection
(DNS, refused, TLS handshake, connect or pool timeout) or a URL that cannot be sent is one
that sent nothing. Everything after the connection was ours (reset, server gone, read
timeout, a broken or oversized answer) is a transport error of the "may have arrived" kind,
and an aiohttp error this module does not know is too. aiohttp's own resending of a PUT or
DELETE whose connection dropped is off: each call sends at most once, HGClient decides resends.

Answers are read whole, up to :data:`MAX_ANSWER_BYTES`: more is a read error, not a memory
problem. Proxies (``HTTPS_PROXY``...) and ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are honoured as
httpx honours them.
"""

from __future__ import annotations

import ssl
import urllib.request
from typing import Any

import aiohttp
import httpx

MAX_ANSWER_BYTES = 16 * 1024 * 1024

# aiohttp errors that mean no byte of the request left, most specific first
_CONNECT_TIMEOUTS = (aiohttp.ConnectionTimeoutError,)
# (UnicodeError: a host name the resolver cannot encode, such as ``a..b``)
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, UnicodeError)
_UNSENDABLE = (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)
# aiohttp errors once the request may be on its way
_READ_TIMEOUTS = (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError)
_PROTOCOL_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError, aiohttp.ClientPayloadError)


def httpx_error(error: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx transport error that says what ``error`` (from aiohttp) says about sending."""
    text = str(error) or type(error).__name__
    kind: type[httpx.TransportError]
    if isinstance(error, _CONNECT_TIMEOUTS):
        kind = httpx.ConnectTimeout
    elif isinstance(error, _CONNECT_ERRORS):
        kind = httpx.ConnectError
    elif isinstance(error, _UNSENDABLE):
        kind = httpx.UnsupportedProtocol
    elif isinstance(error, _READ_TIMEOUTS):
        kind = httpx.ReadTimeout
    elif isinstance(error, _PROTOCOL_ERRORS):
        kind = httpx.RemoteProtocolError
    else:  # resets, broken pipes, anything new: assume the request may have arrived
        kind = httpx.ReadError
    return kind(text, request=request)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` sending over one ``aiohttp.ClientSession``.

    ``connections`` caps the pool (the client's concurrency); the session is opened on the
    first request, inside the running event loop, and closed by :meth:`aclose`.
    """

    def __init__(self, *, connections: int, keepalive: float = 15.0, trust_env: bool = True) -> None:
        self._connections = connections
        self._keepalive = keepalive
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}  # by (scheme, host), read once

    def _open(self) -> aiohttp.ClientSession:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(trust_env=self._trust_env)
        connector = aiohttp.TCPConnector(
            limit=self._connections, keepalive_timeout=self._keepalive, ssl=self._ssl
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # proxies are looked up once per host here, not on every request
            auto_decompress=False,  # httpx decodes, by the Content-Encoding it sees
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        # aiohttp sends a PUT or DELETE again, once, when the connection drops before the
        # answer: HGClient alone decides what is resent (its attempts, in doubt or not)
        self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                compress=None,
                proxy=self._proxy(request.url),
                timeout=_timeout(request.extensions.get("timeout") or {}),
            ) as answer:
                content = await _read(answer, request)
                headers = [
                    (name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.raw_headers
                ]
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, OSError, UnicodeError) as error:
            raise httpx_error(error, request) from error
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content), request=request)

    def _proxy(self, url: httpx.URL) -> str | None:
        """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...), if any."""
        if not self._trust_env:
            return None
        place = (url.scheme, url.host)
        if place not in self._proxies:
            proxies = urllib.request.getproxies()
            bypass = urllib.request.proxy_bypass(url.host) if proxies else True
            self._proxies[place] = None if bypass else proxies.get(url.scheme)
        return self._proxies[place]

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _timeout(phases: dict[str, Any]) -> aiohttp.ClientTimeout:
    """httpx's connect/read/pool timeouts as aiohttp's (aiohttp has no write timeout)."""
    connect, read, pool = phases.get("connect"), phases.get("read"), phases.get("pool")
    waiting = None if pool is None or connect is None else pool + connect  # a free slot, then a connection
    return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect, sock_read=read)


async def _read(answer: aiohttp.ClientResponse, request: httpx.Request) -> bytes:
    """The whole answer body, refusing more than :data:`MAX_ANSWER_BYTES`."""
    declared = answer.content_length
    if declared is not None and declared > MAX_ANSWER_BYTES:
        raise httpx.ReadError(
            f"answer of {declared} bytes, over the {MAX_ANSWER_BYTES} allowed", request=request
        )
    parts: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_any():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise httpx.ReadError(f"answer over the {MAX_ANSWER_BYTES} bytes allowed", request=request)
        parts.append(chunk)
    return b"".join(parts)
