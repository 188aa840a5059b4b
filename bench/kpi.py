"""KPI queries: at size, from report cells, and on the demo store."""

from __future__ import annotations

import http.client
import os
import time
from datetime import timedelta
from typing import Any

import psycopg

from bench.common import Server, log, pct
from bench.fill import bulk_tickets


def kpis_at_size(url: str, events: int, samples: int) -> dict[str, Any]:
    """Grow the store with bulk ticket lifecycles to about `events` events, bring the
    ticket KPI projection up to date (the other projections are left behind: catching
    all of them up over a million events takes far longer than this run; their KPIs
    keep the demo's figures), fill its report cells (projections.kpis.cells) and time one
    refresh of the cells a few new tickets make dirty, then time the KPI queries over
    HTTP on a service started without projection runners, once the cells are fresh."""
    from api.tokens import TokenStore
    from projections import registry
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings
    from store.consumer import ProjectionRunner

    c = bootstrap(
        Settings(database_url=url, pool_size=2, run_projections=False), setup=True
    )  # alone: --only kpi
    head = c.app.recorder.max_notification_id() or 0
    c.close()
    out: dict[str, Any] = {}
    missing = max(0, events - head)
    if missing:
        out["bulk"] = bulk_tickets(
            url, -(-missing // 6), workers=2
        )  # six events a lifecycle, at least `events`
    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=False)
    try:
        out["events_in_store"] = c.app.recorder.max_notification_id() or 0
        t0 = time.perf_counter()
        caught = 0
        for p in registry.all_projections(c.settings.timezone):
            if p.name == "kpi_tickets":
                caught += ProjectionRunner(c.url, c.source, p).run_once()
        s = time.perf_counter() - t0
        out["kpi_catchup"] = {
            "events_applied": caught,
            "seconds": round(s, 1),
            "events_per_second": round(caught / s) if s else None,
        }
        with psycopg.connect(url, autocommit=True) as conn:
            # The statistics a running service has: autovacuum gathers them within a
            # minute of the catch-up, which here took seconds (a rebuild gathers them
            # before it switches readers: store.generations.analyze_generation).
            conn.execute("ANALYZE")
            out["ticket_facts"] = conn.execute(
                "SELECT count(*) FROM qt_read.ticket_facts"
            ).fetchone()[0]  # type: ignore[index]
        out["cells"] = ticket_cells(c)
    finally:
        c.close()
    log(f"KPI store: {out['events_in_store']} events, {out['ticket_facts']} ticket facts")
    log(f"KPI cells: {out['cells']}")
    reporting = TokenStore(url).create("bench.reporting2", "报表", "reporting", [], None)[1]
    port = 19500 + os.getpid() % 400
    server = Server("qualtrace", url, port, "no-projections")
    try:
        out["kpi"] = bench_kpis(
            port, reporting, samples, [q for q in KPI_QUERIES if q.startswith("/kpis/tickets")]
        )
        # shapes no report cell holds: computed live from the facts at every request
        out["kpi_live"] = bench_kpis(port, reporting, samples, LIVE_KPI_QUERIES)
        out["peak_memory_mb"] = server.peak_memory_mb()
    finally:
        server.stop()
    return out


