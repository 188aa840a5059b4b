"""Report cells: precomputed KPI answers for the standard report shapes, kept fresh
incrementally, served with their own read position; the live query stays the fallback.

A *cell* is the exact answer of `kpi_query(spec, group_by=<level dims>, start=<period
start>, end=<period end>)` — the very SQL `GET /kpis/<kind>` runs — for one level
(company: no dims; region; project) and one whole calendar period (month, quarter or
year, company local time). Cells live in the KPI projection's own generation schema:

- `kpi_cells`: (level, unit, period_start) -> the answer rows (JSON, column order kept);
- `kpi_cell_state`: the fact projection position the cells reflect (one row; absent
  until the first fill) and the local time range they cover;
- `kpi_cell_dirty`: marks the fact projection writes in each batch's transaction: the
  earliest and latest local anchor time among the fact rows it changed (old and new
  values). A fact row only counts in periods ending after its anchor (flow families:
  the period holding the anchor; stock families: every period ending after it), so
  every cell of a period ending after the earliest mark is recomputed.

`CellRefresher` (a background thread of the service) recomputes the dirty cells of each
kind at most every `interval` seconds, in one REPEATABLE READ transaction that also
reads the fact projection's tracking position: the cells, the marks it deletes and the
position all come from one snapshot. A rebuild makes a new generation schema, whose
cells are empty until the refresher fills them: nothing of the old one is served.

`qt_read.<prefix>_kpi_cells` / `<prefix>_kpi_cell_state` views follow the live
generation (`publish_cell_views`, a publish hook), so the API reads a cell and its position in one query.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Json

from projections.base import READ_SCHEMA
from projections.kpis.query import kpi_query, plain
from projections.kpis.spec import KpiSpec
from store.background import BackgroundLoop
from store.schema import KPI_CELL_TABLES
from store.tracking import schema_name

log = logging.getLogger("qualtrace.kpi_cells")

#: level -> the dimensions the level's cells are grouped by.
LEVELS: dict[str, tuple[str, ...]] = {"company": (), "region": ("region",), "project": ("project",)}
UNITS = ("month", "quarter", "year")
MONTHS = {"month": 1, "quarter": 3, "year": 12}


# -- periods ------------------------------------------------------------------------------
def add_months(t: datetime, months: int) -> datetime:
    m = t.month - 1 + months
    return t.replace(year=t.year + m // 12, month=m % 12 + 1, day=1)


def period_start(unit: str, t: datetime) -> datetime:
    if unit == "month":
        return datetime(t.year, t.month, 1)
    if unit == "quarter":
        return datetime(t.year, (t.month - 1) // 3 * 3 + 1, 1)
    return datetime(t.year, 1, 1)


def whole_period(lo: datetime | None, hi: datetime | None) -> tuple[str, datetime] | None:
    """(unit, start) when [lo, hi) is exactly one calendar month, quarter or year."""
    if lo is None or hi is None or lo != datetime(lo.year, lo.month, 1):
        return None
    for unit in UNITS:
        if period_start(unit, lo) == lo and hi == add_months(lo, MONTHS[unit]):
            return unit, lo
    return None


def periods(lo: datetime, hi: datetime) -> list[tuple[str, datetime, datetime]]:
    """Every (unit, start, end) period holding a local time in [lo, hi]."""
    out = []
    for unit in UNITS:
        p = period_start(unit, lo)
        while p <= hi:
            end = add_months(p, MONTHS[unit])
            out.append((unit, p, end))
            p = end
    return out


# -- what the fact projections call ------------------------------------------------------------
def anchor_columns(spec: KpiSpec) -> dict[str, tuple[str, ...]]:
    """fact table -> the local timestamp columns placing its rows in periods."""
    out: dict[str, list[str]] = {}
    for fam in spec.families:
        cols = out.setdefault(fam.facts or spec.facts, [])
        if fam.anchor not in cols:
            cols.append(fam.anchor)
    return {t: tuple(c) for t, c in out.items()}


def span(rows: Iterable[dict[str, Any]], cols: Sequence[str]) -> tuple[datetime, datetime] | None:
    """The earliest and latest non-null value of `cols` among `rows`."""
    values = [r[c] for r in rows for c in cols if r.get(c) is not None]
    return (min(values), max(values)) if values else None


def mark_dirty(
    cur: psycopg.Cursor[Any], schema: str, spans: Iterable[tuple[datetime, datetime] | None]
) -> None:
    """Record (in the batch's transaction) that cells of periods ending after the earliest
    of `spans` may have changed."""
    found = [s for s in spans if s is not None]
    if not found:
        return
    cur.execute(
        sql.SQL("INSERT INTO {} (since, until) VALUES (%s, %s)").format(
            sql.Identifier(schema, "kpi_cell_dirty")
        ),
        (min(s[0] for s in found), max(s[1] for s in found)),
    )


def view_names(spec: KpiSpec) -> tuple[str, str]:
    return f"{spec.prefix}_kpi_cells", f"{spec.prefix}_kpi_cell_state"


def publish_cell_views(conn: psycopg.Connection[Any], projection: Any, generation: int) -> None:
    """Publish hook (`store.generations.publish_read_views`, passed by the composition
    root): point the cell views at a KPI projection's (new) generation."""
    spec = getattr(projection, "SPEC", None)
    if not isinstance(spec, KpiSpec):
        return
    schema = schema_name(projection, generation)
    for view, table in zip(view_names(spec), ("kpi_cells", "kpi_cell_state"), strict=True):
        conn.execute(
            sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT * FROM {}").format(
                sql.Identifier(READ_SCHEMA, view), sql.Identifier(schema, table)
            )
        )


