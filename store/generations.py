"""Projection generations: each projection's tables live in a schema of their own
generation (`qt_<name>_g<N>`); readers use stable views in `qt_read` (`READ_SCHEMA`).

`setup` gives a projection seen for the first time its generation 1; `rebuild` fills a
new generation beside the live one from the events and switches readers over in one
transaction. Publishing a generation (`publish_read_views`) points the `qt_read` views
at it, then runs the publish hooks the composition root passes (views built on the
generation's tables); nothing registers itself.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from store.consumer import process_batch
from store.records import Projection
from store.schema import READ_SCHEMA, TRACKING
from store.source import EventSource
from store.tracking import place, schema_name, settling

log = logging.getLogger("qualtrace.projections")

#: Run after a generation's `qt_read` views are published, in the same transaction.
PublishHook = Callable[[psycopg.Connection[Any], Projection, int], None]


def setup(
    conn: psycopg.Connection[Any],
    projections: Sequence[Projection],
    publish_hooks: Sequence[PublishHook] = (),
) -> None:
    """Create tracking and, for a projection seen for the first time, generation 1."""
    with conn.transaction():
        for ddl in TRACKING:
            conn.execute(ddl)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('qt_projection_setup'))")
        for p in projections:
            row = conn.execute(
                "SELECT generation FROM qt_projection_tracking WHERE name=%s AND live",
                (p.name,),
            ).fetchone()
            if row is None:
                create_generation(conn, p, 1)
                conn.execute(
                    "INSERT INTO qt_projection_tracking (name, generation, live, layout)"
                    " VALUES (%s, 1, true, %s)",
                    (p.name, layout(p)),
                )
                publish_read_views(conn, p, 1, publish_hooks)


def layout(projection: Projection) -> str:
    """What a generation's tables were built from: the DDL templates, the projection's
    `version` (bumped when its handlers fill the same tables differently) and its
    `layout_key()` (settings its rows depend on: a time zone, a taxonomy)."""
    text = f"{projection.version}\n{projection.layout_key()}\n" + "\n".join(projection.tables)
    return hashlib.sha256(text.encode()).hexdigest()


def _columns(conn: psycopg.Connection[Any], schema: str) -> set[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s",
        (schema,),
    ).fetchall()
    return {(str(r[0]), str(r[1]), str(r[2])) for r in rows}


def outdated(conn: psycopg.Connection[Any], projections: Sequence[Projection]) -> list[Projection]:
    """The projections whose live generation was built with another layout than their code
    declares now (an upgrade changed their tables or their `version`).

    A generation recorded before layouts were (`layout` NULL) is compared by its columns
    with the tables the code would create (made in a transaction that is rolled back): the
    same columns mean the same layout, which is then recorded; others mean outdated."""
    live = {
        str(name): (int(generation), recorded)
        for name, generation, recorded in conn.execute(
            "SELECT name, generation, layout FROM qt_projection_tracking"
            " WHERE live AND name = ANY(%s)",
            ([p.name for p in projections],),
        ).fetchall()
    }
    out: list[Projection] = []
    for p in projections:
        if p.name not in live:
            continue
        generation, recorded = live[p.name]
        wanted = layout(p)
        if recorded == wanted:
            continue
        if recorded is None:
            columns = _columns(conn, schema_name(p, generation))
            with conn.transaction(force_rollback=True):
                expected = _columns(conn, create_generation(conn, p, 0))
            if columns == expected:
                conn.execute(
                    "UPDATE qt_projection_tracking SET layout = %s WHERE name=%s AND generation=%s",
                    (wanted, p.name, generation),
                )
                continue
        out.append(p)
    return out


def upgrade(
    conninfo: str,
    source: EventSource,
    projections: Sequence[Projection],
    *,
    publish_hooks: Sequence[PublishHook] = (),
) -> list[str]:
    """Rebuild every outdated projection (`outdated`), one process at a time: an advisory
    lock per projection, and the check repeated under it, so two workers starting at once
    rebuild each once. Returns the names rebuilt."""
    rebuilt: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for p in outdated(conn, projections):
            conn.execute("SELECT pg_advisory_lock(hashtext('qt_upgrade_' || %s))", (p.name,))
            try:
                if not outdated(conn, [p]):
                    continue
                log.warning(
                    "read model %s: its layout changed; rebuilding it from the events", p.name
                )
                result = rebuild(conninfo, source, p, publish_hooks=publish_hooks)
                log.warning(
                    "read model %s rebuilt: generation %s, at position %s in %s s",
                    p.name,
                    result["generation"],
                    result["position"],
                    result["seconds"],
                )
                rebuilt.append(p.name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('qt_upgrade_' || %s))", (p.name,))
    return rebuilt


def create_generation(
    conn: psycopg.Connection[Any], projection: Projection, generation: int
) -> str:
    schema = schema_name(projection, generation)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for ddl in projection.tables:
        conn.execute(ddl.format(schema=schema))  # type: ignore[arg-type]
    return schema


def publish_read_views(
    conn: psycopg.Connection[Any],
    projection: Projection,
    generation: int,
    publish_hooks: Sequence[PublishHook] = (),
) -> None:
    """Point the stable views in `qt_read` at `generation`, then run `publish_hooks` (views
    built on the generation's tables: KPI cells, the reporting schema), all within the
    caller's transaction."""
    schema = schema_name(projection, generation)
    for table in projection.views:
        view = sql.Identifier(READ_SCHEMA, table)
        select = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table))
        try:
            # Replaced in place: views built on it (the reporting schema) stay untouched, so
            # their readers and this switch lock in the same order and cannot deadlock.
            with conn.transaction():
                conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(view, select))
        except psycopg.errors.InvalidTableDefinition:  # columns changed: dependents go too
            conn.execute(sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(view))
            conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(view, select))
    for hook in publish_hooks:
        hook(conn, projection, generation)


