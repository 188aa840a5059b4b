"""The store-wide chain under lock-free appends: writers commit out of id order, the ledger
seals in commit-safe order, and verify never mistakes an event still on its way to the
ledger for a forged one, yet still catches a row slipped in behind the ledger."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import psycopg

from application.base import Call
from application.security import Principal
from domain.base import Actor, Ctx
from domain.org import Project, Region
from domain.tickets import Ticket
from store.consumer import process_batch

TABLE = "qualtrace_events"
DESK = Actor("li.na", "Li Na", "front_desk")
ADMIN = Principal("admin", "Admin", "admin")
SUP = Principal("zhao", "Zhao Lei", "supervisor")


def ticket(app: Any, clock: Any, n: int) -> Ticket:
    return Ticket.receive(
        Ctx(DESK, clock(), f"conc-{n}"),
        number=f"TK-2026-{n:06d}",
        project="P1",
        kind="repair",
        channel="phone",
        priority="normal",
        category="维修",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        sla=app.tickets.sla_policy,
    )


def ledger(container: Any) -> Any:
    return next(r for r in container.runners if r.projection.name == "ledger")


def seal_what_is_visible(container: Any) -> None:
    """Run the ledger's batches until it has nothing more below the horizon (no waiting)."""
    runner = ledger(container)
    with psycopg.connect(container.url, autocommit=True) as conn:
        while process_batch(conn, container.source, runner.projection, None, 1000):
            pass


def test_an_event_committed_out_of_id_order_is_pending_not_broken(
    container: Any, clock: Any
) -> None:
    app = container.app
    ctx = Ctx(DESK, clock(), "setup")
    app.save(Region.register(ctx, "SH", "上海"), Project.register(ctx, "P1", "绿地花园", "SH", 800))
    app.save(ticket(app, clock, 1))
    container.run_projections_once()
    with psycopg.connect(container.url) as conn:
        topic, state = conn.execute(
            f"SELECT topic, state FROM {TABLE} WHERE originator_version = 1"
            " AND topic LIKE '%%Ticket.Received'"
        ).fetchone() or (None, None)
    assert topic is not None

    # A: takes its transaction id first, appends later (as the recorder does, minus the pause).
    a = psycopg.connect(container.url)
    a.execute("SELECT pg_current_xact_id()")
    # B: takes a later transaction id, draws a smaller notification id, and waits to commit.
    drawn, release = threading.Event(), threading.Event()

    def hold(cur: Any, ids: Any) -> None:
        drawn.set()
        assert release.wait(30)

    b = threading.Thread(target=lambda: app.save(ticket(app, clock, 2), after_insert=hold))
    b.start()
    try:
        assert drawn.wait(30)
        a.execute(
            f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
            (uuid.uuid4(), topic, state),
        )
        a.commit()  # A's larger id commits while B's smaller one is still running
        seal_what_is_visible(container)  # the ledger seals A (B's xid is the horizon)
    finally:
        release.set()
        b.join(30)
        a.close()
    with psycopg.connect(container.url) as conn:
        b_pos, a_pos = (
            r[0]
            for r in conn.execute(
                f"SELECT notification_id FROM {TABLE} ORDER BY notification_id DESC LIMIT 2"
            ).fetchall()[::-1]
        )
        sealed = {r[0] for r in conn.execute("SELECT position FROM qt_read.ledger").fetchall()}
    assert a_pos in sealed and b_pos not in sealed and b_pos < a_pos
    # B is committed, below the largest sealed id, not yet sealed: on its way, not a break.
    result = app.audit.verify_integrity()
    assert result.ok, result.as_dict()
    assert result.unsealed == 1
    # Once the ledger catches up, everything is sealed, B after A, and the chain holds.
    seal_what_is_visible(container)
    result = app.audit.verify_integrity()
    assert result.ok and result.unsealed == 0 and result.sealed == result.events
    with psycopg.connect(container.url) as conn:
        order = [
            r[0]
            for r in conn.execute("SELECT position FROM qt_read.ledger ORDER BY seq DESC LIMIT 2")
        ]
    assert order == [b_pos, a_pos]


