"""Where each consumer of the store stands: rows of `qt_projection_tracking`
(`store.schema.TRACKING`), one per consumer and generation, holding its `ReadCursor`.

`positions()` is what `X-Read-Position` and `min_position` speak about; `read_target`
adds the events the process follower recorded for a trigger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from store.records import Projection
from store.source import ReadCursor


def read_target(conn: psycopg.Connection[Any], min_position: int) -> int:
    """The position a read at `min_position` must wait for: `min_position`, or beyond it
    the last event the process follower recorded for a trigger at or before it."""
    row = conn.execute(
        "SELECT max(through) FROM qt_process_consequences WHERE trigger_position <= %s AND through > %s",
        (min_position, min_position),
    ).fetchone()
    return max(min_position, row[0] or 0) if row else min_position


def schema_name(projection: type[Projection] | Projection, generation: int) -> str:
    """The schema holding one generation of a projection's tables."""
    return f"qt_{projection.name}_g{generation}"


TRACKING_COLUMNS = "generation, position, cursor_xid, cursor_id, pending_position, pending_xmax"


def live_tracking(
    conn: psycopg.Connection[Any], names: Sequence[str], lock: bool
) -> dict[str, tuple[int, ReadCursor]]:
    """name -> (live generation, cursor) for `names`; locked in name order when `lock`."""
    rows = conn.execute(
        f"SELECT name, {TRACKING_COLUMNS} FROM qt_projection_tracking WHERE live AND name = ANY(%s)"
        " ORDER BY name" + (" FOR UPDATE" if lock else ""),
        (list(names),),
    ).fetchall()
    return {r[0]: (r[1], ReadCursor(r[3], r[4], r[2], r[5], r[6])) for r in rows}


def tracking_of(
    conn: psycopg.Connection[Any], name: str, generation: int | None, lock: bool, live: bool = False
) -> tuple[int, ReadCursor] | None:
    where = "name=%s AND live" if generation is None else "name=%s AND generation=%s"
    params: tuple[Any, ...] = (name,) if generation is None else (name, generation)
    if live and generation is not None:
        where += " AND live"
    row = conn.execute(
        f"SELECT {TRACKING_COLUMNS} FROM qt_projection_tracking WHERE {where}"
        + (" FOR UPDATE" if lock else ""),
        params,
    ).fetchone()
    if row is None:
        return None
    return row[0], ReadCursor(row[2], row[3], row[1], row[4], row[5])


def place(conn: psycopg.Connection[Any], name: str, generation: int) -> tuple[int, int]:
    """The last event a generation consumed, in (xid, id) order."""
    found = tracking_of(conn, name, generation, lock=False)
    return (found[1].xid, found[1].id) if found is not None else (0, 0)


def settling(conn: psycopg.Connection[Any], name: str, generation: int | None = None) -> bool:
    """Whether the position still waits for running transactions to finish."""
    found = tracking_of(conn, name, generation, lock=False)
    return found is not None and found[1].pending_position is not None


def positions(conn: psycopg.Connection[Any], names: Sequence[str] | None = None) -> dict[str, int]:
    rows = conn.execute(
        "SELECT name, position FROM qt_projection_tracking WHERE live"
        + (" AND name = ANY(%s)" if names else ""),
        (list(names),) if names else (),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def head_position(conn: psycopg.Connection[Any], events_table: str) -> int:
    """The largest notification id in the store (0 when it is empty)."""
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {events_table}").fetchone()
    return int(row[0]) if row else 0
