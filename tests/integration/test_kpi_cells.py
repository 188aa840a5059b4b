"""KPI report cells (projections.kpis.cells): every cell equals the live query for its
level and period, through random histories refreshed incrementally; the API serves a
cell only when the request is exactly one, for the caller's scope, fresh enough for
`min_position`; otherwise (and after a rebuild) it answers live."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Json

from application.errors import ApplicationError
from domain.errors import DomainError
from projections import registry
from projections.kpis.cells import LEVELS, anchor_columns, periods, render
from projections.kpis.facts import FactProjection
from projections.kpis.query import kpi_query, plain
from tests.integration.test_kpi_rebuild import (
    ADMIN,
    DESK,
    KPI_NAMES,
    STAFF,
    SUP,
    mixed_history,
    ticket,
)

START = datetime(2025, 11, 20, 2, 0, tzinfo=timezone.utc)


def live_rows(
    conn: psycopg.Connection[Any], spec: Any, dims: tuple[str, ...], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(kpi_query(spec, list(dims), start=start, end=end))
        return [{k: plain(v) for k, v in r.items()} for r in cur.fetchall()]


def check_cells(c: Any, names: list[str]) -> int:
    """Every cell of every KPI projection equals the live query; the cells cover every
    period from the first to the last anchor time. Returns how many cells were checked."""
    checked = 0
    with psycopg.connect(c.url, autocommit=True) as conn:
        for name in names:
            p = registry.by_name(name)
            assert isinstance(p, FactProjection) and p.SPEC is not None
            spec = p.SPEC
            cells_view, state_view = f"{spec.prefix}_kpi_cells", f"{spec.prefix}_kpi_cell_state"
            state = conn.execute(f"SELECT position, lo, hi FROM qt_read.{state_view}").fetchone()
            assert state is not None, f"{name}: cells never filled"
            cells = {
                (r[0], r[1], r[2]): (r[3], r[4])
                for r in conn.execute(
                    f"SELECT level, unit, period_start, rows, body FROM qt_read.{cells_view}"
                ).fetchall()
            }
            values = []
            for table, anchors in anchor_columns(spec).items():
                lo_hi = conn.execute(
                    "SELECT "
                    + ", ".join(f"min({a}), max({a})" for a in anchors)
                    + f" FROM qt_read.{table}"
                ).fetchone()
                assert lo_hi is not None
                values += [v for v in lo_hi if v is not None]
            if values:
                for unit, start, _ in periods(min(values), max(values)):
                    for level in LEVELS:
                        assert (level, unit, start) in cells, (
                            f"{name}: no cell {level} {unit} {start}"
                        )
            for (level, unit, start), (rows, body) in cells.items():
                end = next(e for u, s, e in periods(start, start) if u == unit and s == start)
                live = live_rows(conn, spec, LEVELS[level], start, end)
                assert rows == live and body == render(live), f"{name} {level} {unit} {start}"
                checked += 1
    return checked


def random_history(
    c: Any, clock: Any, rng: random.Random, rounds: int = 3, per_round: int = 14
) -> None:
    """Tickets over several months, moved on at random (also long after they came in:
    closing, reopening, cancelling, escalating old tickets), projections and cells
    brought up to date after each round, every cell checked against the live query."""
    app = c.app
    app.org.register_region(ADMIN, "SH", "上海")
    app.org.register_region(ADMIN, "BJ", "北京")
    for code, region in (("P1", "SH"), ("P2", "SH"), ("P3", "BJ")):
        app.org.register_project(ADMIN, code, f"项目{code}", region, 500)
    clock.now = START
    clock.auto_tick = timedelta(0)
    numbers: list[str] = []
    for _ in range(rounds):
        for _ in range(per_round):
            clock.advance(hours=rng.randint(1, 60))
            numbers.append(
                ticket(
                    app,
                    rng.choice(["P1", "P2", "P3"]),
                    rng.choice(["urgent", "high", "normal", "low"]),
                    rng.choice(["repair", "complaint", "inquiry"]),
                )
            )
            for _ in range(rng.randint(0, 4)):
                t = rng.choice(numbers)
                clock.advance(minutes=rng.randint(1, 3000))
                step = rng.choice(
                    [
                        "dispatch",
                        "accept",
                        "resolve",
                        "callback",
                        "close",
                        "reopen",
                        "cancel",
                        "escalate",
                    ]
                )
                try:
                    if step == "dispatch":
                        app.tickets.dispatch(
                            SUP, t, rng.choice(["engineering", "customer_service"]), "wang"
                        )
                    elif step == "accept":
                        app.tickets.accept(STAFF, t)
                    elif step == "resolve":
                        app.tickets.resolve(STAFF, t, "修好")
                    elif step == "callback":
                        ok = rng.random() < 0.7
                        app.tickets.callback(DESK, t, True, ok, 5 if ok else 2, None)
                    elif step == "close":
                        app.tickets.close(DESK, t, None)
                    elif step == "reopen":
                        app.tickets.reopen(SUP, t, "仍漏水")
                    elif step == "cancel":
                        app.tickets.cancel(DESK, t, "重复")
                    else:
                        app.tickets.escalate(SUP, t, "反复", "major")
                except (ApplicationError, DomainError):
                    pass  # a step the ticket's state does not allow
            if rng.random() < 0.3:
                c.run_projections_once()  # uneven batches
        c.run_projections_once()
        c.refresher.refresh_once()
        assert check_cells(c, ["kpi_tickets"]) > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_cell_equals_the_live_query_through_random_incremental_histories(
    container: Any, clock: Any, seed: int
) -> None:
    random_history(container, clock, random.Random(seed))


def test_cells_of_every_kpi_kind_equal_the_live_query_and_a_rebuild_starts_them_afresh(
    container: Any, clock: Any
) -> None:
    mixed_history(container, clock)
    container.refresher.refresh_once()
    assert check_cells(container, KPI_NAMES) >= 4 * 9
    container.rebuild("kpi_tickets")
    with psycopg.connect(container.url) as conn:
        # The new generation has no cells until the refresher fills them: nothing old is served.
        assert conn.execute("SELECT count(*) FROM qt_read.ticket_kpi_cells").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM qt_read.ticket_kpi_cell_state").fetchone() == (0,)
    container.refresher.refresh_once()
    assert check_cells(container, KPI_NAMES) >= 4 * 9


# -- HTTP ---------------------------------------------------------------------------------
@pytest.fixture
def quiet_api(container: Any) -> Iterator[Any]:
    """The API over a container without background threads: projections and cells move
    only when the test says so."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.conftest import Api

    with TestClient(create_app(container)) as client:
        yield Api(client, container)


