"""Phase 5: HTTP `POST /tickets` against `qualtrace serve` and bench/crud_app.py, same uvicorn settings."""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.appends import run_for
from bench.common import Server, log, pct
from bench.kpi import bench_kpis


def ticket_body(rng: random.Random, projects: list[str]) -> bytes:
    return json.dumps(
        {
            "project": rng.choice(projects),
            "kind": "repair",
            "channel": "phone",
            "priority": "normal",
            "category": "水电",
            "description": "卫生间水管漏水，楼下天花板渗水",
            "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
        },
        ensure_ascii=False,
    ).encode()


def load(
    port: int,
    clients: int,
    seconds: float,
    request: Callable[[random.Random], tuple[str, str, bytes | None]],
    headers: dict[str, str],
    expect: int,
) -> dict[str, Any]:
    """`clients` keep-alive connections, each sending the next request as soon as the last
    answer came, for `seconds`; throughput and latency percentiles of good answers."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    bad = [0] * clients

    def work(i: int, ready: Callable[[], object], stop: threading.Event) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ready()
        while not stop.is_set():
            method, path, body = request(rng)
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status == expect:
                latencies[i].append(time.perf_counter() - t0)
            else:
                bad[i] += 1
        conn.close()

    elapsed = run_for(clients, seconds, work)
    flat = [x for lst in latencies for x in lst]
    return {
        "clients": clients,
        "requests": len(flat),
        "errors": sum(bad),
        "per_second": round(len(flat) / elapsed, 1),
        "p50_ms": round(pct(flat, 50) * 1000, 2),
        "p99_ms": round(pct(flat, 99) * 1000, 2),
    }


def bench_http(url: str, levels: list[int], seconds: float, kpi_samples: int) -> dict[str, Any]:
    from api.tokens import TokenStore
    from qualtrace.demo import _projects

    projects = [p[0] for p in _projects(24)]
    desk = TokenStore(url).create("bench.desk", "李娜", "front_desk", [], None)[1]
    reporting = TokenStore(url).create("bench.reporting", "报表", "reporting", [], None)[1]
    out: dict[str, Any] = {"qualtrace": [], "qualtrace_api_only": [], "crud": []}
    port = 18000 + os.getpid() % 1000
    for variant in ("qualtrace", "qualtrace_api_only", "crud"):
        target = "crud" if variant == "crud" else "qualtrace"
        server = Server(
            target, url, port, *(["no-projections"] if variant == "qualtrace_api_only" else [])
        )
        try:
            headers = {"Content-Type": "application/json"}
            if target == "qualtrace":
                headers["Authorization"] = f"Bearer {desk}"
            load(
                port,
                4,
                1.0,
                lambda rng: ("POST", "/tickets", ticket_body(rng, projects)),
                headers,
                201,
            )  # warm-up
            for clients in levels:
                res = load(
                    port,
                    clients,
                    seconds,
                    lambda rng: ("POST", "/tickets", ticket_body(rng, projects)),
                    headers,
                    201,
                )
                out[variant].append(res)
                log(
                    f"http {variant} x{clients}: {res['per_second']}/s p50 {res['p50_ms']} p99 {res['p99_ms']} errors {res['errors']}"
                )
            if variant == "qualtrace":
                out["kpi_demo_store"] = bench_kpis(port, reporting, kpi_samples)
            out[f"{variant}_peak_memory_mb"] = server.peak_memory_mb()
        finally:
            server.stop()
            port += 1
    return out
