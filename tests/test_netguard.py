"""The network guard fails any test that tries a real host, whatever the code does with it."""

from __future__ import annotations

import socket

import pytest

from tests.netguard import Guard, NetworkBlocked


def test_a_lookup_of_a_real_host_is_blocked() -> None:
    guard = Guard()
    with pytest.MonkeyPatch.context() as monkeypatch:
        guard.install(monkeypatch)
        with pytest.raises(NetworkBlocked):
            socket.getaddrinfo("djangopackages.org", 443)
        with pytest.raises(NetworkBlocked), socket.socket() as sock:
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed
    assert guard.attempts == ["'djangopackages.org'", "'192.0.2.1'"]


def test_loopback_stays_open() -> None:
    assert socket.getaddrinfo("127.0.0.1", 80)
    assert socket.getaddrinfo("localhost", 80)


def test_a_test_that_fetches_from_the_real_api_fails(pytester: pytest.Pytester) -> None:
    """Even when the code under test swallows the error, the test that tried fails."""
    pytester.makeconftest("from tests.netguard import network_guard  # noqa: F401\n")
    pytester.makepyfile(
        test_reaches_out="""
        import httpx

        def test_swallows_the_failure():
            try:
                httpx.get("https://djangopackages.org/api/v4/", timeout=2)
            except BaseException:
                pass  # a retry loop or a broad except would hide it

        def test_through_the_cli(tmp_path):
            from pkgharvest.cli import run
            run(["fetch", "--data-dir", str(tmp_path)])
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    # Each test body ran to its end (passed), and each then failed at the guard (errors).
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*the test tried to reach the network: 'djangopackages.org'*"])
