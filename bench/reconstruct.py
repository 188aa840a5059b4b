"""Reconstruction speed: rebuilding one issue with 1,000 events, as `GET /audit/{id}/as-of`
and every command do, with the application's snapshots and without them.

    .venv/bin/python bench/reconstruct.py --admin-url postgresql://postgres@127.0.0.1:5432/test \
        --events 1000 --samples 200

It creates a scratch database (dropped afterwards), records one ticket with `--events`
events (received, then notes) through the domain, then times, `--samples` times each:

- `latest`: the current state (`repository.get`, snapshot every 50 versions + the rest);
- `as_of_version`: the state at a random version (`AuditQueries.issue_as_of(version=…)`);
- `as_of_time`: the state at a random moment (`issue_as_of(at=…)`: finds the version by
  time in SQL, then as above);
- `version_at_lookup`: only the SQL that finds the version for a moment;
- `no_snapshots`: the current state replayed from all events, for comparison.

p50/p99 are reported in milliseconds. `run_reconstruct()` is the importable entry point
(bench/run.py may call it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Repository  # noqa: E402

from bench.scratch import bench_container  # noqa: E402
from domain.base import Actor, Ctx  # noqa: E402
from domain.org import Project, Region  # noqa: E402
from domain.tickets import Ticket  # noqa: E402

DESK = Actor("bench.desk", "Bench Desk", "front_desk")
START = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)


def record_long_ticket(app: Any, events: int, per_save: int = 100) -> Ticket:
    """One ticket with `events` events, saved `per_save` events at a time (so snapshots
    are taken as they would be in service)."""
    ctx = Ctx(DESK, START, "bench-reconstruct")
    app.save(Region.register(ctx, "SH", "上海"), Project.register(ctx, "P1", "绿地花园", "SH", 800))
    t = Ticket.receive(
        ctx,
        number="TK-2026-000001",
        project="P1",
        kind="complaint",
        channel="phone",
        priority="normal",
        category="噪音",
        description="楼上装修噪音",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        sla=app.tickets.sla_policy,
    )
    while t.version < events:
        for _ in range(min(per_save, events - t.version)):
            t.add_note(
                Ctx(DESK, START + timedelta(minutes=t.version), "bench-reconstruct"),
                f"follow-up {t.version}",
            )
        app.save(t)
    return t


def _timed(fn: Callable[[], Any], samples: int) -> dict[str, float]:
    fn()  # warm up (prepared statements, pool)
    ms = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        "max_ms": round(ms[-1], 3),
    }


def run_reconstruct(
    admin_url: str | None = None,
    *,
    events: int = 1000,
    samples: int = 200,
    url: str | None = None,
    seed: int = 6,
) -> dict[str, Any]:
    """Measure reconstruction of one issue with `events` events; returns the figures.

    Give `admin_url` (a server where a scratch database can be created and dropped) or
    `url` (an existing, empty database to use as is)."""
    with bench_container(admin_url, url) as c:
        app = c.app
        t = record_long_ticket(app, events)
        rng = random.Random(seed)
        plain = Repository(app.events)  # no snapshot store: replays every event
        snapshots = len(list(app.snapshots.get(t.id))) if app.snapshots is not None else 0
        assert app.repository.get(t.id).version == events
        return {
            "events": events,
            "snapshots": snapshots,
            "samples": samples,
            "latest": _timed(lambda: app.repository.get(t.id), samples),
            "as_of_version": _timed(
                lambda: app.audit.issue_as_of(t.id, version=rng.randint(1, events)), samples
            ),
            "as_of_time": _timed(
                lambda: app.audit.issue_as_of(
                    t.id, at=START + timedelta(minutes=rng.randint(0, events - 1), seconds=30)
                ),
                samples,
            ),
            "version_at_lookup": _timed(
                lambda: app.audit.version_at(
                    t.id, START + timedelta(minutes=rng.randint(0, events - 1), seconds=30)
                ),
                samples,
            ),
            "no_snapshots": _timed(lambda: plain.get(t.id), max(10, samples // 4)),
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--admin-url",
        help="server URL where a scratch database is created (default: TEST_DATABASE_URL)",
    )
    ap.add_argument("--url", help="use this existing empty database instead of a scratch one")
    ap.add_argument("--events", type=int, default=1000, help="events of the one issue")
    ap.add_argument("--samples", type=int, default=200, help="timed reconstructions per measure")
    args = ap.parse_args(argv)
    result = run_reconstruct(args.admin_url, events=args.events, samples=args.samples, url=args.url)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
