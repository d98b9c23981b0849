"""Ingest benchmark: ``shipline serve`` on loopback, driven by wrk (or httpx clients).

    python -m benchmarks.ingest [--seconds 5] [--repeats 3] [--clients 64] [--processes 4]
                                [--engines duckdb,postgres] [--workers 2] [--driver wrk]

wrk (Debian's ``wrk``) drives the load with ``benchmarks/wrk_events.lua`` where it
is installed; without it, httpx clients in ``--processes`` driver processes do, and
they take most of this 2-core machine from the server they measure (the anchor
below answered 553 requests/s to them, 8,789 to wrk).

Per engine, it starts the server in a child process over a fresh database (a
DuckDB file, or a PostgreSQL schema served by ``--workers`` API processes), then,
per repeat:

* single: ``--clients`` concurrent clients (spread over ``--processes`` driver
  processes) each POST one event per request for ``--seconds``;
* batched: the same with 500-event bodies (``--batch-clients`` clients);
* freshness: while batched load runs, a probe sends one event of a new shipment,
  and polls its timeline until it is visible; accept (HTTP 200) to visible.

It prints, per engine, the median over repeats of: accepted events/s, p50/p99 request latency,
and freshness p50/p99. The same loads are driven, in the same run, against the
anchor: a FastAPI route that does no work (it reads the body and answers a count),
served by the same uvicorn settings, so that the ratio says what shipline's work
costs beside the cost of HTTP and of the drivers, which share the machine.
Targets: >= 50,000 events/s batched, >= 2,000 single requests/s, freshness p99
<= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request

from benchmarks.engines import bench_database
from shipline.pipeline import Pipeline
from shipline.server.http import server_config
from shipline.settings import Settings
from shipline.store.keys import Keyring, create_key

BATCH = 500
DRIVER = "wrk" if shutil.which("wrk") else "httpx"
"""What drives the load (``--driver``): wrk where it is installed (``apt-get install
wrk``), or httpx clients in driver processes."""
TYPES = ("created", "picked_up", "in_transit", "arrived_at_facility", "out_for_delivery")


def _events(prefix: str, start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{i}",
            "shipment_id": f"{prefix}-S{i // 5}",
            "event_timestamp": f"2026-11-{1 + (i // 5) % 28:02d}T{i % 5 * 4:02d}:00:00Z",
            "event_type": TYPES[i % 5],
            "location_id": f"HUB-{i % 50}",
            "carrier": "ACME",
        }
        for i in range(start, start + count)
    ]


async def _drive(
    url: str, key: str, clients: int, per_request: int, seconds: float, prefix: str
) -> tuple[int, list[float], float]:
    """Run ``clients`` request loops; accepted events, latencies and the time taken."""
    latencies: list[float] = []
    accepted = 0
    began = time.perf_counter()
    deadline = began + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60
    ) as client:

        async def loop(worker: int) -> None:
            nonlocal accepted
            sent = 0
            while time.perf_counter() < deadline:
                body = _events(f"{prefix}-{worker}", sent, per_request)
                sent += per_request
                started = time.perf_counter()
                response = await client.post("/v1/events", json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    # an httpx error does not survive the trip back from a driver process
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
                accepted += int(response.json()["accepted"])

        await asyncio.gather(*(loop(worker) for worker in range(clients)))
    return accepted, latencies, time.perf_counter() - began


def _driver(args: tuple[str, str, int, int, float, str]) -> tuple[int, list[float], float]:
    return asyncio.run(_drive(*args))


WRK_SCRIPT = Path(__file__).with_name("wrk_events.lua")


def _load(
    url: str,
    key: str,
    clients: int,
    processes: int,
    per_request: int,
    seconds: float,
    driver: str = DRIVER,
) -> dict[str, float]:
    """Events/s and latency percentiles of ``clients`` concurrent connections, each
    sending ``per_request`` events a request for ``seconds``: driven by wrk where it is
    installed, by httpx in ``processes`` driver processes otherwise."""
    if driver == "wrk":
        return _load_with_wrk(url, key, clients, per_request, seconds)
    processes = max(1, min(processes, clients))
    share = [clients // processes + (i < clients % processes) for i in range(processes)]
    run = uuid.uuid4().hex[:8]
    jobs = [(url, key, n, per_request, seconds, f"{run}-{p}") for p, n in enumerate(share)]
    with mp.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_driver, jobs)
    elapsed = max(r[2] for r in results)
    accepted = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[1])
    return {
        "events_per_s": accepted / elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
    }


def _load_with_wrk(
    url: str, key: str, clients: int, per_request: int, seconds: float
) -> dict[str, float]:
    """The same load from wrk, one thread in C: it takes a fraction of a core where
    Python clients took most of the machine from the server they measure."""
    env = {**os.environ, "KEY": key, "PER_REQUEST": str(per_request), "RUN": uuid.uuid4().hex[:8]}
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "-s", str(WRK_SCRIPT), url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found["failed"]:
        raise RuntimeError(f"{found['failed']} requests failed: {done.stdout}")
    return {
        "events_per_s": found["accepted"] / found["seconds"],
        "requests_per_s": found["requests"] / found["seconds"],
        "p50_ms": found["p50_us"] / 1000,
        "p99_ms": found["p99_us"] / 1000,
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _freshness(url: str, key: str, samples: int) -> list[float]:
    """Accept-to-visible times of single events of new shipments."""
    found = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(samples):
            shipment = "F-" + uuid.uuid4().hex[:12]
            event = {
                "shipment_id": shipment,
                "event_timestamp": "2026-11-20T10:00:00Z",
                "event_type": "created",
            }
            client.post("/v1/events", json=event).raise_for_status()
            accepted = time.perf_counter()
            while client.get(f"/v1/shipments/{shipment}/timeline").status_code != 200:
                time.sleep(0.005)
                if time.perf_counter() - accepted > 30:
                    raise RuntimeError("an event did not become visible within 30 s")
            found.append(time.perf_counter() - accepted)
            time.sleep(0.05)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_anchor(port: int) -> None:
    """The anchor: one FastAPI route that does no work, under ``shipline serve``'s
    uvicorn settings (``python -c "from benchmarks.ingest import serve_anchor; ..."``)."""
    app = FastAPI()

    @app.post("/v1/events")
    async def events(request: Request) -> dict[str, int]:
        body = await request.body()
        return {"accepted": body.count(b'"event_id"')}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    config = server_config(app, Settings(), host="127.0.0.1", port=port, log_level="warning")
    uvicorn.Server(config).run()


def _start_anchor(port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        f"from benchmarks.ingest import serve_anchor; serve_anchor({port})",
    ]
    return _started(subprocess.Popen(command), port)


def _start_server(database: str, folder: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from shipline.cli.main import main; main()",
        "--database",
        database,
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    env = {
        **os.environ,
        "SHIPLINE_CONFIG": str(folder / "none.toml"),
        "SHIPLINE_API_KEYRING": str(folder / "bench.keyring"),
    }
    return _started(subprocess.Popen(command, env=env), port)


def _started(process: subprocess.Popen[bytes], port: int) -> subprocess.Popen[bytes]:
    """``process`` once it answers ``/healthz`` on ``port``."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.1)