def ticket_cells(c: Any, new_tickets: int = 20) -> dict[str, Any]:
    """Fill the ticket KPI report cells (a fresh service's first refresh), then time one
    refresh of the cells that `new_tickets` tickets received at the store's latest
    reception time make dirty (live traffic), and check the cells are as fresh as the
    fact projection (what the API asks of them without `min_position`)."""
    from domain.base import Actor, Ctx
    from domain.tickets import Ticket
    from projections import registry
    from projections.kpis.cells import refresh
    from qualtrace.demo import _projects
    from store.consumer import ProjectionRunner

    p = registry.by_name("kpi_tickets", c.settings.timezone)
    out: dict[str, Any] = {}
    with psycopg.connect(c.url, autocommit=True) as conn:
        t0 = time.perf_counter()
        first = refresh(conn, p)
        out["initial_fill_seconds"] = round(time.perf_counter() - t0, 2)
        out["initial_cells"] = first["cells"] if first else None
        at = conn.execute("SELECT max(received_at) FROM qt_read.ticket_facts").fetchone()[0]  # type: ignore[index]
    if at is not None:
        # Through the Ticket aggregate as the bulk load does (the demo organisation may be absent).
        desk, sup = (
            Actor("bench.desk", "李娜", "front_desk"),
            Actor("bench.sup", "王强", "supervisor"),
        )
        projects = [q[0] for q in _projects(24)]
        batch = []
        for i, number in enumerate(c.app.service.next_numbers("ticket", new_tickets)):
            t = Ticket.receive(
                Ctx(desk, at, f"bench-cells-{i}"),
                number=number,
                project=projects[i % len(projects)],
                kind="repair",
                channel="phone",
                priority="normal",
                category="水电",
                description="卫生间水管漏水",
                reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
                sla=c.app.tickets.sla_policy,
            )
            t.dispatch(
                Ctx(sup, at + timedelta(minutes=5), f"bench-cells-{i}"), "engineering", "王师傅"
            )
            batch.append(t)
        c.app.save(*batch)
        ProjectionRunner(c.url, c.source, p).run_once()
        with psycopg.connect(c.url, autocommit=True) as conn:
            t0 = time.perf_counter()
            again = refresh(conn, p)
            out["refresh_seconds"] = round(time.perf_counter() - t0, 2)
            out["refresh_cells"] = again["cells"] if again else None
            out["refresh_after"] = (
                f"{new_tickets} tickets received and dispatched at {at:%Y-%m-%d %H:%M} UTC"
            )
    with psycopg.connect(c.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT s.position >= t.position FROM qt_read.ticket_kpi_cell_state s, qt_projection_tracking t"
            " WHERE t.name = 'kpi_tickets' AND t.live"
        ).fetchone()
        out["fresh"] = bool(row and row[0])
        out["total_cells"] = conn.execute(
            "SELECT count(*) FROM qt_read.ticket_kpi_cells"
        ).fetchone()[0]  # type: ignore[index]
    if not out["fresh"]:
        raise RuntimeError("the ticket KPI cells are not fresh: the KPI queries would not use them")
    return out


KPI_QUERIES = [
    "/kpis/tickets?from=2025-01&to=2025-12",
    "/kpis/tickets?from=2025-01&to=2025-12&group_by=project",
    "/kpis/tickets?from=2025-03&to=2025-03&group_by=region",
    "/kpis/inspections?from=2025-01&to=2025-12&group_by=project",
    "/kpis/nonconformances?from=2025-01&to=2025-12&group_by=region",
    "/kpis/surveys?from=2025-01&to=2025-12",
]


#: Ticket KPI requests of shapes the report cells do not hold (a custom range, a dimension
#: of the kind, a dimension filter): answered by the live query over the facts.
LIVE_KPI_QUERIES = [
    "/kpis/tickets?from=2025-02-10&to=2025-08-20&group_by=kind",
    "/kpis/tickets?from=2025-01&to=2025-12&group_by=department,priority",
    "/kpis/tickets?from=2025-03-15&to=2025-04-14&group_by=region&priority=urgent",
]


def bench_kpis(
    port: int, token: str, samples: int, queries: list[str] | None = None
) -> dict[str, Any]:
    queries = queries or KPI_QUERIES
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    per: dict[str, list[float]] = {q: [] for q in queries}
    status: dict[str, int] = {}
    for i in range(samples):
        q = queries[i % len(queries)]
        t0 = time.perf_counter()
        conn.request("GET", q, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        r.read()
        status[q] = r.status
        if r.status == 200:
            per[q].append(time.perf_counter() - t0)
    flat = [x for v in per.values() for x in v]
    return {
        "samples": len(flat),
        "p50_ms": round(pct(flat, 50) * 1000, 2),
        "p99_ms": round(pct(flat, 99) * 1000, 2),
        "by_query": {
            q: {
                "status": status.get(q),
                "p50_ms": round(pct(v, 50) * 1000, 2),
                "p99_ms": round(pct(v, 99) * 1000, 2),
            }
            for q, v in per.items()
        },
    }


# -- the run --------------------------------------------------------------------------------