def march(c: Any, clock: Any) -> int:
    app = c.app
    app.org.register_region(ADMIN, "SH", "上海")
    app.org.register_region(ADMIN, "BJ", "北京")
    for code, region in (("P1", "SH"), ("P2", "SH"), ("P3", "BJ")):
        app.org.register_project(ADMIN, code, f"项目{code}", region, 500)
    clock.now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
    for i in range(9):
        clock.advance(hours=5)
        t = ticket(app, ("P1", "P2", "P3")[i % 3], ("urgent", "normal")[i % 2])
        clock.advance(minutes=10 + 7 * i)
        app.tickets.dispatch(SUP, t, "engineering", "wang")
        if i % 3:
            app.tickets.accept(STAFF, t)
            clock.advance(hours=3 * i)
            app.tickets.resolve(STAFF, t, "修好")
            app.tickets.callback(DESK, t, True, i % 2 == 0, 4, None)
            if i % 2 == 0:  # satisfied (an unsatisfied callback reopens the ticket)
                app.tickets.close(DESK, t, None)
    c.run_projections_once()
    with psycopg.connect(c.url) as conn:
        row = conn.execute(
            "SELECT position FROM qt_projection_tracking WHERE name='kpi_tickets' AND live"
        ).fetchone()
    assert row is not None
    return int(row[0])


