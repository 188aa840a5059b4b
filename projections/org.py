"""Regions and projects, for lists, scopes and roll-ups (project → region → company)."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from projections.base import EventRecord, Projection


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
        return rec.aggregate in ("Region", "Project")

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if rec.aggregate == "Region" and rec.type == "Registered":
            cur.execute(
                f"INSERT INTO {schema}.regions (code, name, id, registered_at) VALUES (%s,%s,%s,%s)"
                " ON CONFLICT (code) DO NOTHING",
                (e.code, e.name, rec.issue_id, e.timestamp),
            )
        elif rec.aggregate == "Project" and rec.type == "Registered":
            cur.execute(
                f"INSERT INTO {schema}.projects (code, name, region, households, id, registered_at)"
                " VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (code) DO NOTHING",
                (e.code, e.name, e.region, e.households, rec.issue_id, e.timestamp),
            )
