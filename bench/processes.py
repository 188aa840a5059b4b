"""Processes benchmark: the cost of raising nonconformances from a trigger, inline and by
the tracked follower after a crash, and of a deadline watcher pass.

    .venv/bin/python -m bench.processes [--admin-url URL] [--n 200]

On a scratch database (dropped at the end), through the application (no HTTP):
1. `submit_inspection` with two failed items (trigger + inline process) vs none, p50/p99;
2. the follower completing `n` submissions whose inline run was "killed": triggers/s;
3. a deadline watcher pass over `n` overdue nonconformances, and the next pass (nothing to do).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.base import Call
from application.security import Principal
from qualtrace.processes import ProcessFollower
from qualtrace.settings import Settings

ADMIN = Principal("admin-1", "Admin", "admin")
QM = Principal("qm-1", "Zhou Min", "quality_manager")
INSPECTOR = Principal("insp-1", "Chen Jie", "inspector")
SECTIONS = [
    {
        "code": f"S{s}",
        "name": f"Section {s}",
        "items": [
            {
                "code": f"S{s}-{i:02d}",
                "requirement": "requirement",
                "max_points": 10,
                "critical": i == 1,
            }
            for i in range(1, 6)
        ],
    }
    for s in range(1, 3)
]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def call(p: Principal) -> Call:
    return Call(principal=p, correlation_id=str(uuid.uuid4()))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def ready_inspection(app: Any, template: str, fails: int) -> str:
    ins = app.inspections.schedule(
        call(INSPECTOR),
        project="P1",
        kind="regional_monthly",
        template_id=template,
        planned_for="2026-03-05",
        inspectors=["Chen Jie"],
    )
    app.inspections.start(call(INSPECTOR), ins.number)
    for n, it in enumerate(it for s in SECTIONS for it in s["items"]):
        if n < fails:
            app.inspections.score_item(
                call(INSPECTOR), ins.number, it["code"], 3, "fail", "finding"
            )
        else:
            app.inspections.score_item(call(INSPECTOR), ins.number, it["code"], 10, "pass")
    return str(ins.number)


def timed_submits(app: Any, refs: list[str]) -> list[float]:
    out = []
    for ref in refs:
        t = time.perf_counter()
        app.inspections.submit(call(INSPECTOR), ref)
        out.append((time.perf_counter() - t) * 1000)
    return out


def run(admin_url: str, n: int) -> dict[str, Any]:
    from qualtrace.bootstrap import bootstrap

    name = f"qt_bench_proc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    url = make_conninfo(**params)
    clock = Clock()
    c = bootstrap(Settings(database_url=url, pool_size=4), clock=clock, setup=True)
    results: dict[str, Any] = {"n": n}
    try:
        app = c.app
        app.org.register_region(call(ADMIN), "SH", "上海")
        app.org.register_project(call(ADMIN), "P1", "一号项目", "SH", 500)
        t = app.templates.draft(call(QM), "bench", SECTIONS)
        app.templates.publish(call(QM), t.number)

        clean = timed_submits(app, [ready_inspection(app, t.id, 0) for _ in range(n)])
        two = timed_submits(app, [ready_inspection(app, t.id, 2) for _ in range(n)])
        results["submit_no_failed_items_ms"] = {
            "p50": round(pct(clean, 50), 2),
            "p99": round(pct(clean, 99), 2),
        }
        results["submit_two_failed_items_ms"] = {
            "p50": round(pct(two, 50), 2),
            "p99": round(pct(two, 99), 2),
        }

        c.run_projections_once()
        refs = [ready_inspection(app, t.id, 2) for _ in range(n)]

        def killed(*_: Any) -> Any:
            raise RuntimeError("killed")

        app.processes._complete = killed
        timed_submits(app, refs)
        del app.processes._complete
        follower = next(r for r in c.runners if isinstance(r.projection, ProcessFollower))
        t0 = time.perf_counter()
        follower.run_once()
        seconds = time.perf_counter() - t0
        results["follower_recovery"] = {
            "triggers": n,
            "events_recorded": follower.projection.completed,
            "seconds": round(seconds, 3),
            "triggers_per_s": round(n / seconds, 1),
        }

        for _ in range(n):
            nc = app.nonconformances.raise_(
                call(INSPECTOR),
                project="P1",
                source={"type": "self_report"},
                severity="minor",
                description="bench",
            )
            app.nonconformances.notice(call(QM), nc.number, "security", "Wang Qiang", None)
        c.run_projections_once()
        clock.now += timedelta(days=8)
        t0 = time.perf_counter()
        report = c.deadline_watcher.run_once()
        first = time.perf_counter() - t0
        c.run_projections_once()
        t0 = time.perf_counter()
        again = c.deadline_watcher.run_once()
        second = time.perf_counter() - t0
        results["deadline_watcher"] = {
            "overdue_recorded": report.overdue,
            "first_pass_s": round(first, 3),
            "per_nc_ms": round(first / max(report.overdue, 1) * 1000, 2),
            "second_pass_recorded": again.overdue,
            "second_pass_s": round(second, 3),
        }
    finally:
        c.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--n", type=int, default=200)
    args = p.parse_args()
    for key, value in run(args.admin_url, args.n).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
