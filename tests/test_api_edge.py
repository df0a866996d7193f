"""Issue 20, items 11 and 11b: what a wrong base URL costs. The website's root (an HTML page)
and a certificate the client cannot verify are recognised at once, with the set-up's exit code
(78), not retried as an outage (75); a run that fails at the root into a new folder leaves
nothing behind. Real sockets on 127.0.0.1; waits recorded, never slept."""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pkgharvest.cli import run as cli_run
from pkgharvest.errors import ExitCode
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import FakeApi, seed_catalogue

Cap = pytest.CaptureFixture[str]


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _SiteHandler)
        self.requests: list[str] = []
        self.connections = 0
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def get_request(self) -> tuple[Any, Any]:
        self.connections += 1  # counted before the TLS handshake (done inside accept)
        return super().get_request()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that drops the handshake is what the TLS test is about


class _SiteHandler(BaseHTTPRequestHandler):
    """The Django Packages website: an HTML page, status 200, at every path."""

    server: _Site

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body = b"<!DOCTYPE html>\n<html><head><title>Django Packages</title></head></html>\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[_Site]:
    site = _Site(tls)
    thread = threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()
        thread.join(timeout=5)


def fetch(base_url: str, root: Path, capsys: Cap, *extra: str) -> tuple[int, str, list[float]]:
    """`pkgharvest fetch` in-process with the default six attempts; waits are recorded."""
    waits: list[float] = []
    deps = Dependencies(retry=RetryPolicy(), sleep=waits.append)
    capsys.readouterr()
    code = cli_run(["fetch", "--base-url", base_url, "--data-dir", str(root), *extra], deps)
    return code, capsys.readouterr().err, waits


# --- item 11: the website's root ------------------------------------------------------------------


def test_the_websites_root_is_recognised_at_once_and_leaves_no_folder(
    tmp_path: Path, capsys: Cap
) -> None:
    root = tmp_path / "new" / "mirror"
    with serving() as site:
        base = f"http://127.0.0.1:{site.server_address[1]}/"
        code, err, waits = fetch(base, root, capsys)

    assert code == ExitCode.CONFIG
    assert site.requests == ["/"] and waits == []  # one request, no retry
    assert err.count("\n") == 1 and "HTML page" in err and f"{base}api/v4/" in err, err
    assert not (tmp_path / "new").exists()  # nor .lock, nor empty packages/ grids/ ...


def test_a_failed_first_fetch_into_an_empty_folder_leaves_it_empty(
    tmp_path: Path, capsys: Cap
) -> None:
    root = tmp_path / "mirror"
    root.mkdir()
    with serving() as site:
        code, _, _ = fetch(f"http://127.0.0.1:{site.server_address[1]}/", root, capsys)
    assert code == ExitCode.CONFIG
    assert list(root.iterdir()) == []


# --- item 11b: a certificate the client cannot verify ------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (openssl), and that key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate here: {made.stderr.decode().strip()}")
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_a_certificate_the_client_cannot_verify_fails_at_once_with_the_set_ups_code(
    tmp_path: Path, capsys: Cap, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with serving(server_context(*self_signed)) as site:
        base = f"https://127.0.0.1:{site.server_address[1]}/api/v4/"
        code, err, waits = fetch(base, tmp_path / "mirror", capsys)

    assert code == ExitCode.CONFIG  # not 75: retrying later cannot fix a certificate
    assert code != ExitCode.TEMPFAIL
    assert site.connections == 1 and waits == []
    assert err.count("\n") == 1 and "certificate" in err and "SSL_CERT_FILE" in err, err
    assert "self-signed" in err or "self signed" in err
    assert not (tmp_path / "mirror").exists()


def test_ssl_cert_file_trusts_a_private_certificate_authority(
    tmp_path: Path, capsys: Cap, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the error line advises works: the same server, its certificate trusted."""
    cert, key = self_signed
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    api = FakeApi(seed_catalogue())
    with api.serve(tls=server_context(cert, key)) as base:
        assert base.startswith("https://")
        code, err, _ = fetch(base, tmp_path / "mirror", capsys, "--quiet")
    assert code == 0, err
    assert len(list((tmp_path / "mirror" / "packages").glob("*.json"))) == 5
