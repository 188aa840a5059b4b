"""Shared helpers of the benchmark phases: paths, targets, percentiles, the log line."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


STATE = json.dumps(
    {
        "actor": {"id": "bench", "name": "Bench", "role": "front_desk"},
        "correlation_id": "bench",
        "causation_id": None,
        "reason": None,
        "description": "卫生间水管漏水，楼下天花板渗水",
        "timestamp": "2026-01-05T01:00:00+00:00",
    }
).encode()


def with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- 1. appends ------------------------------------------------------------------------


class Server:
    def __init__(self, target: str, url: str, port: int, *extra: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", target, str(port), url, *extra], cwd=ROOT, env=env
        )
        self.port = port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz" if target == "qualtrace" else "/docs")
                c.getresponse().read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{target} server exited") from None
                time.sleep(0.2)
        raise RuntimeError(f"{target} server did not start")

    def peak_memory_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
