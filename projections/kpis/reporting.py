"""The reporting schema for BI tools: plain views over the KPI facts, every view and
column commented, readable by one read-only role and nothing else.

- `reporting.<prefix>_facts`: one row per ticket / inspection / nonconformance / survey
  response, without personal data, with local month/quarter/year columns.
- `reporting.<prefix>_kpis_<level>_<period>`: the KPI figures per project, region or the
  company (level) and month, quarter or year (period) — the same SQL as `GET /kpis/...`.

Views are (re)created by a publish hook (`publish_reporting_views`) whenever a KPI projection publishes a
generation (setup and every rebuild, in the switching transaction), so they always
read the live generation. Role `qualtrace_reporting` is NOLOGIN unless a password is
configured (`QUALTRACE_REPORTING_PASSWORD`), then LOGIN with that password.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import psycopg
from psycopg import errors, sql

from projections.kpis.facts import FactProjection
from projections.kpis.query import kpi_query
from projections.kpis.spec import TIME_DOC, KpiSpec
from store.schema import REPORTING_VIEW_HASHES

log = logging.getLogger("qualtrace.reporting")

SCHEMA = "reporting"
ROLE = "qualtrace_reporting"
LEVELS = ("project", "region", "company")
PERIODS = ("month", "quarter", "year")

LEVEL_DOC = {
    "project": "Project code.",
    "region": "Region code (city company / branch).",
}


def ensure_role(conn: psycopg.Connection[Any], password: str | None = None) -> bool:
    """Create the reporting role (NOLOGIN, or LOGIN with `password`) and grant it the
    reporting schema. Returns False when the database user may not manage roles."""
    try:
        with conn.transaction():
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
            if not exists:
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(ROLE)))
                except (errors.DuplicateObject, errors.UniqueViolation):
                    pass  # created meanwhile by another database's setup on this server
            if password:
                conn.execute(
                    sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(ROLE), sql.Literal(password)
                    )
                )
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(conn.info.dbname), sql.Identifier(ROLE)
                )
            )
            conn.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(ROLE)
                )
            )
            conn.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(ROLE)
                )
            )
            conn.execute(
                sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                    sql.Identifier(SCHEMA),
                    sql.Literal(
                        "Qualtrace KPI views for BI tools (read-only role qualtrace_reporting). "
                        "Months, quarters and years are calendar periods in the company time zone."
                    ),
                )
            )
    except errors.InsufficientPrivilege as e:
        log.warning("cannot set up role %s: %s", ROLE, e)
        return False
    return True


def view_names(spec: KpiSpec) -> list[str]:
    return (
        [spec.facts_view or f"{spec.prefix}_facts"]
        + [fv.name for fv in spec.fact_views]
        + [f"{spec.prefix}_kpis_{lv}_{p}" for lv in LEVELS for p in PERIODS]
        + [ev.name for ev in spec.extra_views]
    )


def _comment_view(
    conn: psycopg.Connection[Any], view: str, doc: str, columns: dict[str, str]
) -> None:
    ident = sql.Identifier(SCHEMA, view)
    conn.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(ident, sql.Literal(doc)))
    for col, text in columns.items():
        conn.execute(
            sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                ident, sql.Identifier(col), sql.Literal(text)
            )
        )


def publish_reporting_views(
    conn: psycopg.Connection[Any], projection: Any, generation: int
) -> None:
    """Publish hook (`store.generations.publish_read_views`, passed by the composition
    root): (re)create the reporting views of a KPI projection."""
    if not isinstance(projection, FactProjection) or projection.SPEC is None:
        return
    spec = projection.SPEC
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
    now_local = sql.SQL("(now() AT TIME ZONE {})").format(sql.Literal(projection.timezone))

    # One row per fact, plain columns only.
    facts_view = spec.facts_view or f"{spec.prefix}_facts"
    cols = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.SQL(spec.fact_exprs.get(c, f'"{c}"')), sql.Identifier(c))
        for c in spec.fact_docs
    )
    if _replace(
        conn,
        facts_view,
        sql.SQL("SELECT {} FROM {}").format(cols, sql.Identifier("qt_read", spec.facts)),
    ):
        _comment_view(
            conn,
            facts_view,
            f"One row per {spec.unit} (no personal data); the grain the {spec.kind} KPIs are computed from. "
            f"Local times are in {projection.timezone}.",
            spec.fact_docs,
        )
    for fv in spec.fact_views:
        cols = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(sql.SQL(fv.exprs.get(c, f'"{c}"')), sql.Identifier(c))
            for c in fv.docs
        )
        if not _replace(
            conn,
            fv.name,
            sql.SQL("SELECT {} FROM {}").format(cols, sql.Identifier("qt_read", fv.table)),
        ):
            continue
        _comment_view(
            conn,
            fv.name,
            f"One row per {fv.unit} (no personal data). Local times are in {projection.timezone}.",
            fv.docs,
        )
    measures = {m.name: m.doc for m in spec.measures}
    dim_docs = {**LEVEL_DOC, **TIME_DOC, **spec.dim_docs}
    for level in LEVELS:
        for period in PERIODS:
            name = f"{spec.prefix}_kpis_{level}_{period}"
            group = ([level] if level != "company" else []) + [period]
            if level == "project":
                group = ["project", "region", period]
            if not _replace(conn, name, kpi_query(spec, group, end=now_local)):
                continue
            docs = {g: LEVEL_DOC.get(g) or TIME_DOC[g] for g in group}
            docs.update(measures)
            where = "the whole company" if level == "company" else f"each {level}"
            _comment_view(
                conn,
                name,
                f"{spec.kind.capitalize()} KPIs for {where} by {period} ({projection.timezone}); "
                f"same figures as GET /kpis/{spec.kind}?group_by={','.join(group)}.",
                docs,
            )
    for ev in spec.extra_views:
        query = kpi_query(spec, list(ev.group), end=now_local)
        if not _replace(conn, ev.name, query):
            continue
        cols = [
            d.name
            for d in conn.execute(
                sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(SCHEMA, ev.name))
            ).description
            or ()
        ]
        _comment_view(
            conn,
            ev.name,
            f"{ev.doc} ({projection.timezone}); same figures as GET /kpis/{spec.kind}?group_by={','.join(ev.group)}.",
            {c: dim_docs.get(c) or measures[c] for c in cols},
        )


def _role_exists(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone() is not None


def _replace(conn: psycopg.Connection[Any], view: str, query: sql.Composable) -> bool:
    """Create or replace a reporting view unless it exists with this very SQL; return
    whether it was (re)created (then it needs its comments and grant).

    A rebuild leaves the reporting views alone (their SQL reads the stable `qt_read` views,
    which the switch replaces in place): locking them in the switching transaction would
    take locks in the opposite order to a BI tool's query and could deadlock with it."""
    digest = hashlib.sha256(query.as_string(conn).encode()).hexdigest()
    ident = sql.Identifier(SCHEMA, view)
    conn.execute(REPORTING_VIEW_HASHES)
    exists = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{view}",)).fetchone()
    if exists and exists[0] is not None:
        row = conn.execute(
            "SELECT sql_hash FROM qt_reporting_views WHERE name = %s", (view,)
        ).fetchone()
        if row and row[0] == digest:
            return False
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(ident, query))
        except errors.InvalidTableDefinition:  # its columns changed
            conn.execute(sql.SQL("DROP VIEW {}").format(ident))
            conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(ident, query))
    else:
        conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(ident, query))
    conn.execute(
        "INSERT INTO qt_reporting_views (name, sql_hash) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET sql_hash = EXCLUDED.sql_hash",
        (view, digest),
    )
    if _role_exists(conn):
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, sql.Identifier(ROLE)))
    return True
