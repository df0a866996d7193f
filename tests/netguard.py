"""No test reaches the network: a guard on name lookups and socket connects.

Any name lookup or connection to a host that is not loopback raises `NetworkBlocked` at once
(not an OSError, so no retry loop mistakes it for a passing network failure) and is recorded;
the `network_guard` fixture then fails the test that tried, whatever the code under test did
with the exception. `tests/conftest.py` applies it to every test.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class NetworkBlocked(RuntimeError):
    """A test tried to reach a host other than loopback."""


def is_loopback(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local host
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


class Guard:
    """Patches `socket` while installed; `attempts` lists every blocked host."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def _block(self, host: object) -> None:
        self.attempts.append(repr(host))
        raise NetworkBlocked(f"a test tried to reach {host!r}: tests may use 127.0.0.1 only")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_getaddrinfo = socket.getaddrinfo
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not is_loopback(host):
                self._block(host)
            return real_getaddrinfo(host, *args, **kwargs)

        def check(sock: socket.socket, address: Any) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
                self._block(address[0])

        def connect(sock: socket.socket, address: Any) -> None:
            check(sock, address)
            real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            check(sock, address)
            return real_connect_ex(sock, address)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def network_guard() -> Iterator[Guard]:
    guard = Guard()
    with pytest.MonkeyPatch.context() as monkeypatch:
        guard.install(monkeypatch)
        yield guard
    if guard.attempts:
        pytest.fail(f"the test tried to reach the network: {', '.join(guard.attempts)}")