BENCH_SHAPES = [
    {"from": "2026-01", "to": "2026-12"},
    {"from": "2026-01", "to": "2026-12", "group_by": "project"},
    {"from": "2026-03", "to": "2026-03", "group_by": "region"},
    {"from": "2026-01-01", "to": "2026-03-31", "group_by": "project"},
    {"from": "2026-03-01", "to": "2026-03-31"},
]


def test_the_cell_path_and_the_live_path_answer_identical_json_and_csv(
    quiet_api: Any, clock: Any
) -> None:
    c = quiet_api.container
    position = march(c, clock)
    shapes = [*BENCH_SHAPES, *({**s, "format": "csv"} for s in BENCH_SHAPES)]
    live = [
        quiet_api.get("/kpis/tickets", role="reporting", params=s) for s in shapes
    ]  # no cells yet
    c.refresher.refresh_once()
    cells = [quiet_api.get("/kpis/tickets", role="reporting", params=s) for s in shapes]
    for shape, a, b in zip(shapes, live, cells, strict=True):
        assert a.status_code == b.status_code == 200, (shape, a.text, b.text)
        assert a.content == b.content, shape
        assert a.headers["content-type"] == b.headers["content-type"]
        assert int(b.headers["X-Read-Position"]) == position
    assert b"received" in cells[0].content and cells[1].json()["rows"][0]["project"] == "P1"


def poison(c: Any, level: str, unit: str, start: datetime, rows: list[dict[str, Any]]) -> None:
    """Overwrite one cell with recognisable rows: an answer holding them came from the cell."""
    with psycopg.connect(c.url, autocommit=True) as conn:
        n = conn.execute(
            "UPDATE qt_read.ticket_kpi_cells SET rows = %s, body = %s"
            " WHERE level = %s AND unit = %s AND period_start = %s",
            (Json(rows), render(rows), level, unit, start),
        ).rowcount
    assert n == 1


MARCH = datetime(2026, 3, 1)


def test_min_position_newer_than_the_cells_is_answered_live(quiet_api: Any, clock: Any) -> None:
    c = quiet_api.container
    position = march(c, clock)
    c.refresher.refresh_once()
    poison(c, "company", "month", MARCH, [{"cell": 1}])
    params = {"from": "2026-03", "to": "2026-03"}
    r = quiet_api.get(
        "/kpis/tickets", role="reporting", params={**params, "min_position": position}
    )
    assert r.json()["rows"] == [{"cell": 1}] and r.headers["X-Read-Position"] == str(position)
    # Without min_position too, while the cells are as fresh as the fact projection.
    assert quiet_api.get("/kpis/tickets", role="reporting", params=params).json()["rows"] == [
        {"cell": 1}
    ]

    clock.now = datetime(2026, 3, 20, tzinfo=timezone.utc)
    newer = c.app.tickets.receive(
        DESK,
        project="P1",
        kind="repair",
        channel="phone",
        priority="low",
        category="水电",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
    ).position
    c.run_projections_once()  # the facts move on; the cells do not (no refresh)
    r = quiet_api.get("/kpis/tickets", role="reporting", params={**params, "min_position": newer})
    (row,) = r.json()["rows"]
    assert row["received"] == 10 and int(r.headers["X-Read-Position"]) >= newer
    # Without min_position the cells must be as fresh as the facts: they are not.
    (row,) = quiet_api.get("/kpis/tickets", role="reporting", params=params).json()["rows"]
    assert row["received"] == 10
    # An older min_position still takes the (older) cell, and says how old it is.
    r = quiet_api.get(
        "/kpis/tickets", role="reporting", params={**params, "min_position": position}
    )
    assert r.json()["rows"] == [{"cell": 1}] and r.headers["X-Read-Position"] == str(position)
    # Refreshed: the March cells are recomputed (the new ticket marked them dirty).
    c.refresher.refresh_once()
    r = quiet_api.get("/kpis/tickets", role="reporting", params={**params, "min_position": newer})
    assert r.json()["rows"][0]["received"] == 10 and int(r.headers["X-Read-Position"]) >= newer
    assert check_cells(c, ["kpi_tickets"]) > 0