# -- reading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    rows: list[dict[str, Any]] | None  # when asked for rows
    body: str | None  # else: the JSON answer `{"rows": [...]}`, rendered
    position: int


def render(rows: list[dict[str, Any]]) -> str:
    """The JSON answer `{"rows": rows}` exactly as the API renders it (FastAPI's JSONResponse)."""
    return json.dumps(
        {"rows": rows}, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    )


def read_cell(
    conn: psycopg.Connection[Any],
    spec: KpiSpec,
    projection_name: str,
    level: str,
    unit: str,
    start: datetime,
    min_position: int | None,
    body: bool = False,
) -> Cell | None:
    """The cell (its rows, or its rendered JSON answer when `body`), if it exists and is
    fresh enough: its position >= `min_position`, or, without one, >= the fact
    projection's own position (as fresh as the live query)."""
    cells, state = view_names(spec)
    row = conn.execute(
        sql.SQL(
            "SELECT s.position, " + ("c.body" if body else "c.rows") + ", t.position FROM {state} s"
            " JOIN {cells} c ON c.level = %s AND c.unit = %s AND c.period_start = %s"
            " LEFT JOIN qt_projection_tracking t ON t.name = %s AND t.live"
        ).format(
            state=sql.Identifier(READ_SCHEMA, state), cells=sql.Identifier(READ_SCHEMA, cells)
        ),
        (level, unit, start, projection_name),
        prepare=True,
    ).fetchone()
    if row is None:
        return None
    position, answer, live = row
    needed = min_position if min_position is not None else live
    if needed is None or position < needed:
        return None
    return (
        Cell(rows=None, body=answer, position=position)
        if body
        else Cell(rows=answer, body=None, position=position)
    )


# -- refreshing -------------------------------------------------------------------------------
def ensure_tables(conn: psycopg.Connection[Any], projection: Any) -> str | None:
    """The live generation's schema, with the cell tables and views (a generation made
    before cells existed gets them here, under the tracking row lock a rebuild's switch
    also takes). None when the projection has no live generation."""
    check = (
        "SELECT t.generation, to_regclass(format('%%I.kpi_cell_dirty', %s || t.generation)) IS NOT NULL"
        " AND to_regclass(%s) IS NOT NULL FROM qt_projection_tracking t WHERE t.name = %s AND t.live"
    )
    params = (
        f"qt_{projection.name}_g",
        f"{READ_SCHEMA}.{view_names(projection.SPEC)[0]}",
        projection.name,
    )
    row = conn.execute(check, params).fetchone()
    if row is None:
        return None
    if not row[1]:
        with conn.transaction():
            conn.execute(
                "SELECT 1 FROM qt_projection_tracking WHERE name = %s FOR UPDATE",
                (projection.name,),
            )
            row = conn.execute(check, params).fetchone()
            if row is None:
                return None
            if not row[1]:
                for ddl in KPI_CELL_TABLES:
                    conn.execute(ddl.format(schema=schema_name(projection, row[0])))  # type: ignore[arg-type]
                publish_cell_views(conn, projection, row[0])
    return schema_name(projection, row[0])


