"""Integrity verifications on record, and the bounded check of the tail after the last one
(issue #17; docs/audit.md "Integrity").

A **full verification** (`store.integrity.verify_store`: every event re-hashed, both chains
walked) is expensive: it reads the whole store. It runs outside requests: `qualtrace
verify`, and periodically in the worker process (`application.integrity_watch`). Its
result is recorded in `integrity_verifications` (append-only) with the snapshot it saw:
`verified_at`, `through_position` (the largest position in it) and the transactions it
could not see (`snapshot_xip`, running at the time, and every one from `snapshot_xmax`):
positions are drawn before commit, so an event below `through_position` may become
visible later, but only from one of those transactions.

`GET /audit/integrity` serves the last recorded result and checks only the **tail**: the
events the last verification could not have seen (`notification_id > through_position`,
or written by a transaction it could not see), at most `cap` of them, oldest first. Each tail event is
re-hashed and linked to its issue's previous version (read from the store, verified by
then or in the same tail), so tampering with an event written since the last full
verification is found at once; tampering with an event the last verification already
covered is found by the next full verification (the ledger checks, too, run there).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from store.integrity import GENESIS, Break, VerifyResult, event_faults
from store.schema import EVENTS_TABLE

#: How many tail events a request re-hashes at most (`QUALTRACE_INTEGRITY_TAIL_CAP`).
DEFAULT_TAIL_CAP = 10_000


@dataclass
class Recorded:
    """The last full verification on record."""

    verified_at: Any
    through_position: int
    snapshot_xmax: int
    snapshot_xip: list[int]
    trigger: str
    seconds: float
    report: dict[str, Any]


def record(conn: Any, result: VerifyResult, trigger: str, seconds: float) -> None:
    """Keep a full verification's result (`conn` in autocommit or a transaction)."""
    conn.execute(
        "INSERT INTO integrity_verifications (verified_at, through_position, snapshot_xmax,"
        " snapshot_xip, trigger, seconds, ok, report)"
        " VALUES (%s, %s, %s::text::xid8, %s::text[]::xid8[], %s, %s, %s, %s)",
        (
            result.verified_at,
            result.through_position,
            str(result.snapshot_xmax),
            [str(x) for x in result.snapshot_xip],
            trigger,
            seconds,
            result.ok,
            Jsonb(result.as_dict()),
        ),
    )


def verify_and_record(
    connect: Callable[[], Any],
    verify: Callable[[Any], VerifyResult],
    trigger: str,
) -> tuple[VerifyResult, float]:
    """Run a full verification on a connection of its own and record it."""
    started = time.monotonic()
    with connect() as conn:
        result = verify(conn)
        seconds = round(time.monotonic() - started, 3)
        record(conn, result, trigger, seconds)
    return result, seconds


def last(conn: Any) -> Recorded | None:
    row = conn.execute(
        "SELECT verified_at, through_position, snapshot_xmax::text, snapshot_xip::text[],"
        " trigger, seconds, report"
        " FROM integrity_verifications ORDER BY verified_at DESC, id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    report = values[6] if isinstance(values[6], dict) else json.loads(values[6])
    return Recorded(
        values[0],
        int(values[1]),
        int(values[2]),
        [int(x) for x in values[3]],
        str(values[4]),
        float(values[5]),
        report,
    )


@dataclass
class Tail:
    after_position: int
    through_position: int = 0
    events: int = 0
    new_events: int = 0
    complete: bool = True
    breaks: list[Break] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "after_position": self.after_position,
            "through_position": self.through_position,
            "events": self.events,
            "new_events": self.new_events,
            "complete": self.complete,
            "ok": not self.breaks,
            "first_broken_link": self.breaks[0].as_dict() if self.breaks else None,
        }


def verify_tail(
    conn: Any,
    after: int,
    xmax: int | None,
    xip: list[int],
    cap: int = DEFAULT_TAIL_CAP,
    schema: str = "public",
    table: str = EVENTS_TABLE,
) -> Tail:
    """Re-hash the events a verification as of (`after`, `xmax`, `xip`) could not have
    seen, at most `cap` of them, and link each to its issue's previous version (`xmax`
    None: no verification, every event from `after` on)."""
    events = sql.Identifier(schema, table)
    tail = Tail(after_position=after, through_position=after)
    rows = conn.execute(
        sql.SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic, state,"
            " prev_hash, event_hash, occurred_at FROM {} WHERE notification_id > %s"
            " OR xid >= %s::text::xid8 OR xid = ANY(%s::text[]::xid8[])"
            " ORDER BY notification_id LIMIT %s"
        ).format(events),
        (after, str(xmax) if xmax is not None else None, [str(x) for x in xip], cap + 1),
    ).fetchall()
    rows = [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]
    if len(rows) > cap:
        rows, tail.complete = rows[:cap], False
    # The hash of each issue's version before its first one in the tail, from the store.
    first: dict[str, int] = {}
    for _, issue, version, *_ in rows:
        first.setdefault(issue, version)
    wanted = [(i, v - 1) for i, v in first.items() if v > 1]
    known: dict[tuple[str, int], str | None] = {}
    if wanted:
        found = conn.execute(
            sql.SQL(
                "SELECT e.originator_id::text, e.originator_version, e.event_hash FROM {} e"
                " JOIN unnest(%s::uuid[], %s::int[]) AS w(id, v)"
                " ON e.originator_id = w.id AND e.originator_version = w.v"
            ).format(events),
            ([i for i, _ in wanted], [v for _, v in wanted]),
        ).fetchall()
        for r in found:
            issue, version, stored = tuple(r.values()) if isinstance(r, dict) else tuple(r)
            known[(issue, int(version))] = stored
    for position, issue, version, topic, state, prev, stored, occurred in rows:
        tail.events += 1
        tail.new_events += position > after
        tail.through_position = max(tail.through_position, position)

        def fail(
            check: str, detail: str, p: int = position, i: str = issue, v: int = version
        ) -> None:
            tail.breaks.append(Break(check, detail, i, v, p))

        if version > 1 and (issue, version - 1) not in known:
            fail("version_sequence", f"version {version - 1} of this issue is not stored")
        expected_prev = GENESIS if version == 1 else known.get((issue, version - 1))
        for check, detail, _ in event_faults(
            issue, version, topic, state, prev, stored, occurred, expected_prev
        ):
            fail(check, detail)
        known[(issue, version)] = stored
    return tail


def report(recorded: Recorded | None, tail: Tail) -> dict[str, Any]:
    """The answer of `GET /audit/integrity`: the last verification's report (its fields
    unchanged), with the tail's findings folded in, when it ran and how far it reached."""
    base: dict[str, Any] = (
        dict(recorded.report)
        if recorded
        else {
            "ok": True,
            "events": 0,
            "issues": 0,
            "sealed": 0,
            "unsealed": 0,
            "ledger_head": None,
            "first_broken_link": None,
            "broken_links": [],
        }
    )
    tail_breaks = [b.as_dict() for b in tail.breaks]
    base["ok"] = bool(base["ok"]) and not tail_breaks
    base["events"] = int(base["events"]) + tail.new_events
    base["first_broken_link"] = base.get("first_broken_link") or (
        tail_breaks[0] if tail_breaks else None
    )
    base["broken_links"] = [*base.get("broken_links", []), *tail_breaks][:100]
    base["verified_at"] = recorded.verified_at.isoformat() if recorded else None
    base["through_position"] = recorded.through_position if recorded else None
    base["verified_by"] = recorded.trigger if recorded else None
    base["tail"] = tail.as_dict()
    return base
