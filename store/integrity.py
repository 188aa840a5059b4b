"""Tamper evidence for the event store.

Two chains, both SHA-256, both recomputable by anyone holding the events:

1. **Per issue** — a BEFORE INSERT trigger on the events table stamps every row, as it is
   written, with ``prev_hash`` (the ``event_hash`` of the same issue's previous version;
   64 zeros for version 1) and ``event_hash``::

       event_hash = sha256(utf8(f"{originator_id}\\n{version}\\n{topic}\\n{prev_hash}\\n{sha256(state).hex}"))

   The state enters through its own digest so that an audit pack may withhold a state
   holding personal data (giving only its digest) and still be verifiable.

2. **Across the store** — the ledger (``projections/ledger.py``) follows the store like a
   projection, without any lock at insert, and chains every event's hash to the one
   sealed before it::

       chain_hash = sha256(utf8(f"{prev_chain_hash}\\n{position}\\n{event_hash}"))

Further triggers make the database refuse UPDATE, DELETE and TRUNCATE on the events
table (the columns, functions and triggers: ``store.schema.EVENTS_INTEGRITY``).
``verify_store`` re-hashes everything and names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from store.schema import EVENTS_TABLE

GENESIS = "0" * 64
LEDGER_VIEW = ("qt_read", "ledger")


def state_digest(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


def event_hash(
    originator_id: str, version: int, topic: str, prev_hash: str, state_sha256: str
) -> str:
    message = f"{originator_id}\n{version}\n{topic}\n{prev_hash}\n{state_sha256}"
    return hashlib.sha256(message.encode("utf-8")).hexdigest()


def chain_hash(prev_chain_hash: str, position: int, event_hash_hex: str) -> str:
    return hashlib.sha256(f"{prev_chain_hash}\n{position}\n{event_hash_hex}".encode()).hexdigest()


# -- verification ----------------------------------------------------------------------
@dataclass
class Break:
    """The first broken link: where, and which check failed."""

    check: str
    detail: str
    issue_id: str | None = None
    version: int | None = None
    position: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "detail": self.detail,
            "issue_id": self.issue_id,
            "version": self.version,
            "position": self.position,
        }


@dataclass
class VerifyResult:
    events: int = 0
    issues: int = 0
    sealed: int = 0
    unsealed: int = 0
    ledger_head: dict[str, Any] | None = None
    breaks: list[Break] = field(default_factory=list)
    #: The snapshot it ran in (store/verifications.py records these): its time, the
    #: largest position in it, and the transactions it could not see: those running then
    #: (`snapshot_xip`) and those from `snapshot_xmax` on.
    verified_at: datetime | None = None
    through_position: int = 0
    snapshot_xmax: int = 0
    snapshot_xip: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "issues": self.issues,
            "sealed": self.sealed,
            "unsealed": self.unsealed,
            "ledger_head": self.ledger_head,
            "first_broken_link": self.breaks[0].as_dict() if self.breaks else None,
            "broken_links": [b.as_dict() for b in self.breaks[:100]],
        }


def _event_time(state: Any) -> datetime | None:
    """The `timestamp` inside a stored event's JSON state (None if unreadable)."""
    try:
        value = json.loads(bytes(state or b""))["timestamp"]["_data_"]
        return datetime.fromisoformat(value)
    except (ValueError, KeyError, TypeError):
        return None


def _rows(cur: Any, query: sql.Composable, params: tuple[Any, ...] = ()) -> Iterator[Any]:
    cur.execute(query, params)
    while True:
        chunk = cur.fetchmany(2000)
        if not chunk:
            return
        yield from chunk


def event_faults(
    issue: str,
    version: int,
    topic: str | None,
    state: bytes | None,
    prev: str | None,
    stored: str | None,
    occurred: Any,
    expected_prev: str | None,
) -> list[tuple[str, str, int]]:
    """What is wrong with one stored event on its own and against the previous version's
    hash (`expected_prev`, None when unknown): (check, detail, sort order) each. Shared by
    the full verification and the tail `GET /audit/integrity` re-hashes."""
    faults: list[tuple[str, str, int]] = []
    if stored is None:
        faults.append(
            ("event_hash", "the event has no hash (written around the hashing trigger)", 0)
        )
    else:
        recomputed = event_hash(
            issue, version, topic or "", prev or "", state_digest(bytes(state or b""))
        )
        if recomputed != stored:
            faults.append(
                (
                    "event_hash",
                    "the stored event does not hash to its recorded event_hash (content or metadata changed)",
                    0,
                )
            )
        if expected_prev is not None and prev != expected_prev:
            faults.append(
                (
                    "issue_chain",
                    "prev_hash does not equal the event_hash of the previous version",
                    0,
                )
            )
    if occurred != _event_time(state):
        faults.append(("occurred_at", "the stored event time is not the time inside the event", 3))
    return faults