def refresh(conn: psycopg.Connection[Any], projection: Any) -> dict[str, Any] | None:
    """Recompute the dirty cells of one KPI projection; return what was done (None when
    another process holds the refresh, or there is no live generation).

    `conn` must be in autocommit mode; the work runs in one REPEATABLE READ transaction
    whose first statement fixes the snapshot. Cells are computed first (reads only, so no
    transaction id holds back the projections' read horizon meanwhile), then written."""
    spec: KpiSpec = projection.SPEC
    t0 = time.perf_counter()
    schema = ensure_tables(conn, projection)
    if schema is None:
        return None
    saved = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            got = conn.execute(
                "SELECT pg_try_advisory_xact_lock(hashtext(%s))",
                (f"qt_kpi_cells:{projection.name}",),
            ).fetchone()
            if not got or not got[0]:
                return None
            row = conn.execute(
                "SELECT generation, position FROM qt_projection_tracking WHERE name = %s AND live",
                (projection.name,),
            ).fetchone()
            if row is None or schema_name(projection, row[0]) != schema:
                return None  # switched generations meanwhile: next time
            position = row[1]
            s = sql.Identifier(schema)
            state = conn.execute(
                sql.SQL("SELECT position, lo, hi FROM {}.kpi_cell_state").format(s)
            ).fetchone()
            marks = conn.execute(
                sql.SQL("SELECT id, since, until FROM {}.kpi_cell_dirty").format(s)
            ).fetchall()
            ids = [m[0] for m in marks]
            if state is None:
                since: datetime | None = None  # first fill: every cell
                bounds = [
                    b
                    for t, cols in anchor_columns(spec).items()
                    if (b := _table_span(conn, schema, t, cols))
                ]
                lo = min((b[0] for b in bounds), default=None)
                hi = max((b[1] for b in bounds), default=None)
            else:
                if state[0] >= position and not ids:
                    return {"kind": spec.kind, "position": state[0], "cells": 0, "seconds": 0.0}
                lo, hi = state[1], state[2]
                since = min((m[1] for m in marks), default=None)
                if marks:
                    lo = min([m[1] for m in marks] + ([lo] if lo else []))
                    hi = max([m[2] for m in marks] + ([hi] if hi else []))
            wanted = periods(lo, hi) if lo is not None and hi is not None else []
            have = {
                (r[0], r[1])
                for r in conn.execute(
                    sql.SQL("SELECT DISTINCT unit, period_start FROM {}.kpi_cells").format(s)
                ).fetchall()
            }
            todo = [
                (unit, start, end)
                for unit, start, end in wanted
                if state is None or (unit, start) not in have or (since is not None and end > since)
            ]
            computed: list[tuple[str, str, datetime, Json, str]] = []
            for unit, start, end in todo:
                for level, dims in LEVELS.items():
                    query = kpi_query(spec, list(dims), start=start, end=end, schema=schema)
                    with conn.cursor(row_factory=dict_row) as cur:
                        cur.execute(query)
                        rows = [{k: plain(v) for k, v in r.items()} for r in cur.fetchall()]
                    computed.append((level, unit, start, Json(rows), render(rows)))
            with conn.cursor() as cur:
                if computed:
                    cur.executemany(
                        sql.SQL(
                            "INSERT INTO {}.kpi_cells (level, unit, period_start, rows, body)"
                            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (level, unit, period_start)"
                            " DO UPDATE SET rows = EXCLUDED.rows, body = EXCLUDED.body"
                        ).format(s),
                        computed,
                    )
                if ids:
                    cur.execute(
                        sql.SQL("DELETE FROM {}.kpi_cell_dirty WHERE id = ANY(%s)").format(s),
                        (ids,),
                    )
                seconds = round(time.perf_counter() - t0, 3)
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {}.kpi_cell_state (position, lo, hi, cells, refreshed, seconds)"
                        " VALUES (%s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (one) DO UPDATE SET position = EXCLUDED.position, lo = EXCLUDED.lo,"
                        " hi = EXCLUDED.hi, cells = EXCLUDED.cells, refreshed = EXCLUDED.refreshed,"
                        " seconds = EXCLUDED.seconds, refreshed_at = now()"
                    ).format(s),
                    (position, lo, hi, len(wanted) * len(LEVELS), len(computed), seconds),
                )
    finally:
        conn.isolation_level = saved
    return {
        "kind": spec.kind,
        "position": position,
        "cells": len(computed),
        "seconds": seconds,
        "first_fill": state is None,
    }


