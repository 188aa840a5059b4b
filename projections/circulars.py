"""Company-wide circulars (全公司通报) and their read receipts, for `GET /circulars`."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.circulars import Circular
from projections.base import EventRecord, Projection
from projections.reads import Row, fetch_all


class CircularListProjection(Projection):
    name = "circulars"
    tables = [
        """CREATE TABLE {schema}.circulars (
            id uuid PRIMARY KEY, number text NOT NULL UNIQUE, title text NOT NULL,
            text text NOT NULL, origin text NOT NULL, project text,
            nonconformance_id text, nonconformance_number text,
            raised_by text NOT NULL, raised_at timestamptz NOT NULL,
            causation_id text, position bigint NOT NULL, reads int NOT NULL DEFAULT 0,
            version int NOT NULL)""",
        "CREATE INDEX ON {schema}.circulars (position)",
        """CREATE TABLE {schema}.circular_receipts (
            circular_id uuid NOT NULL, principal_id text NOT NULL, principal_name text NOT NULL,
            principal_role text NOT NULL, read_at timestamptz NOT NULL, position bigint NOT NULL,
            PRIMARY KEY (circular_id, principal_id))""",
    ]
    views = ["circulars", "circular_receipts"]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, (Circular.Raised, Circular.Read))

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if isinstance(e, Circular.Raised):
            nc = e.nonconformance or {}
            cur.execute(
                f"""INSERT INTO {schema}.circulars (id, number, title, text, origin, project,
                    nonconformance_id, nonconformance_number, raised_by, raised_at, causation_id,
                    position, version)
                    VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (id) DO NOTHING""",
                (
                    rec.issue_id,
                    e.number,
                    e.title,
                    e.text,
                    e.origin,
                    e.project,
                    nc.get("id"),
                    nc.get("number"),
                    e.actor["name"],
                    e.timestamp,
                    e.causation_id,
                    rec.position,
                    rec.version,
                ),
            )
        elif isinstance(e, Circular.Read):
            cur.execute(
                f"""INSERT INTO {schema}.circular_receipts VALUES (%s,%s,%s,%s,%s,%s)
                    ON CONFLICT DO NOTHING""",
                (
                    rec.issue_id,
                    e.actor["id"],
                    e.actor["name"],
                    e.actor["role"],
                    e.timestamp,
                    rec.position,
                ),
            )
            cur.execute(
                f"UPDATE {schema}.circulars SET reads = reads + 1, version = %s WHERE id = %s",
                (rec.version, rec.issue_id),
            )


# -- reads ---------------------------------------------------------------------------------
def list_circulars(
    pool: Any, reader: str, limit: int, before: int | None = None, receipts: bool = False
) -> list[Row]:
    """Newest first (by store position), each with whether `reader` has read it and, when
    `receipts`, who read it and when. `limit + 1` rows (the caller pages)."""
    rows = fetch_all(
        pool,
        """SELECT c.*, EXISTS (SELECT 1 FROM qt_read.circular_receipts r
                               WHERE r.circular_id = c.id AND r.principal_id = %s) AS read
           FROM qt_read.circulars c WHERE (%s::bigint IS NULL OR c.position < %s)
           ORDER BY c.position DESC LIMIT %s""",
        (reader, before, before, limit + 1),
    )
    if receipts and rows:
        found = fetch_all(
            pool,
            """SELECT circular_id, principal_id AS id, principal_name AS name,
                      principal_role AS role, read_at AS at
               FROM qt_read.circular_receipts WHERE circular_id = ANY(%s) ORDER BY position""",
            ([r["id"] for r in rows],),
        )
        by: dict[Any, list[Row]] = {}
        for f in found:
            by.setdefault(f.pop("circular_id"), []).append(f)
        for r in rows:
            r["receipts"] = by.get(r["id"], [])
    return rows