def test_concurrent_writers_with_the_ledger_following_leave_a_chain_that_verifies(
    container: Any,
) -> None:
    app = container.app
    app.org.register_region(Call(principal=ADMIN, correlation_id="c"), "SH", "上海")
    app.org.register_project(Call(principal=ADMIN, correlation_id="c"), "P1", "绿地花园", "SH")
    errors: list[BaseException] = []
    checks: list[Any] = []

    def writer(w: int) -> None:
        try:
            desk = Principal(f"desk{w}", f"Desk {w}", "front_desk")
            for i in range(6):
                t = app.tickets.receive(
                    Call(principal=desk, correlation_id=f"w{w}-{i}"),
                    project="P1",
                    kind="repair",
                    channel="phone",
                    priority="normal",
                    category="维修",
                    description=f"漏水 {w}-{i}",
                    reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
                )
                app.tickets.dispatch(
                    Call(principal=SUP, correlation_id=f"w{w}-{i}"), t.id, "engineering", "wang.wei"
                )
        except BaseException as e:  # surfaced below
            errors.append(e)

    container.start_projections()
    try:
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        # Verify while the writers and the ledger run: events in flight are never breaks.
        while any(t.is_alive() for t in threads):
            checks.append(app.audit.verify_integrity())
        for t in threads:
            t.join()
    finally:
        container.stop_projections()
    assert not errors, errors
    assert checks and all(c.ok for c in checks), [
        c.as_dict()["first_broken_link"] for c in checks if not c.ok
    ]
    # (A stopped runner's run_once does nothing: seal with the ledger's batches directly.)
    seal_what_is_visible(container)
    final = app.audit.verify_integrity()
    assert final.ok, final.as_dict()
    assert final.unsealed == 0 and final.sealed == final.events >= 4 * 6 * 2


def test_a_hashed_row_slipped_behind_the_ledger_is_caught_before_and_after_the_ledger_seals_it(
    container: Any, clock: Any
) -> None:
    app = container.app
    ctx = Ctx(DESK, clock(), "setup")
    app.save(Region.register(ctx, "SH", "上海"), Project.register(ctx, "P1", "绿地花园", "SH", 800))
    with psycopg.connect(container.url, autocommit=True) as conn:
        gap = conn.execute(
            f"SELECT nextval(pg_get_serial_sequence('{TABLE}', 'notification_id'))"
        ).fetchone()
    assert gap is not None
    t = ticket(app, clock, 1)
    t.add_note(Ctx(DESK, clock() + timedelta(minutes=1), "n"), "later")
    app.save(t)
    container.run_projections_once()
    assert app.audit.verify_integrity().ok
    with psycopg.connect(container.url) as conn:
        topic, state = conn.execute(
            f"SELECT topic, state FROM {TABLE} WHERE originator_id = %s AND originator_version = 1",
            (t.id,),
        ).fetchone() or (None, None)
    # Inserted in a free id the ledger has long passed; the hashing trigger stamps it by the book.
    forged = uuid.uuid4()
    with psycopg.connect(container.url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state, notification_id)"
            " VALUES (%s, 1, %s, %s, %s)",
            (forged, topic, state, gap[0]),
        )
    broken = app.audit.verify_integrity().as_dict()["first_broken_link"]
    assert (
        broken is not None and broken["check"] == "ledger_unsealed" and broken["position"] == gap[0]
    )
    # The ledger, following the store, seals it as it comes: sealed late, and named.
    seal_what_is_visible(container)
    broken = app.audit.verify_integrity().as_dict()["first_broken_link"]
    assert (
        broken is not None
        and broken["check"] == "ledger_late"
        and broken["issue_id"] == str(forged)
    )
