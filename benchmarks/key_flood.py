"""A genuine client's latency while many connections send made-up API keys.

    python -m benchmarks.key_flood [--connections 200] [--seconds 10] [--before COMMIT]

A real ``shipline serve`` (a subprocess, on loopback, over a fresh DuckDB file) is
asked ``GET /v1/status`` in a loop by one client with a real read key: first
alone, then while ``--connections`` connections send random well-formed keys as
fast as they can. With ``--before COMMIT`` the same is measured on the code of
that commit too (``git archive`` into a temporary folder), so the two are side by
side. Rate limits are turned off in both, to measure the key lookup alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parent.parent / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shipline(src: Path, env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "shipline.cli", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return done.stdout


@contextmanager
def server(src: Path, folder: Path) -> Iterator[tuple[str, str]]:
    """A server on the code in ``src``; yields its URL and a read key."""
    database = str(folder / "shipline.duckdb")
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "SHIPLINE_DATABASE": database,
        "SHIPLINE_API_KEYRING": str(folder / "secret"),
        "SHIPLINE_API_RATE_LIMIT_PER_ADDRESS": "0",
        "SHIPLINE_API_RATE_LIMIT_PER_KEY": "0",
    }
    shipline(src, env, "init")
    key = json.loads(shipline(src, env, "keys", "create", "--scope", "read", "--json"))["key"]
    port = free_port()
    command = [sys.executable, "-m", "shipline.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"], env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield url, key
    finally:
        process.terminate()
        process.wait(30)


def genuine(url: str, key: str, seconds: float) -> list[float]:
    """Latencies (ms) of one client's sequential requests for ``seconds``."""
    latencies = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            started = time.perf_counter()
            answer = client.get("/v1/status")
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
    return latencies


async def flood(url: str, connections: int, stop: threading.Event) -> int:
    """Requests with made-up keys over ``connections`` connections until ``stop``."""
    sent = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one() -> None:
            nonlocal sent
            while not stop.is_set():
                made_up = "shpl_" + secrets.token_urlsafe(32)
                with suppress(httpx.HTTPError):
                    await client.get("/v1/status", headers={"Authorization": f"Bearer {made_up}"})
                sent += 1

        await asyncio.gather(*(one() for _ in range(connections)))
    return sent


def measure(src: Path, connections: int, seconds: float) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="key-flood-") as folder,
        server(src, Path(folder)) as (url, key),
    ):
        genuine(url, key, 1)  # warm up
        idle = genuine(url, key, seconds / 2)
        stop = threading.Event()
        counted: list[int] = []
        flooder = threading.Thread(
            target=lambda: counted.append(asyncio.run(flood(url, connections, stop)))
        )
        flooder.start()
        time.sleep(1)  # let every connection open
        busy = genuine(url, key, seconds)
        stop.set()
        flooder.join()
        return {
            "idle_p50": statistics.median(idle),
            "flood_p50": statistics.median(busy),
            "flood_p95": statistics.quantiles(busy, n=20)[-1],
            "flood_rps": counted[0] / (seconds + 1),
        }


def archived(commit: str, folder: Path) -> Path:
    """The ``src`` folder of ``commit``, unpacked into ``folder``."""
    root = SRC.parent
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--before", help="a commit to measure beside the current code")
    args = parser.parse_args()
    runs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="key-flood-src-") as folder:
        if args.before:
            runs[f"before ({args.before})"] = measure(
                archived(args.before, Path(folder)), args.connections, args.seconds
            )
        runs["now"] = measure(SRC, args.connections, args.seconds)
    print(f"{args.connections} connections of made-up keys; a genuine client's GET /v1/status")
    print(f"{'code':<24} {'alone p50':>10} {'flood p50':>10} {'flood p95':>10} {'flood req/s':>12}")
    for name, row in runs.items():
        print(
            f"{name:<24} {row['idle_p50']:>8.1f}ms {row['flood_p50']:>8.1f}ms"
            f" {row['flood_p95']:>8.1f}ms {row['flood_rps']:>12.0f}"
        )


if __name__ == "__main__":
    main()
