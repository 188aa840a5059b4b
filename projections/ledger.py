"""The ledger: seals every stored event into one hash chain across the whole store.

It follows the store like any projection (no lock is taken at insert): for each event,
in the order the store hands them out, it reads the `event_hash` the insert trigger
stamped on the row and appends `(seq, position, issue_id, version, event_hash,
chain_hash)` with `chain_hash = sha256(prev_chain_hash \\n position \\n event_hash)`.
A rebuild recomputes identical rows from the same events. `qualtrace verify` compares
the ledger with the store (see `store/integrity.py`).

Lock-free appends commit out of id order, so the ledger seals in the order the store
hands events out, `(xid, notification_id)`, below the oldest running transaction: an
event can never appear behind the ledger's cursor. The runner's tracking `position` is
the largest id P such that every event with id <= P has been handed out; an event
with an id <= P handed out afterwards cannot have been appended by the application (it
was written around it), so its entry is sealed with `late = true` and verify names it.
"""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from projections.base import EventRecord, Projection
from projections.reads import Row, fetch_all
from store.integrity import EVENTS_TABLE, GENESIS, chain_hash


class LedgerProjection(Projection):
    name = "ledger"
    tables = [
        """CREATE TABLE {schema}.ledger (
            seq bigint PRIMARY KEY,
            position bigint NOT NULL UNIQUE,
            issue_id uuid NOT NULL,
            version int NOT NULL,
            event_hash text NOT NULL,
            chain_hash text NOT NULL,
            sealed_at timestamptz NOT NULL DEFAULT now(),
            late boolean NOT NULL DEFAULT false)""",
    ]
    views = ["ledger"]

    def __init__(self) -> None:
        self._pending: list[EventRecord] = []
        self._final = 0
        self._checked: set[str] = set()

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:
        self._pending = []
        if schema not in self._checked:  # a generation created before `late` existed
            cur.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = 'ledger'"
                " AND column_name = 'late'",
                (schema,),
            )
            if cur.fetchone() is None:
                cur.execute(
                    f"ALTER TABLE {schema}.ledger ADD COLUMN late boolean NOT NULL DEFAULT false"
                )
            self._checked.add(schema)
        # Every event with an id up to this position was handed out before this batch
        # (the runner holds the tracking row locked; it moves when the batch commits).
        generation = int(schema.rsplit("_g", 1)[1])
        cur.execute(
            "SELECT position FROM qt_projection_tracking WHERE name = %s AND generation = %s",
            (self.name, generation),
        )
        row = cur.fetchone()
        self._final = int(row[0]) if row else 0

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        self._pending.append(rec)

    def end_batch(self, cur: Cursor[Any], schema: str) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        cur.execute(
            f"SELECT notification_id, event_hash FROM public.{EVENTS_TABLE} WHERE notification_id = ANY(%s)",
            ([r.position for r in pending],),
        )
        hashes = {row[0]: row[1] for row in cur.fetchall()}
        cur.execute(f"SELECT seq, chain_hash FROM {schema}.ledger ORDER BY seq DESC LIMIT 1")
        top = cur.fetchone()
        seq, prev = (top[0], top[1]) if top else (0, GENESIS)
        rows = []
        for rec in pending:
            h = hashes.get(rec.position)
            if h is None:
                # Written around the hashing trigger: seal it as such; verify reports it.
                h = "unhashed"
            seq += 1
            prev = chain_hash(prev, rec.position, h)
            rows.append(
                (seq, rec.position, rec.issue_id, rec.version, h, prev, rec.position <= self._final)
            )
        cur.executemany(
            f"INSERT INTO {schema}.ledger (seq, position, issue_id, version, event_hash, chain_hash, late)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


# -- reads ---------------------------------------------------------------------------------
def seqs_of(pool: Any, positions: list[int]) -> dict[int, int]:
    """The ledger entry (seq) sealing each of these store positions, by position."""
    rows = fetch_all(
        pool, "SELECT seq, position FROM qt_read.ledger WHERE position = ANY(%s)", (positions,)
    )
    return {r["position"]: r["seq"] for r in rows}


def segment(pool: Any, first: int, last: int) -> list[Row]:
    """Ledger entries `first`..`last` (by seq), in order."""
    return fetch_all(
        pool,
        """SELECT seq, position, event_hash, chain_hash FROM qt_read.ledger
            WHERE seq BETWEEN %s AND %s ORDER BY seq""",
        (first, last),
    )