def analyze_generation(
    conn: psycopg.Connection[Any], projection: Projection, generation: int
) -> None:
    """Gather the planner's statistics of a generation's tables (`ANALYZE`), so that the
    first queries after readers switch to a freshly built generation are planned for its
    real size. Autovacuum would only get to them within a minute or so; until then the
    planner takes the new tables for nearly empty (at a million events, the live KPI
    shapes' sorts then spilled to disk: 435 ms instead of 356 ms, docs/performance.md)."""
    schema = schema_name(projection, generation)
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
    ).fetchall()
    for (table,) in tables:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))


def rebuild(
    conninfo: str,
    source: EventSource,
    projection: Projection,
    batch: int = 5000,
    *,
    publish_hooks: Sequence[PublishHook] = (),
) -> dict[str, Any]:
    """Build a new generation beside the live one from the events, then switch readers
    over atomically (`publish_read_views` with `publish_hooks`) and drop the old
    generation. The live runner keeps working meanwhile."""
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            live = conn.execute(
                "SELECT generation FROM qt_projection_tracking WHERE name=%s AND live",
                (projection.name,),
            ).fetchone()
            old = live[0] if live else 0
            top = conn.execute(
                "SELECT coalesce(max(generation), 0) FROM qt_projection_tracking WHERE name=%s",
                (projection.name,),
            ).fetchone()
            new = (top[0] if top else 0) + 1
            conn.execute(
                "DELETE FROM qt_projection_tracking WHERE name=%s AND NOT live", (projection.name,)
            )
            create_generation(conn, projection, new)
            conn.execute(
                "INSERT INTO qt_projection_tracking (name, generation, live, layout)"
                " VALUES (%s, %s, false, %s)",
                (projection.name, new, layout(projection)),
            )
        events = 0
        settle_until = time.monotonic() + 10.0
        while True:  # catch up outside the lock, the position settled too (bounded)
            if process_batch(conn, source, projection, new, batch):
                continue
            if not settling(conn, projection.name, new) or time.monotonic() > settle_until:
                break
            time.sleep(0.005)
        analyze_generation(conn, projection, new)
        with conn.transaction():
            # Lock the live row: the live runner waits here, then finds itself retired.
            conn.execute(
                "SELECT 1 FROM qt_projection_tracking WHERE name=%s FOR UPDATE", (projection.name,)
            )
            live_place = place(conn, projection.name, old) if old else (0, 0)
            give_up = time.monotonic() + 10.0
            while True:
                n = process_batch(conn, source, projection, new, batch)
                events += n
                if n:
                    continue
                # Never switch readers to a generation that has not consumed everything the
                # live one has: both read in (xid, id) order, so compare the cursors. (Not
                # the positions: ours holds an xid now, so the new generation's position
                # cannot settle until this transaction ends; it does right after.)
                if place(conn, projection.name, new) >= live_place:
                    break
                if time.monotonic() > give_up:
                    raise RuntimeError(
                        f"rebuild of {projection.name} could not reach the live generation's place {live_place}:"
                        " a long-running transaction holds the read horizon back; try again"
                    )
                time.sleep(0.01)
            conn.execute(
                "UPDATE qt_projection_tracking SET live = (generation = %s) WHERE name=%s",
                (new, projection.name),
            )
            publish_read_views(conn, projection, new, publish_hooks)
            if old:
                conn.execute(
                    "DELETE FROM qt_projection_tracking WHERE name=%s AND generation=%s",
                    (projection.name, old),
                )
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(schema_name(projection, old))
                    )
                )
        position = conn.execute(
            "SELECT position FROM qt_projection_tracking WHERE name=%s AND live", (projection.name,)
        ).fetchone()
    return {
        "projection": projection.name,
        "generation": new,
        "position": position[0] if position else 0,
        "seconds": round(time.monotonic() - started, 3),
    }