def _table_span(
    conn: psycopg.Connection[Any], schema: str, table: str, cols: Sequence[str]
) -> tuple[datetime, datetime] | None:
    t = sql.Identifier(schema, table)
    row = conn.execute(
        sql.SQL("SELECT least({}), greatest({}) FROM {}").format(
            sql.SQL(", ").join(sql.SQL("min({})").format(sql.Identifier(c)) for c in cols),
            sql.SQL(", ").join(sql.SQL("max({})").format(sql.Identifier(c)) for c in cols),
            t,
        )
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


class CellRefresher(BackgroundLoop):
    """Keeps every KPI projection's cells fresh: one round at most every `interval` s,
    and after a long round a pause three times as long (at most a quarter of a core's
    time: under a steady stream of commands the cells are rarely as fresh as the facts
    and requests are answered live anyway, so refreshing must not compete with them)."""

    thread_name = "kpi-cells"
    #: Under a steady stream of commands the cells are rarely as fresh as the facts (and
    #: such requests are answered live): a round waits until the fact projections have
    #: been still for `quiet` seconds, or at the latest `max_stale` seconds after the last.
    quiet = 0.5
    max_stale = 30.0

    def __init__(self, conninfo: str, projections: Sequence[Any], interval: float = 2.0) -> None:
        self.conninfo = conninfo
        self.projections = [p for p in projections if isinstance(getattr(p, "SPEC", None), KpiSpec)]
        self.interval = interval
        super().__init__()
        self._seen: dict[str, int] = {}
        self._moved_at = 0.0
        self._round_at = 0.0
        self.last: dict[str, dict[str, Any]] = {}
        self._logged: dict[str, float] = {}

    def refresh_once(self) -> list[dict[str, Any]]:
        """One round over every KPI projection (tests, benchmarks, the thread)."""
        out = []
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            for p in self.projections:
                done = refresh(conn, p)
                if done is not None:
                    self.last[p.name] = done
                    out.append(done)
        return out

    def _due(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether a round is due: the fact projections still for `quiet` s, or the last
        round `max_stale` s ago."""
        rows = conn.execute(
            "SELECT name, position FROM qt_projection_tracking WHERE live AND name = ANY(%s)",
            ([p.name for p in self.projections],),
        ).fetchall()
        seen, now = dict(rows), time.monotonic()
        if seen != self._seen:
            self._seen, self._moved_at = seen, now
        return now - self._moved_at >= self.quiet or now - self._round_at >= self.max_stale

    def _session(self) -> None:
        """Refresh round after round (`BackgroundLoop`: a failure, say a lost connection,
        starts a new session after `interval`)."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.is_set():
                if not self._due(conn):
                    self._stop.wait(self.quiet)
                    continue
                started = self._round_at = time.monotonic()
                for p in self.projections:
                    if self._stop.is_set():
                        break
                    try:
                        done = refresh(conn, p)
                    except (
                        psycopg.errors.SerializationFailure,
                        psycopg.errors.UndefinedTable,
                        psycopg.errors.InvalidSchemaName,
                    ):
                        continue  # a concurrent refresh or a rebuild's switch: next round
                    except Exception as e:  # one kind failing leaves the others' cells fresh
                        if conn.closed or conn.broken:
                            raise
                        self.error = e
                        if time.monotonic() - self._logged.get(p.name, -1e9) > 60:
                            self._logged[p.name] = time.monotonic()
                            log.exception("KPI cells of %s not refreshed; retrying", p.name)
                        continue
                    if done is not None:
                        self.last[p.name] = done
                self._stop.wait(max(self.interval, 3 * (time.monotonic() - started)))

    def _failed(self, error: BaseException) -> None:
        log.exception("KPI cell refresh failed; retrying")

    def _retry_seconds(self) -> float:
        return self.interval