def test_cells_serve_a_callers_scope_and_filters_only_when_exactly_equivalent(
    quiet_api: Any, clock: Any
) -> None:
    c = quiet_api.container
    march(c, clock)
    c.refresher.refresh_once()
    proj = [
        {"project": "P1", "cell": 1},
        {"project": "P2", "cell": 2},
        {"project": "P3", "cell": 3},
    ]
    poison(c, "project", "month", MARCH, proj)
    poison(c, "region", "month", MARCH, [{"region": "BJ", "cell": 4}, {"region": "SH", "cell": 5}])
    poison(c, "company", "month", MARCH, [{"cell": 6}])
    month = {"from": "2026-03", "to": "2026-03"}

    def rows(role: str = "reporting", **kw: Any) -> list[dict[str, Any]]:
        scope = {k: kw.pop(k) for k in ("projects", "region_scope") if k in kw}
        r = quiet_api.get(
            "/kpis/tickets",
            role=role,
            params={**month, **kw},
            projects=scope.get("projects", ()),
            region=scope.get("region_scope"),
        )
        assert r.status_code == 200, r.text
        return list(r.json()["rows"])

    # Unscoped: every level from its cell; project= / region= keep whole rows of it.
    assert rows(group_by="project") == proj
    assert rows(group_by="project", project="P3,P1") == [proj[0], proj[2]]
    assert rows(group_by="region", region="SH") == [{"region": "SH", "cell": 5}]
    assert rows() == [{"cell": 6}]
    # A project manager of P1 and P2: their project rows of the cell, nothing else.
    assert rows("project_manager", projects=("P1", "P2"), group_by="project") == proj[:2]
    assert rows("project_manager", projects=("P1", "P2"), group_by="project", project="P2,P3") == [
        proj[1]
    ]
    # ... but their region and company figures are computed live over their projects.
    (sh,) = rows("project_manager", projects=("P1", "P2"), group_by="region")
    assert sh["region"] == "SH" and sh["received"] == 6
    (total,) = rows("project_manager", projects=("P1",))
    assert total["received"] == 3
    # A region-scoped caller: live.
    (bj,) = rows("quality_manager", region_scope="BJ", group_by="region")
    assert bj["region"] == "BJ" and bj["received"] == 3
    # Filters that are not whole rows of the cell, dimension filters, other shapes: live.
    (p1,) = rows(group_by="project", region="SH", project="P1")
    assert p1["project"] == "P1" and "cell" not in p1
    (only,) = rows(project="P1")
    assert only["received"] == 3
    assert all("cell" not in r for r in rows(group_by="project", kind="repair"))
    assert all("cell" not in r for r in rows(group_by="project,region"))
    assert all("cell" not in r for r in rows(group_by="project,month"))
    r = quiet_api.get(
        "/kpis/tickets", role="reporting", params={"from": "2026-03-01", "to": "2026-03-30"}
    )
    assert "cell" not in r.json()["rows"][0]
    r = quiet_api.get(
        "/kpis/tickets", role="reporting", params={"from": "2026-02", "to": "2026-03"}
    )
    assert "cell" not in r.json()["rows"][0]


def test_the_services_refresher_keeps_the_cells_up_with_the_facts(live: Any, clock: Any) -> None:
    import time

    march(live, clock)  # the background runners and refresher follow
    with psycopg.connect(live.url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while True:
            row = conn.execute(
                "SELECT s.position >= t.position FROM qt_read.ticket_kpi_cell_state s, qt_projection_tracking t"
                " WHERE t.name = 'kpi_tickets' AND t.live"
            ).fetchone()
            if (row and row[0]) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert row == (True,), "the refresher did not catch up"
    assert check_cells(live, ["kpi_tickets"]) == 3 * 3
