"""Shared machinery of the KPI projections: fact rows reduced in memory per batch.

A KPI projection keeps *facts* at a fine grain (one row per ticket, per inspection,
per nonconformance, per survey response …) holding UTC timestamps, the same instants
as local wall-clock timestamps in the company time zone (`*_local` columns, so a
ticket received 23:30 UTC on 31 March is placed in April in Asia/Shanghai), durations
in seconds and flags. Figures (counts, rates, real percentiles) are aggregated at
query time by `projections.kpis.query`.

Catch-up speed: `handle` only queues the event; `end_batch` loads the touched fact
rows with one query per table, applies the whole batch in Python and writes the
changed rows back with one pipelined upsert per table, all inside the batch's
transaction (the runner commits it together with the tracking position).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo

from psycopg import Cursor, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from domain.org import Project
from projections.base import EventRecord, Projection
from projections.kpis.cells import anchor_columns, mark_dirty, span
from projections.kpis.spec import KpiSpec
from store.schema import KPI_CELL_TABLES

DEFAULT_TIMEZONE = "Asia/Shanghai"


class Facts:
    """The fact rows one batch reads and writes: `rows[table][key] -> dict`."""

    def __init__(self, regions: dict[str, str]) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.dirty: dict[str, set[tuple[Any, ...]]] = {}
        self.regions = regions

    def get(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        return self.rows.get(table, {}).get(key)

    def put(self, table: str, key: tuple[Any, ...], row: dict[str, Any]) -> dict[str, Any]:
        self.rows.setdefault(table, {})[key] = row
        self.dirty.setdefault(table, set()).add(key)
        return row

    def touch(self, table: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """The row to modify (marked for writing), or None if it does not exist."""
        row = self.get(table, key)
        if row is not None:
            self.dirty.setdefault(table, set()).add(key)
        return row

    def of(self, table: str, issue_id: UUID) -> list[dict[str, Any]]:
        """Every row of `table` belonging to one issue (first key column = issue id)."""
        return [r for k, r in self.rows.get(table, {}).items() if k[0] == issue_id]


class FactProjection(Projection):
    """Base of the KPI projections. Subclasses declare `FACTS` (table -> key columns,
    the first one the issue id), `EVENTS` (the event classes they read) and
    implement `apply(facts, rec)`."""

    FACTS: ClassVar[dict[str, tuple[str, ...]]] = {}
    EVENTS: ClassVar[tuple[type, ...]] = ()
    #: Columns holding JSON (written with Jsonb).
    JSON_COLUMNS: ClassVar[frozenset[str]] = frozenset()
    #: The KPI figures this projection's facts feed (API and reporting schema).
    SPEC: ClassVar[KpiSpec | None] = None

    def __init__(self, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self._local = threading.local()
        self._columns: dict[str, list[str]] = {}
        self._cells_ready: set[str] = set()

    def layout_key(self) -> str:
        """Facts are bucketed by local day and month: another time zone rebuilds them."""
        return f"timezone={self.timezone}"

    # -- time --------------------------------------------------------------------
    def local(self, ts: datetime | None) -> datetime | None:
        """The company's wall-clock time of a UTC instant (naive, for `timestamp` columns)."""
        if ts is None:
            return None
        return ts.astimezone(self.tz).replace(tzinfo=None)

    # -- projection protocol -----------------------------------------------------------
    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, (Project.Registered, *self.EVENTS))

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:
        self._local.pending = []

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = []
        pending.append(rec)

    def end_batch(self, cur: Cursor[Any], schema: str) -> None:
        pending: list[EventRecord] = getattr(self._local, "pending", None) or []
        self._local.pending = []
        if not pending:
            return
        projects = [
            (r.event.code, r.event.region)
            for r in pending
            if isinstance(r.event, Project.Registered)
        ]
        if projects:
            cur.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s) ON CONFLICT DO NOTHING").format(
                    sql.Identifier(schema, "project_regions")
                ),
                projects,
            )
        records = [r for r in pending if not isinstance(r.event, Project.Registered)]
        if not records:
            return
        cur.execute(
            sql.SQL("SELECT project, region FROM {}").format(
                sql.Identifier(schema, "project_regions")
            )
        )
        facts = Facts({p: r for p, r in cur.fetchall()})
        ids = list({r.issue_id for r in records} | set(self.related_ids(records)))
        with cur.connection.cursor(row_factory=dict_row) as dcur:
            for table, key in self.FACTS.items():
                dcur.execute(
                    sql.SQL("SELECT * FROM {} WHERE {} = ANY(%s)").format(
                        sql.Identifier(schema, table), sql.Identifier(key[0])
                    ),
                    (ids,),
                )
                if table not in self._columns:
                    self._columns[table] = [d.name for d in dcur.description or ()]
                for row in dcur.fetchall():
                    facts.rows.setdefault(table, {})[tuple(row[k] for k in key)] = row
        anchors = anchor_columns(self.SPEC) if self.SPEC is not None else {}
        # The anchor times of the rows as they were: a changed row may leave its old periods.
        before = {
            (table, k): span([row], anchors[table])
            for table, rows in facts.rows.items()
            if table in anchors
            for k, row in rows.items()
        }
        for rec in records:
            self.apply(facts, rec)
        self._write(cur, schema, facts)
        if anchors:
            self._mark_cells(cur, schema, facts, anchors, before)

    def _mark_cells(
        self,
        cur: Cursor[Any],
        schema: str,
        facts: Facts,
        anchors: dict[str, tuple[str, ...]],
        before: dict[tuple[str, tuple[Any, ...]], Any],
    ) -> None:
        """Mark the report cells the batch's changed rows may move (old and new anchors)."""
        if schema not in self._cells_ready:  # a generation made before report cells existed
            cur.execute("SELECT to_regclass(%s)", (f"{schema}.kpi_cell_dirty",))
            found = cur.fetchone()
            if (
                found is None or found[0] is None
            ):  # created in this batch's transaction: check again next time
                for ddl in KPI_CELL_TABLES:
                    cur.execute(ddl.format(schema=schema))  # type: ignore[arg-type]
            else:
                self._cells_ready.add(schema)
        spans = []
        for table, keys in facts.dirty.items():
            if table not in anchors:
                continue
            rows = facts.rows.get(table, {})
            for k in keys:
                spans.append(before.get((table, k)))
                spans.append(span([rows[k]], anchors[table]))
        mark_dirty(cur, schema, spans)

    def related_ids(self, records: Iterable[EventRecord]) -> Iterable[UUID]:
        """Other issues whose fact rows a batch needs (beside the events' own issues)."""
        return ()

    def apply(self, facts: Facts, rec: EventRecord) -> None:
        raise NotImplementedError

    def _write(self, cur: Cursor[Any], schema: str, facts: Facts) -> None:
        for table, keys in facts.dirty.items():
            if not keys:
                continue
            key_cols = self.FACTS[table]
            cols = self._columns[table]
            rows = [facts.rows[table][k] for k in keys]
            values = [
                [
                    Jsonb(r.get(c)) if c in self.JSON_COLUMNS and r.get(c) is not None else r.get(c)
                    for c in cols
                ]
                for r in rows
            ]
            updates = [c for c in cols if c not in key_cols]
            stmt = sql.SQL(
                "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}"
            ).format(
                sql.Identifier(schema, table),
                sql.SQL(", ").join(map(sql.Identifier, cols)),
                sql.SQL(", ").join(sql.Placeholder() * len(cols)),
                sql.SQL(", ").join(map(sql.Identifier, key_cols)),
                sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in updates
                ),
            )
            cur.executemany(stmt, values)

    def new_row(self, table: str, **values: Any) -> dict[str, Any]:
        """A row with every column of `table` (None unless given)."""
        cols = self._columns.get(table)
        row = dict.fromkeys(cols, None) if cols else {}
        row.update(values)
        return row
