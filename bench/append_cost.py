"""Server cost of one appended row, inside PostgreSQL: µs per row of a `DO` loop of
single-row INSERTs (no client, no network, so the machine's load moves it little; the
minimum of `--passes` passes is reported), into

- `raw_events`: the bench's raw table (`bench/appends.py`: same columns, primary key and
  notification-id index, no trigger);
- the events table as shipped (`QualtraceRecorder`: xid column and index, the hash-chain
  trigger `qt_event_hash`, the immutability triggers), first events of new issues
  (version 1, no previous-hash lookup) and then a 1,000-event chain of one issue (each
  looks the previous hash up);
- the same table with the trigger function replaced by each `--variant` (functions
  below), which must give every row the same `prev_hash`, `event_hash` and
  `occurred_at` as the shipped one (checked, or the variant is reported as WRONG).

    .venv/bin/python -m bench.append_cost [--admin-url URL] [--rows 4000] [--passes 3]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql

from bench.common import with_db

ZEROS = "'" + "0" * 64 + "'"

#: The shipped trigger function (store/schema.py) is always measured as "shipped".
#: Variants: name -> (the function's SQL, as in store/schema.py with `{schema}`/`{table}`;
#: whether it must give identical values). The others only attribute the cost.
VARIANTS: dict[str, tuple[str, bool]] = {
    # The function shipped before 2026-12-01 10:40 UTC: the previous-hash lookup inside
    # the assignment (a CASE holding a subquery made every assignment, version 1 too, a
    # full query through SPI instead of a simple expression).
    "before": (
        """CREATE OR REPLACE FUNCTION {schema}.qt_event_hash() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.prev_hash := CASE WHEN NEW.originator_version = 1 THEN repeat('0', 64) ELSE coalesce(
                (SELECT e.event_hash FROM {schema}.{table} e
                  WHERE e.originator_id = NEW.originator_id
                    AND e.originator_version = NEW.originator_version - 1),
                repeat('0', 64)) END;
            NEW.event_hash := encode(sha256(convert_to(
                NEW.originator_id::text || E'\\n' || NEW.originator_version::text || E'\\n'
                || coalesce(NEW.topic, '') || E'\\n' || NEW.prev_hash || E'\\n'
                || encode(sha256(coalesce(NEW.state, ''::bytea)), 'hex'), 'UTF8')), 'hex');
            NEW.occurred_at := {schema}.qt_event_time(NEW.state);
            RETURN NEW;
        END $$""",
        True,
    ),
    "no_hash": (
        """CREATE OR REPLACE FUNCTION {schema}.qt_event_hash() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            NEW.occurred_at := {schema}.qt_event_time(NEW.state); RETURN NEW; END $$""",
        False,
    ),
    "empty": (
        """CREATE OR REPLACE FUNCTION {schema}.qt_event_hash() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$""",
        False,
    ),
}

STATE_SQL = (
    'convert_to(\'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-05T01:00:00.123456+00:00"},'
    '"actor":{"id":"bench","name":"Bench","role":"front_desk"},'
    '"correlation_id":"bench","description":"卫生间水管漏水，楼下天花板渗水 \' || i || \'"}\', \'UTF8\')'
)


def loop(conn: psycopg.Connection[Any], table: str, rows: int, chain: bool) -> float:
    """µs per row of one DO loop inserting `rows` rows (new issues, or one issue's chain)."""
    oid = "gen_random_uuid()" if not chain else f"'{uuid.uuid4()}'::uuid"
    version = "1" if not chain else "i"
    xid = ", pg_current_xact_id()" if table != "raw_events" else ""
    cols = "originator_id, originator_version, topic, state" + (", xid" if xid else "")
    body = (
        f"DO $$ BEGIN FOR i IN 1..{rows} LOOP INSERT INTO {table} ({cols}) VALUES"
        f" ({oid}, {version}, 'domain.tickets:Ticket.NoteAdded', {STATE_SQL}{xid});"
        " END LOOP; END $$"
    )
    started = time.perf_counter()
    conn.execute(body)
    return (time.perf_counter() - started) * 1e6 / rows


def measure(conn: psycopg.Connection[Any], table: str, rows: int, passes: int) -> dict[str, float]:
    out = {}
    for chain in (False, True):
        out["chain" if chain else "new"] = round(
            min(loop(conn, table, rows, chain) for _ in range(passes)), 1
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--admin-url", default=None, help="default: a private cluster (as bench.run)")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    private = None
    if args.admin_url is None:
        from bench.run import PrivateServer

        private = PrivateServer(27000 + os.getpid() % 1000)
        args.admin_url = private.url
    try:
        run(args)
    finally:
        if private is not None:
            private.stop()


def run(args: argparse.Namespace) -> None:
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    scratch = f"qt_cost_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    url = with_db(args.admin_url, scratch)
    try:
        c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=True)
        table = c.app.recorder.events_table_name  # type: ignore[attr-defined]
        c.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("""CREATE TABLE raw_events (
                originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text NOT NULL,
                state bytea NOT NULL, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))""")
            conn.execute("CREATE UNIQUE INDEX raw_events_nid ON raw_events (notification_id)")
            print(
                f"load average {os.getloadavg()}; {args.rows} rows per loop, min of {args.passes}"
            )
            print(f"{'table':<12} {'new issue µs/row':>17} {'chain µs/row':>13}")
            for name, target in (("raw", "raw_events"), ("shipped", table)):
                m = measure(conn, target, args.rows, args.passes)
                print(f"{name:<12} {m['new']:>17} {m['chain']:>13}")
            from store.schema import EVENT_STORE

            shipped_fn = next(d for d in EVENT_STORE if "qt_event_hash() RETURNS trigger" in d)
            for name, (body, identical) in VARIANTS.items():
                before = conn.execute(
                    f"SELECT coalesce(max(notification_id), 0) FROM {table}"
                ).fetchone()
                conn.execute(body.format(schema="public", table=table))
                try:
                    m = measure(conn, table, args.rows, args.passes)
                finally:
                    conn.execute(shipped_fn.format(schema="public", table=table))
                wrong = mismatches(conn, table, before[0] if before else 0) if identical else None
                verdict = (
                    "" if wrong is None else ("identical" if wrong == 0 else f"WRONG: {wrong} rows")
                )
                print(f"{name:<12} {m['new']:>17} {m['chain']:>13}  {verdict}")
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )


def mismatches(conn: psycopg.Connection[Any], table: str, after: int) -> int:
    """Rows after `after` whose prev_hash, event_hash or occurred_at differ from what the
    shipped trigger computes (the formula of store/schema.py and store/integrity.py)."""
    row = conn.execute(
        f"""SELECT count(*) FROM {table} n
            LEFT JOIN {table} p ON p.originator_id = n.originator_id
                               AND p.originator_version = n.originator_version - 1
            WHERE n.notification_id > %s AND (
                n.prev_hash IS DISTINCT FROM coalesce(p.event_hash, repeat('0', 64))
             OR n.event_hash IS DISTINCT FROM encode(sha256(convert_to(
                    n.originator_id::text || E'\\n' || n.originator_version::text || E'\\n'
                    || coalesce(n.topic, '') || E'\\n' || n.prev_hash || E'\\n'
                    || encode(sha256(coalesce(n.state, ''::bytea)), 'hex'), 'UTF8')), 'hex')
             OR n.occurred_at IS DISTINCT FROM public.qt_event_time(n.state))""",
        (after,),
    ).fetchone()
    return int(row[0]) if row else -1


if __name__ == "__main__":
    main()
