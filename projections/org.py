"""Regions and projects, for lists, scopes and roll-ups (project → region → company)."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from domain.org import Project, Region
from projections.base import EventRecord, Projection
from projections.reads import Row, Scope, fetch_all, scope_clause


class OrgProjection(Projection):
    name = "org"
    tables = [
        """CREATE TABLE {schema}.regions (
            code text PRIMARY KEY, name text NOT NULL, id uuid NOT NULL,
            registered_at timestamptz NOT NULL)""",
        """CREATE TABLE {schema}.projects (
            code text PRIMARY KEY, name text NOT NULL, region text NOT NULL, households int,
            id uuid NOT NULL, registered_at timestamptz NOT NULL)""",
    ]
    views = ["regions", "projects"]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, (Region.Registered, Project.Registered))

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if isinstance(e, Region.Registered):
            cur.execute(
                f"""INSERT INTO {schema}.regions (code, name, id, registered_at)
                    VALUES (%s, %s, %s, %s) ON CONFLICT (code) DO NOTHING""",
                (e.code, e.name, rec.issue_id, e.timestamp),
            )
        elif isinstance(e, Project.Registered):
            cur.execute(
                f"""INSERT INTO {schema}.projects (code, name, region, households, id, registered_at)
                    VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (code) DO NOTHING""",
                (e.code, e.name, e.region, e.households, rec.issue_id, e.timestamp),
            )


# -- reads ---------------------------------------------------------------------------------
def list_regions(pool: Any, scope: Scope) -> list[Row]:
    """Regions the caller sees: all, or their region and the regions of their projects."""
    projects, region = scope
    if projects is None and region is None:
        return fetch_all(
            pool, "SELECT code, name, id, registered_at FROM qt_read.regions ORDER BY code"
        )
    return fetch_all(
        pool,
        """SELECT r.code, r.name, r.id, r.registered_at FROM qt_read.regions r
            WHERE r.code = %s OR r.code IN (SELECT region FROM qt_read.projects WHERE code = ANY(%s))
            ORDER BY code""",
        (region, list(projects or [])),
    )


def list_projects(pool: Any, scope: Scope, region: str | None = None) -> list[Row]:
    """Projects in the caller's scope (in one region, when given)."""
    where, params = scope_clause(scope, "code", "region")
    query = sql.SQL(
        "SELECT code, name, region, households, id, registered_at FROM qt_read.projects WHERE {}"
    ).format(where)
    if region:
        query += sql.SQL(" AND region = %s")
        params.append(region)
    return fetch_all(pool, query + sql.SQL(" ORDER BY code"), params)
