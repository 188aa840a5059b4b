"""Catch-up speed of a KPI projection: events/s building a fresh generation from the
event store in batches (one transaction per batch with its tracking position), compared
with one commit per event.

    .venv/bin/python bench/catchup.py --admin-url postgresql://postgres@127.0.0.1:5432/test \
        --tickets 10000 --sample 2000

It creates a scratch database (dropped afterwards), records `--tickets` tickets through
the domain (received → dispatched → accepted → resolved → called back → closed, or
reopened after an unsatisfied callback: six events each, saved 200 tickets per transaction to get there quickly), then measures:

- `batched`: a new, non-live generation of the projection caught up from position 0 with
  `--batch` events per transaction (what `qualtrace projections rebuild` does);
- `per_event`: another generation caught up one event per transaction, for the first
  `--sample` events (the comparison the issue asks for);
- `rebuild`: the whole `rebuild()` (new generation, catch-up, switch, drop), for reference.

`run_catchup()` is the importable entry point (bench/run.py may call it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import bench_container  # noqa: E402
from domain.base import Actor, Ctx  # noqa: E402
from domain.org import Project, Region  # noqa: E402
from domain.tickets import Ticket  # noqa: E402
from projections import registry  # noqa: E402
from store.consumer import process_batch  # noqa: E402
from store.generations import create_generation, rebuild  # noqa: E402
from store.tracking import schema_name  # noqa: E402

DESK = Actor("bench.desk", "Bench Desk", "front_desk")
SUP = Actor("bench.sup", "Bench Supervisor", "supervisor")
STAFF = Actor("bench.staff", "Bench Staff", "staff")
START = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)


def record_tickets(app: Any, tickets: int, per_transaction: int = 200) -> int:
    """Record `tickets` full ticket lifecycles (6 events each) through the domain."""
    t0 = START
    ctx = Ctx(SUP, t0, "bench")
    app.save(
        Region.register(ctx, "SH", "上海"),
        Project.register(ctx, "P1", "绿地花园", "SH", 800),
        Project.register(ctx, "P2", "滨江苑", "SH", 600),
    )
    sla = app.tickets.sla_policy
    done = 0
    while done < tickets:
        batch = []
        for i in range(done, min(tickets, done + per_transaction)):
            at = t0 + timedelta(minutes=7 * i)
            c = lambda who, m, at=at, i=i: Ctx(who, at + timedelta(minutes=m), f"bench-{i}")  # noqa: E731
            t = Ticket.receive(
                c(DESK, 0),
                number=f"TK-2026-{i + 1:06d}",
                project=("P1", "P2")[i % 2],
                kind=("repair", "complaint", "inquiry")[i % 3],
                channel="phone",
                priority=("urgent", "high", "normal", "low")[i % 4],
                category="水电",
                description="漏水",
                reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
                sla=sla,
            )
            t.dispatch(c(SUP, 5 + i % 50), ("engineering", "cleaning", "security")[i % 3], "wang")
            t.accept(c(STAFF, 60))
            t.resolve(c(STAFF, 120 + i % 900), "修好")
            t.callback(c(DESK, 1500), True, i % 7 != 0, 3 + i % 3, None)
            if i % 7 != 0:
                t.close(c(DESK, 1510))
            batch.append(t)
        app.save(*batch)
        done += len(batch)
    return app.recorder.max_notification_id() or 0


def _catch_up(
    c: Any, projection: Any, generation: int, batch: int, limit_events: int | None
) -> tuple[int, float]:
    """Build `generation` (not live) from position 0; return (events, seconds)."""
    with psycopg.connect(c.url, autocommit=True) as conn:
        with conn.transaction():
            create_generation(conn, projection, generation)
            conn.execute(
                "INSERT INTO qt_projection_tracking (name, generation, live) VALUES (%s, %s, false)",
                (projection.name, generation),
            )
        events = 0
        started = time.perf_counter()
        while limit_events is None or events < limit_events:
            n = process_batch(conn, c.source, projection, generation, batch)
            if n == 0:
                break
            events += n
        seconds = time.perf_counter() - started
        with conn.transaction():
            conn.execute(
                "DELETE FROM qt_projection_tracking WHERE name=%s AND generation=%s",
                (projection.name, generation),
            )
            conn.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(
                    sql.Identifier(schema_name(projection, generation))
                )
            )
    return events, seconds


def run_catchup(
    admin_url: str | None = None,
    *,
    tickets: int = 10_000,
    sample: int = 2_000,
    batch: int = 1_000,
    projection: str = "kpi_tickets",
    url: str | None = None,
) -> dict[str, Any]:
    """Measure catch-up speed; returns the figures as a dict (events/s, seconds, sizes).

    Give `admin_url` (a server where a scratch database can be created and dropped) or
    `url` (an existing, empty database to use as is)."""
    with bench_container(admin_url, url) as c:
        t0 = time.perf_counter()
        head = record_tickets(c.app, tickets)
        record_seconds = time.perf_counter() - t0
        p = registry.by_name(projection, c.settings.timezone)
        events, seconds = _catch_up(c, p, 900, batch, None)
        one_events, one_seconds = _catch_up(c, p, 901, 1, sample)
        full = rebuild(c.url, c.source, p, batch, publish_hooks=c.publish_hooks)
        with psycopg.connect(c.url) as conn:
            (facts,) = conn.execute("SELECT count(*) FROM qt_read.ticket_facts").fetchone() or (0,)
        return {
            "projection": projection,
            "events_in_store": head,
            "tickets": tickets,
            "record_seconds": round(record_seconds, 2),
            "batched": {
                "batch": batch,
                "events": events,
                "seconds": round(seconds, 3),
                "events_per_second": round(events / seconds) if seconds else None,
            },
            "per_event": {
                "batch": 1,
                "events": one_events,
                "seconds": round(one_seconds, 3),
                "events_per_second": round(one_events / one_seconds) if one_seconds else None,
            },
            "speedup": round((events / seconds) / (one_events / one_seconds), 1)
            if seconds and one_seconds
            else None,
            "rebuild": {**full, "fact_rows": facts},
            "target_events_per_second": 10_000,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--admin-url",
        help="server URL where a scratch database is created (default: TEST_DATABASE_URL)",
    )
    ap.add_argument("--url", help="use this existing empty database instead of a scratch one")
    ap.add_argument("--tickets", type=int, default=10_000, help="tickets to record (6 events each)")
    ap.add_argument(
        "--sample", type=int, default=2_000, help="events caught up one commit per event"
    )
    ap.add_argument("--batch", type=int, default=1_000, help="events per transaction when batched")
    ap.add_argument("--projection", default="kpi_tickets")
    args = ap.parse_args(argv)
    result = run_catchup(
        args.admin_url,
        tickets=args.tickets,
        sample=args.sample,
        batch=args.batch,
        projection=args.projection,
        url=args.url,
    )
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
