"""Early warnings: one row per warning (`GET /warnings`), and the warning counts the KPIs
show (`GET /kpis/warnings`: by rule, project, region, month, status, severity)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from domain.warnings import EarlyWarning
from projections.base import EventRecord, Projection, events_of, update_row
from projections.reads import Page, Row, Scope, fetch_all, list_page


class WarningListProjection(Projection):
    name = "warnings"
    tables = [
        """CREATE TABLE {schema}.warnings (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            rule text NOT NULL,
            rule_kind text NOT NULL,
            title text NOT NULL,
            severity text NOT NULL,
            subject text NOT NULL,
            subject_label text NOT NULL,
            project text,
            region text,
            period text NOT NULL,
            figures jsonb NOT NULL,
            message text NOT NULL,
            status text NOT NULL,
            raised_at timestamptz NOT NULL,
            acknowledged_at timestamptz,
            acknowledged_by text,
            resolved_at timestamptz,
            resolved_by text,
            resolution text,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.warnings (project, raised_at)",
        "CREATE INDEX ON {schema}.warnings (raised_at)",
    ]
    views = ["warnings"]

    def handles(self, rec: EventRecord) -> bool:
        return isinstance(rec.event, HANDLED)

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.warnings"
        if isinstance(e, EarlyWarning.WarningRaised):
            cur.execute(
                f"""INSERT INTO {t} (id, number, rule, rule_kind, title, severity, subject,
                        subject_label, project, region, period, figures, message, status,
                        raised_at, version, updated_at)
                    VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,'raised',%s,%s,%s)
                    ON CONFLICT (id) DO NOTHING""",
                (
                    rec.issue_id,
                    e.number,
                    e.rule["id"],
                    e.rule["kind"],
                    e.rule.get("title", e.rule["id"]),
                    e.rule.get("severity", "major"),
                    e.subject,
                    e.subject_label,
                    e.project,
                    e.region,
                    e.period,
                    Jsonb(e.figures),
                    e.message,
                    e.timestamp,
                    rec.version,
                    e.timestamp,
                ),
            )
        elif isinstance(e, EarlyWarning.WarningAcknowledged):
            update_row(
                cur,
                t,
                rec,
                "status = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s",
                (e.timestamp, e.actor.get("name")),
            )
        elif isinstance(e, EarlyWarning.WarningResolved):
            update_row(
                cur,
                t,
                rec,
                "status = 'resolved', resolved_at = %s, resolved_by = %s, resolution = %s",
                (e.timestamp, e.actor.get("name"), e.note),
            )


HANDLED = events_of(EarlyWarning)


# -- reads ---------------------------------------------------------------------------------
def list_warnings(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """Warnings in the caller's scope, newest first."""
    return list_page(pool, "warnings", scope, filters, "raised_at", limit, after)


#: What `GET /kpis/warnings` may group by -> its SQL expression.
GROUPS = {
    "rule": sql.SQL("rule"),
    "project": sql.SQL("project"),
    "region": sql.SQL("region"),
    "severity": sql.SQL("severity"),
    "status": sql.SQL("status"),
    "month": sql.SQL("to_char(raised_at AT TIME ZONE %(tz)s, 'YYYY-MM')"),
}


def warning_counts(
    pool: Any,
    scope: Scope,
    group_by: list[str],
    timezone: str,
    start: datetime | None = None,
    end: datetime | None = None,
    project: str | None = None,
) -> list[Row]:
    """How many warnings were raised (and how many are still open) per group."""
    named: dict[str, Any] = {"tz": timezone, "start": start, "end": end, "project": project}
    # The caller's scope as `scope_clause` makes it, with named parameters.
    scope_parts = []
    projects, region = scope
    if projects is not None or region is not None:
        if projects:
            scope_parts.append(sql.SQL("project = ANY(%(projects)s)"))
            named["projects"] = list(projects)
        if region:
            scope_parts.append(sql.SQL("region = %(region)s"))
            named["region"] = region
    scope_sql = (
        sql.SQL("(") + sql.SQL(" OR ").join(scope_parts) + sql.SQL(")")
        if scope_parts
        else sql.SQL("TRUE")
    )
    cols = [sql.SQL("{} AS {}").format(GROUPS[g], sql.Identifier(g)) for g in group_by]
    query = sql.SQL(
        """SELECT {cols} count(*) AS raised,
                  count(*) FILTER (WHERE status <> 'resolved') AS open,
                  count(*) FILTER (WHERE status = 'acknowledged') AS acknowledged,
                  count(*) FILTER (WHERE status = 'resolved') AS resolved
             FROM qt_read.warnings
            WHERE {scope}
              AND (%(start)s::timestamptz IS NULL OR raised_at >= %(start)s)
              AND (%(end)s::timestamptz IS NULL OR raised_at < %(end)s)
              AND (%(project)s::text IS NULL OR project = %(project)s)
            {group} ORDER BY {order}"""
    ).format(
        cols=sql.SQL(", ").join(cols) + sql.SQL(",") if cols else sql.SQL(""),
        scope=scope_sql,
        group=sql.SQL("GROUP BY ") + sql.SQL(", ").join(GROUPS[g] for g in group_by)
        if group_by
        else sql.SQL(""),
        order=sql.SQL(", ").join(sql.SQL(str(i + 1)) for i in range(len(group_by)))
        if group_by
        else sql.SQL("1"),
    )
    return fetch_all(pool, query, named)
