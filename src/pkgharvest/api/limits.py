"""What one HTTP exchange may cost: a deadline for all of it, and a cap on the decoded body.

httpx's timeouts are per operation: a server that sends one byte every 20 s never trips a 30 s
read timeout, and holds a request for ever. So every socket operation of an exchange waits at
most until the exchange's deadline (`deadline()`, kept per thread, read by the network backend
that `bound_network_waits` puts under the client's connection pools).

A body is read as it arrives, and inflated here, never more than `cap` decoded bytes: a 2 MB
gzip body that inflates to 2 GB, or an endless chunked body, costs at most `cap` bytes of
memory, and a body that failed is dropped before any retry.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
import typing
import zlib
from collections.abc import Iterable, Iterator

import httpcore
import httpx

from pkgharvest.errors import BodyTooLarge, DeadlineReached, UnknownEncoding

ACCEPT_ENCODING = "gzip, deflate"
"""The encodings the client asks for: those `read_capped` can inflate within the cap."""

_local = threading.local()


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Every socket wait on this thread ends by `at` (time.monotonic()); None: no deadline."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = at
    try:
        yield
    finally:
        _local.deadline = previous


def _bounded(timeout: float | None) -> float | None:
    """`timeout`, shortened to what is left before this thread's deadline."""
    at: float | None = getattr(_local, "deadline", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every wait ends by the thread's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """The network backend of a connection pool, with deadline-bound streams."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _bounded(timeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bound_network_waits(client: httpx.Client) -> bool:
    """Put the deadline under every connection pool of `client` (its transport and any proxy
    mounts from the environment); False where a transport has no such pool (an injected
    MockTransport, another httpx). httpx offers no public way to pass a network backend, so
    this reaches into the pools; without it, `read_capped` still checks the deadline between
    pieces of the body (a drip then overruns by at most one read timeout)."""
    transports: list[object] = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    bound = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            if not isinstance(backend, _DeadlineBackend):
                setattr(pool, "_network_backend", _DeadlineBackend(backend))  # noqa: B010
            bound = True
    return bound


def read_capped(response: httpx.Response, cap: int, until: float | None) -> bytes | bytearray:
    """The body of a streamed `response`, inflated, at most `cap` bytes.

    Raises BodyTooLarge past the cap, UnknownEncoding for an encoding not asked for, and
    DeadlineReached when `until` (time.monotonic()) passes between two pieces.
    """
    if response.is_stream_consumed:
        # A response built in memory (an injected MockTransport) is read, and decoded, already.
        if len(response.content) > cap:
            raise BodyTooLarge()
        return response.content
    inflate = _inflater(response.headers.get("Content-Encoding", ""), cap)
    body = bytearray()
    for piece in response.iter_raw():
        if until is not None and time.monotonic() > until:
            raise DeadlineReached()
        for chunk in inflate(piece):
            if len(body) + len(chunk) > cap:
                raise BodyTooLarge()
            body += chunk
    for chunk in inflate(None):
        if len(body) + len(chunk) > cap:
            raise BodyTooLarge()
        body += chunk
    return body  # not bytes(body): a copy of a page's whole body, for the JSON decoder alone


_Inflate = typing.Callable[[bytes | None], Iterator[bytes]]
_PIECE = 1 << 20  # inflate at most 1 MiB at a time: a bomb never inflates all at once


def _inflater(encoding: str, cap: int) -> _Inflate:
    """A function from raw pieces (None: the end) to decoded pieces of at most 1 MiB each."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _identity
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise UnknownEncoding(encoding)
    gzip = codings[0] != "deflate"
    state: dict[str, typing.Any] = {"z": None, "first": True}

    def inflate(raw: bytes | None) -> Iterator[bytes]:
        z = state["z"]
        if raw is None:
            if z is not None:
                yield z.flush()
            return
        if z is None:
            # deflate is zlib-wrapped by the standard; some servers send it raw.
            wbits = 16 + zlib.MAX_WBITS if gzip else _deflate_wbits(raw)
            z = state["z"] = zlib.decompressobj(wbits)
        data = raw
        while data:
            try:
                out = z.decompress(data, _PIECE)
            except zlib.error as err:
                raise UnknownEncoding(f"{encoding} body that does not inflate ({err})") from None
            yield out
            data = z.unconsumed_tail
            if z.eof:
                return

    return inflate


def _identity(raw: bytes | None) -> Iterator[bytes]:
    if raw:
        yield raw


def _deflate_wbits(first: bytes) -> int:
    return zlib.MAX_WBITS if first[:1] == b"\x78" else -zlib.MAX_WBITS
