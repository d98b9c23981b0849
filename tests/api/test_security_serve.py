"""``shipline serve`` as an attacker meets it: bodies too large, slow headers, TLS.

Each test runs the real command in a child process on loopback, as in
``test_process``; ``ServedProcess`` is shared with the other ``test_security_*``
files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.keys import Keyring, NewKey, create_key
from tests.api.conftest import free_socket, wait_for
from tests.engines import fresh_database


@dataclass
class ServedProcess:
    """A ``shipline serve`` child process and what a test needs to reach it."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    database: str
    keys: dict[str, NewKey]

    def headers(self, scope: str = "admin") -> dict[str, str]:
        """The ``Authorization`` header of the key of ``scope``."""
        return {"Authorization": f"Bearer {self.keys[scope].key}"}

    def rss_mb(self) -> float:
        """The server's resident memory now, in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@contextmanager
def shipline_serve(
    folder: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[ServedProcess]:
    """``shipline serve`` over a fresh DuckDB database, with a key of each scope."""
    with fresh_database("duckdb") as database:
        keyring = folder / "keyring"
        with Pipeline(Settings(database=database, api_keyring=str(keyring))) as pipeline:
            keys = {
                scope: create_key(pipeline.backend, Keyring(keyring), scope)
                for scope in ("ingest", "read", "admin")
            }
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        environment = {
            **os.environ,
            "SHIPLINE_API_KEYRING": str(keyring),
            "SHIPLINE_CONFIG": str(folder / "none.toml"),
            "SHIPLINE_INCREMENTAL_BATCH_WINDOW_SECONDS": "0.02",
            **(env or {}),
        }
        command = [sys.executable, "-m", "shipline.cli", "--database", database, "serve"]
        command += ["--port", str(port), "--log-level", "warning", *args]
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
        scheme = "https" if "--tls-cert" in args else "http"
        url = f"{scheme}://127.0.0.1:{port}"
        verify: ssl.SSLContext | bool = True
        if scheme == "https":
            verify = ssl.create_default_context(cafile=args[args.index("--tls-cert") + 1])

        def up() -> bool:
            assert process.poll() is None, "the server exited"
            try:
                return httpx.get(url + "/healthz", timeout=1, verify=verify).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(up, timeout=30, interval=0.1)
            yield ServedProcess(process, url, port, database, keys)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    """One server for this module: an 8 MB body limit, headers due within 1 s, bodies
    within 2 s."""
    env = {"SHIPLINE_API_HEADER_TIMEOUT_SECONDS": "1", "SHIPLINE_API_BODY_TIMEOUT_SECONDS": "2"}
    with shipline_serve(tmp_path_factory.mktemp("serve"), env=env) as running:
        yield running


def chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    """``total`` bytes of one repeated byte, in chunks (a chunked upload)."""
    block = b"x" * size
    for _ in range(total // size):
        yield block


def test_a_256_mb_chunked_body_without_a_key_is_refused_unread(served: ServedProcess) -> None:
    before = served.rss_mb()
    for path in ("/v1/dead-letters/redrive", "/dashboard/api/explain/recovery", "/v1/events"):
        response = httpx.post(
            served.url + path,
            content=chunks(256 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthenticated"
    assert served.rss_mb() - before < 50  # nothing was held: it was 206 → 738 MB


def test_a_keyed_body_over_the_limit_is_413_on_every_route(served: ServedProcess) -> None:
    for path in ("/v1/dead-letters/redrive", "/dashboard/api/explain/recovery", "/v1/events"):
        response = httpx.post(
            served.url + path,
            content=chunks(64 * 1024 * 1024),
            headers={**served.headers("admin"), "Content-Type": "application/json"},
            timeout=60,
        )
        assert response.status_code == 413, path
        assert "limit" in response.json()["error"]["message"]


def test_a_valid_15_mb_json_body_with_a_wrong_key_is_401_not_parsed(
    served: ServedProcess,
) -> None:
    body = b'{"ids": [' + b",".join(b"1" for _ in range(7_000_000)) + b"]}"
    started = time.perf_counter()
    response = httpx.post(
        served.url + "/v1/dead-letters/purge",
        content=body,
        headers={"Authorization": "Bearer shpl_not_a_key", "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 401
    assert time.perf_counter() - started < 10


def test_urllib_sending_64_mib_reads_the_413(served: ServedProcess) -> None:
    request = urllib.request.Request(
        served.url + "/v1/events",
        data=b"[" + b" " * (64 * 1024 * 1024) + b"]",
        headers={"Content-Type": "application/json", **served.headers("ingest")},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    with refused.value as answer:
        assert answer.code == 413
        assert b"the limit is" in answer.read()


def test_urllib_sending_a_large_body_without_a_key_reads_the_401(served: ServedProcess) -> None:
    request = urllib.request.Request(
        served.url + "/v1/events",
        data=b"[" + b" " * (32 * 1024 * 1024) + b"]",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    with refused.value as answer:
        assert answer.code == 401


def test_slow_headers_are_disconnected_and_others_are_still_served(
    served: ServedProcess,
) -> None:
    slow = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end
        slow.append(sock)
    assert httpx.get(served.url + "/healthz", timeout=5).status_code == 200
    time.sleep(2.5)
    for sock in slow:
        sock.settimeout(2)
        assert sock.recv(1024) == b"", "the server closed the slow connection"
        sock.close()
    assert httpx.get(served.url + "/healthz", timeout=5).status_code == 200


def test_a_body_trickled_past_its_time_is_408(served: ServedProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port))
    key = served.keys["ingest"].key
    sock.sendall(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: 100000\r\n\r\n[".encode()
    )
    started = time.monotonic()
    answer = b""
    sock.settimeout(0.3)
    while time.monotonic() - started < 10 and b"\r\n\r\n" not in answer:
        try:
            sock.sendall(b" ")  # a byte every 0.3 s
            answer += sock.recv(4096)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert 1.5 < time.monotonic() - started < 6


def test_a_keep_alive_connection_serves_several_requests(served: ServedProcess) -> None:
    with httpx.Client(base_url=served.url, headers=served.headers("read"), timeout=5) as client:
        for _ in range(3):
            assert client.get("/v1/status").status_code == 200
            time.sleep(0.5)  # under the 1 s header deadline between requests


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_serves_the_api_over_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    args = ("--tls-cert", str(cert), "--tls-key", str(key))
    with shipline_serve(tmp_path, args=args) as running:
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=running.url, verify=trusted, timeout=10) as client:
            posted = client.post(
                "/v1/events",
                json={
                    "shipment_id": "S1",
                    "event_timestamp": "2026-11-01T10:00:00Z",
                    "event_type": "created",
                },
                headers=running.headers("ingest"),
            )
            assert posted.status_code == 200
            assert posted.json()["accepted"] == 1
            assert posted.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.TransportError):
            httpx.get(running.url.replace("https", "http") + "/healthz", timeout=3)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    with fresh_database("duckdb") as database:
        command = [sys.executable, "-m", "shipline.cli", "--database", database, "serve"]
        done = subprocess.run(
            [*command, "--tls-cert", str(cert)],
            capture_output=True,
            text=True,
            env={**os.environ, "SHIPLINE_CONFIG": str(tmp_path / "none.toml")},
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert "tls_key" in done.stderr