def verify_store(
    conn: Any, schema: str = "public", table: str = EVENTS_TABLE, max_breaks: int = 100
) -> VerifyResult:
    """Re-hash every stored event and walk both chains.

    Runs in one REPEATABLE READ snapshot on `conn` (a psycopg connection), so events and
    ledger are compared as of the same instant. Breaks are listed in position order,
    ledger checks after the per-issue checks of the same position.
    """
    result = VerifyResult()
    breaks: list[tuple[int, int, Break]] = []
    events_at: dict[int, tuple[str, str | None, str, int, int]] = {}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute(
            "SELECT now(), pg_snapshot_xmax(s)::text, array(SELECT pg_snapshot_xip(s))::text[]"
            " FROM pg_current_snapshot() s"
        ).fetchone()
        result.verified_at, result.snapshot_xmax = snapshot[0], int(snapshot[1])
        result.snapshot_xip = [int(x) for x in snapshot[2]]
        last: dict[str, tuple[int, str | None]] = {}
        with conn.cursor(name="qt_verify_events") as cur:
            query = sql.SQL(
                "SELECT notification_id, originator_id::text, originator_version, topic, state,"
                " prev_hash, event_hash, xid::text, occurred_at FROM {}.{} ORDER BY notification_id"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            for position, issue, version, topic, state, prev, stored, xid, occurred in _rows(
                cur, query
            ):
                result.events += 1
                result.through_position = max(result.through_position, position)
                events_at[position] = (issue, stored, topic, version, int(xid))

                def fail(
                    check: str,
                    detail: str,
                    order: int = 0,
                    p: int = position,
                    i: str = issue,
                    v: int = version,
                ) -> None:
                    breaks.append((p, order, Break(check, detail, i, v, p)))

                seen = last.get(issue)
                expected_version = 1 if seen is None else seen[0] + 1
                if version != expected_version:
                    if seen is None:
                        fail(
                            "version_sequence",
                            f"first stored version is {version}, not 1 (versions before it are missing)",
                        )
                    else:
                        fail(
                            "version_sequence",
                            f"version {version} follows version {seen[0]} (a version is missing or out of order)",
                        )
                expected_prev = (
                    GENESIS
                    if version == 1
                    else (seen[1] if seen and seen[0] == version - 1 else None)
                )
                for check, detail, order in event_faults(
                    issue, version, topic, state, prev, stored, occurred, expected_prev
                ):
                    fail(check, detail, order)
                last[issue] = (version, stored)
        result.issues = len(last)

        ledger = sql.Identifier(*LEDGER_VIEW)
        exists = conn.execute("SELECT to_regclass('qt_read.ledger') IS NOT NULL").fetchone()[0]
        sealed_positions: set[int] = set()
        prev_chain = GENESIS
        # How far the ledger has read the store: every event up to `final` was handed to
        # it, and so was every event up to its cursor in (xid, id) order. An unsealed event
        # inside either is one the application never appended (see projections/ledger.py).
        final, cursor = 0, (0, 0)
        if conn.execute("SELECT to_regclass('qt_projection_tracking') IS NOT NULL").fetchone()[0]:
            tracked = conn.execute(
                "SELECT position, cursor_xid, cursor_id FROM qt_projection_tracking WHERE name = 'ledger' AND live"
            ).fetchone()
            if tracked:
                final, cursor = tracked[0], (tracked[1], tracked[2])
        if exists:
            with conn.cursor(name="qt_verify_ledger", row_factory=dict_row) as cur:
                query = sql.SQL("SELECT * FROM {} ORDER BY seq").format(ledger)
                expected_seq = 1
                before: tuple[int, int] | None = None
                for entry in _rows(cur, query):
                    seq, position, sealed_hash, chain = (
                        entry["seq"],
                        entry["position"],
                        entry["event_hash"],
                        entry["chain_hash"],
                    )
                    l_issue, l_version = str(entry["issue_id"]), entry["version"]
                    sealed_positions.add(position)
                    at = events_at.get(position)
                    if entry.get("late"):
                        breaks.append(
                            (
                                position,
                                1,
                                Break(
                                    "ledger_late",
                                    f"ledger entry {seq} sealed an event that appeared after every event up to its"
                                    " position had been sealed (inserted afterwards)",
                                    l_issue,
                                    l_version,
                                    position,
                                ),
                            )
                        )
                    if at is not None:
                        key = (at[4], position)
                        if before is not None and key <= before:
                            breaks.append(
                                (
                                    position,
                                    1,
                                    Break(
                                        "ledger_order",
                                        f"ledger entry {seq} is out of the store's commit order",
                                        at[0],
                                        at[3],
                                        position,
                                    ),
                                )
                            )
                        before = key
                    if seq != expected_seq:
                        breaks.append(
                            (
                                position,
                                1,
                                Break(
                                    "ledger_chain",
                                    f"ledger entry {expected_seq} is missing",
                                    None,
                                    None,
                                    position,
                                ),
                            )
                        )
                    expected_seq = seq + 1
                    if at is None:
                        breaks.append(
                            (
                                position,
                                1,
                                Break(
                                    "ledger_event_missing",
                                    f"ledger entry {seq} sealed an event at position {position} that is no longer stored",
                                    l_issue,
                                    l_version,
                                    position,
                                ),
                            )
                        )
                    elif at[1] != sealed_hash:
                        breaks.append(
                            (
                                position,
                                1,
                                Break(
                                    "ledger_event_hash",
                                    f"the stored event differs from the one the ledger sealed (entry {seq})",
                                    at[0],
                                    at[3],
                                    position,
                                ),
                            )
                        )
                    if chain_hash(prev_chain, position, sealed_hash) != chain:
                        breaks.append(
                            (
                                position,
                                2,
                                Break(
                                    "ledger_chain",
                                    f"ledger entry {seq} does not chain to the entry before it",
                                    l_issue,
                                    l_version,
                                    position,
                                ),
                            )
                        )
                    prev_chain = chain
                    result.ledger_head = {"seq": seq, "position": position, "chain_hash": chain}
        result.sealed = len(sealed_positions)
        for position, (issue, _stored, _topic, version, xid) in events_at.items():
            if position in sealed_positions:
                continue
            result.unsealed += 1
            if position <= final or (xid, position) <= cursor:
                breaks.append(
                    (
                        position,
                        1,
                        Break(
                            "ledger_unsealed",
                            "an event inside the sealed range was never sealed by the ledger (inserted afterwards)",
                            issue,
                            version,
                            position,
                        ),
                    )
                )
    breaks.sort(key=lambda b: (b[0], b[1]))
    result.breaks = [b[2] for b in breaks[:max_breaks]]
    return result
