"""Phase 4 for size: bulk ticket lifecycles through the Ticket aggregate, and the catch-up of every projection."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any


def bulk_tickets(url: str, tickets: int, workers: int = 2) -> dict[str, Any]:
    """`tickets` lifecycles through the Ticket aggregate in `workers` processes."""
    import multiprocessing

    t0 = time.perf_counter()
    if workers <= 1:
        _bulk_worker((url, tickets, 7))
    else:
        shares = [
            (url, tickets // workers + (1 if i < tickets % workers else 0), 7 + i)
            for i in range(workers)
        ]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(_bulk_worker, shares)
    s = time.perf_counter() - t0
    return {
        "tickets": tickets,
        "workers": workers,
        "seconds": round(s, 1),
        "tickets_per_second": round(tickets / s),
    }


def _bulk_worker(args: tuple[str, int, int]) -> None:
    url, tickets, seed = args
    _bulk(url, tickets, seed=seed)


def _bulk(url: str, tickets: int, per_transaction: int = 250, seed: int = 7) -> None:
    """Ticket lifecycles through the Ticket aggregate (every domain rule), many per
    transaction: the fast path to a store of a million events."""
    from domain.base import Actor, Ctx
    from domain.tickets import Ticket
    from qualtrace.bootstrap import bootstrap
    from qualtrace.demo import _projects
    from qualtrace.demo_data import YEAR_START
    from qualtrace.settings import Settings

    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=False)
    desk, sup, staff = (
        Actor("bulk.desk", "李娜", "front_desk"),
        Actor("bulk.sup", "王强", "supervisor"),
        Actor("bulk.staff", "张伟", "staff"),
    )
    projects = [p[0] for p in _projects(24)]
    rng = random.Random(seed)
    try:
        done = 0
        while done < tickets:
            n = min(per_transaction, tickets - done)
            numbers = c.app.service.next_numbers("ticket", n)
            batch = []
            for k, number in enumerate(numbers):
                at = YEAR_START + timedelta(minutes=rng.randint(0, 365 * 24 * 60 - 3000))
                corr = f"bulk-{done + k}"
                ctx = lambda who, m, at=at, corr=corr: Ctx(who, at + timedelta(minutes=m), corr)  # noqa: E731
                t = Ticket.receive(
                    ctx(desk, 0),
                    number=number,
                    project=rng.choice(projects),
                    kind=rng.choice(["repair", "repair", "complaint", "inquiry"]),
                    channel="phone",
                    priority=rng.choice(["urgent", "high", "normal", "normal", "low"]),
                    category="水电",
                    description="卫生间水管漏水",
                    # Units as a real estate has them (20 buildings, 30 floors, 4 per floor):
                    # one unit for every ticket would make each complaint a repeat of the
                    # last, and the repeats' recomputation scan the whole project.
                    reporter={"name": "张三", "unit": unit(rng), "phone": "13812345678"},
                    sla=c.app.tickets.sla_policy,
                )
                t.dispatch(ctx(sup, rng.randint(3, 60)), "engineering", "王师傅")
                t.accept(ctx(staff, 90))
                t.resolve(ctx(staff, rng.randint(120, 2000)), "已修复")
                satisfied = rng.random() < 0.9
                t.callback(ctx(desk, 2100), True, satisfied, 5 if satisfied else 2, None)
                if satisfied:
                    t.close(ctx(desk, 2110))
                batch.append(t)
            c.app.save(*batch)
            done += n
    finally:
        c.close()


def unit(rng: random.Random) -> str:
    """A unit number such as `7-1203` (building 7, floor 12, flat 3)."""
    return f"{rng.randint(1, 20)}-{rng.randint(1, 30)}{rng.randint(1, 4):02d}"


def catch_up_all(url: str) -> dict[str, Any]:
    """Every projection from position 0 over the whole store (a fresh service's start)."""
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=False)
    try:
        head = c.app.recorder.max_notification_id() or 0
        t0 = time.perf_counter()
        c.run_projections_once()
        s = time.perf_counter() - t0
        projections = len(c.runners)
    finally:
        c.close()
    return {
        "events_in_store": head,
        "projections": projections,
        "seconds": round(s, 1),
        "store_events_per_second": round(head / s) if s else None,
        "applied_events_per_second": round(head * projections / s) if s else None,
    }


# -- 5. HTTP ---------------------------------------------------------------------------------