def main() -> None:
    """Run the benchmark and print a table of medians per engine."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--batch-clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--freshness-samples", type=int, default=40)
    parser.add_argument("--engines", default="duckdb")
    parser.add_argument("--driver", choices=["wrk", "httpx"], default=DRIVER)
    parser.add_argument(
        "--workers", type=int, default=2, help="API processes on PostgreSQL (DuckDB runs one)"
    )
    options = parser.parse_args()
    for engine in options.engines.split(","):
        with tempfile.TemporaryDirectory(prefix="shipline-bench-") as name:
            folder = Path(name)
            with bench_database(engine, folder, "ingest") as database:
                _report(engine, _measure(database, folder, engine, options), options)


def _measure(
    database: str, folder: Path, engine: str, options: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    """Serve ``database`` and run the repeats against it."""
    keyring = Keyring(folder / "bench.keyring")
    with Pipeline(Settings(database=database)) as pipeline:
        key = create_key(pipeline.backend, keyring, "admin").key
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    workers = 1 if engine == "duckdb" else options.workers
    server = _start_server(database, folder, port, workers)
    rows: dict[str, list[dict[str, float]]] = {
        "single": [],
        "batched": [],
        "fresh": [],
        "anchor_single": [],
        "anchor_batched": [],
    }

    def load(target: str, clients: int, processes: int, per_request: int) -> dict[str, float]:
        return _load(target, key, clients, processes, per_request, options.seconds, options.driver)

    try:
        for _ in range(options.repeats):
            rows["single"].append(load(url, options.clients, options.processes, 1))
            with ThreadPoolExecutor(1) as pool:
                background = pool.submit(load, url, options.batch_clients, 1, BATCH)
                fresh = _freshness(url, key, options.freshness_samples)
                rows["batched"].append(background.result())
            rows["fresh"].append(
                {"p50_ms": _percentile(fresh, 50) * 1000, "p99_ms": _percentile(fresh, 99) * 1000}
            )
    finally:
        server.terminate()
        server.wait(60)
    anchor_port = _free_port()
    anchor_url = f"http://127.0.0.1:{anchor_port}"
    anchor = _start_anchor(anchor_port)
    try:
        for _ in range(options.repeats):
            rows["anchor_single"].append(load(anchor_url, options.clients, options.processes, 1))
            rows["anchor_batched"].append(load(anchor_url, options.batch_clients, 1, BATCH))
    finally:
        anchor.terminate()
        anchor.wait(60)
    return rows


def _report(
    engine: str, rows: dict[str, list[dict[str, float]]], options: argparse.Namespace
) -> None:
    def median(kind: str, name: str) -> float:
        return statistics.median(row[name] for row in rows[kind])

    workers = 1 if engine == "duckdb" else options.workers
    print(
        f"shipline ingest benchmark on {engine} ({workers} API process(es)), driven by"
        f" {options.driver}: {options.repeats} repeats of {options.seconds:g} s; medians"
    )
    print(
        f"{'workload':<28}{'events/s':>12}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'anchor req/s':>14}{'of anchor':>11}"
    )
    for label, kind in (
        (f"single event, {options.clients} clients", "single"),
        (f"{BATCH}-event batches, {options.batch_clients} cl.", "batched"),
    ):
        anchor = median(f"anchor_{kind}", "requests_per_s")
        print(
            f"{label:<28}{median(kind, 'events_per_s'):>12,.0f}"
            f"{median(kind, 'requests_per_s'):>12,.0f}"
            f"{median(kind, 'p50_ms'):>10.1f}{median(kind, 'p99_ms'):>10.1f}"
            f"{anchor:>14,.0f}{median(kind, 'requests_per_s') / anchor:>11.0%}"
        )
    print(
        f"{'freshness (accept->visible)':<28}{'':>12}{'':>12}"
        f"{median('fresh', 'p50_ms'):>10.1f}{median('fresh', 'p99_ms'):>10.1f}"
    )
    print(
        "targets: >= 50,000 events/s batched; >= 2,000 single requests/s; freshness p99 <= 1,000 ms"
    )
    print()


if __name__ == "__main__":
    main()
