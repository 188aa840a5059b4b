"""The survey lists: one row per campaign (`qt_read.surveys`) and one per response
(`qt_read.survey_responses`, pseudonymous), what `GET /surveys` and
`GET /surveys/{id}/responses` filter. A bulk import records one event per response, so
response rows and the campaigns' counters are written in bulk at the end of each batch."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from psycopg import Cursor, sql

from projections.base import PROJECT_REGIONS_DDL, EventRecord, Projection, record_project_region
from projections.reads import Page, Scope, keyset_page, list_page

_RESPONSE_COLUMNS = (
    "id",
    "survey_id",
    "survey_number",
    "respondent_ref",
    "project",
    "region",
    "segment",
    "method",
    "status",
    "valid",
    "complaint",
    "source",
    "nonconformance",
    "nonconformance_id",
    "recorded_at",
    "version",
)
_COUNTERS = ("responses", "invalidated", "acknowledged", "nonconformances")


class SurveyListProjection(Projection):
    name = "surveys"
    tables = [
        """CREATE TABLE {schema}.surveys (
            id uuid PRIMARY KEY,
            number text NOT NULL UNIQUE,
            title text NOT NULL,
            party text NOT NULL,
            agency text,
            status text NOT NULL,
            projects text[] NOT NULL,
            regions text[] NOT NULL,
            segments text[] NOT NULL,
            methods text[] NOT NULL,
            period_start date,
            period_end date,
            target_sample int NOT NULL,
            target_csi double precision NOT NULL,
            responses int NOT NULL DEFAULT 0,
            invalidated int NOT NULL DEFAULT 0,
            acknowledged int NOT NULL DEFAULT 0,
            nonconformances int NOT NULL DEFAULT 0,
            imports int NOT NULL DEFAULT 0,
            csi double precision,
            cli double precision,
            n int,
            drafted_at timestamptz NOT NULL,
            opened_at timestamptz,
            closed_at timestamptz,
            published_at timestamptz,
            version int NOT NULL,
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX ON {schema}.surveys (drafted_at)",
        """CREATE TABLE {schema}.survey_responses (
            id uuid PRIMARY KEY,
            survey_id uuid NOT NULL,
            survey_number text NOT NULL,
            respondent_ref text NOT NULL,
            project text NOT NULL,
            region text,
            segment text NOT NULL,
            method text NOT NULL,
            status text NOT NULL,
            valid boolean NOT NULL,
            complaint boolean NOT NULL,
            source text NOT NULL,
            nonconformance text,
            nonconformance_id uuid,
            recorded_at timestamptz NOT NULL,
            acknowledged_at timestamptz,
            invalidated_at timestamptz,
            invalidation_reason text,
            version int NOT NULL)""",
        "CREATE INDEX ON {schema}.survey_responses (survey_id, recorded_at)",
        PROJECT_REGIONS_DDL,
    ]
    views = ["surveys", "survey_responses"]

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] = []
        self._counts: dict[UUID, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTERS, 0))
        self._regions: dict[str, str] = {}

    def handles(self, rec: EventRecord) -> bool:
        return rec.aggregate in ("SurveyCampaign", "SurveyResponse", "Project")

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:
        self._rows = []
        self._counts.clear()
        self._regions = {}

    def end_batch(self, cur: Cursor[Any], schema: str) -> None:
        self._flush(cur, schema)

    def _flush(self, cur: Cursor[Any], schema: str) -> None:
        if self._rows:
            cols = ", ".join(_RESPONSE_COLUMNS)
            marks = ", ".join(["%s"] * len(_RESPONSE_COLUMNS))
            cur.executemany(
                f"INSERT INTO {schema}.survey_responses ({cols}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",
                self._rows,
            )
            self._rows = []
        if self._counts:
            sets = ", ".join(f"{c} = {c} + %s" for c in _COUNTERS)
            cur.executemany(
                f"UPDATE {schema}.surveys SET {sets} WHERE id = %s",
                [(*(d[c] for c in _COUNTERS), sid) for sid, d in self._counts.items()],
            )
            self._counts.clear()

    def _region(self, cur: Cursor[Any], schema: str, project: str) -> str | None:
        if project not in self._regions:
            cur.execute(
                f"SELECT region FROM {schema}.project_regions WHERE project = %s", (project,)
            )
            row = cur.fetchone()
            if row is None:
                return None
            self._regions[project] = row[0]
        return self._regions[project]

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if rec.aggregate == "Project":
            if rec.type == "Registered":
                record_project_region(cur, schema, rec)
                self._regions[e.code] = e.region
            return
        if rec.aggregate == "SurveyResponse":
            self._response(cur, rec, schema)
        else:
            self._campaign(cur, rec, schema)

    # -- campaigns ---------------------------------------------------------------------
    def _plan(self, cur: Cursor[Any], schema: str, plan: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in (
            "title",
            "party",
            "agency",
            "segments",
            "methods",
            "target_sample",
            "target_csi",
        ):
            if key in plan:
                out[key] = plan[key]
        if "projects" in plan:
            out["projects"] = list(plan["projects"])
            out["regions"] = sorted(
                {r for p in plan["projects"] if (r := self._region(cur, schema, p))}
            )
        if "period" in plan:
            out["period_start"] = plan["period"]["start"]
            out["period_end"] = plan["period"]["end"]
        return out

    def _campaign(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.surveys"
        if rec.type == "Drafted":
            row = self._plan(
                cur,
                schema,
                {
                    k: getattr(e, k)
                    for k in (
                        "title",
                        "party",
                        "agency",
                        "segments",
                        "methods",
                        "target_sample",
                        "target_csi",
                        "projects",
                        "period",
                    )
                },
            )
            row.update(
                id=rec.issue_id,
                number=e.number,
                status="drafted",
                drafted_at=e.timestamp,
                version=rec.version,
                updated_at=e.timestamp,
            )
            cols = list(row)
            cur.execute(
                f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
                " ON CONFLICT (id) DO NOTHING",
                [row[c] for c in cols],
            )
            return
        sets: dict[str, Any] = {}
        if rec.type == "Revised":
            sets = self._plan(cur, schema, e.changes)
        elif rec.type in ("Submitted", "Approved"):
            sets = {"status": rec.type.lower()}
        elif rec.type == "Rejected":
            sets = {"status": "drafted"}
        elif rec.type == "Opened":
            sets = {"status": "open", "opened_at": e.timestamp}
        elif rec.type == "Closed":
            sets = {"status": "closed", "closed_at": e.timestamp}
        elif rec.type == "Published":
            sets = {
                "status": "published",
                "published_at": e.timestamp,
                "csi": e.results.get("csi"),
                "cli": e.results.get("cli"),
                "n": e.results.get("n"),
            }
        elif rec.type == "ResponsesImported":
            sets = {"imports": ("add", 1)}
        sets["version"] = rec.version
        sets["updated_at"] = e.timestamp
        clauses, params = [], []
        for col, val in sets.items():
            if isinstance(val, tuple):
                clauses.append(f"{col} = {col} + %s")
                params.append(val[1])
            else:
                clauses.append(f"{col} = %s")
                params.append(val)
        params.append(rec.issue_id)
        cur.execute(f"UPDATE {t} SET {', '.join(clauses)} WHERE id = %s", params)

    # -- responses ---------------------------------------------------------------------
    def _response(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if rec.type == "Recorded":
            survey_id = UUID(str(e.campaign_id))
            nc = e.nonconformance or {}
            self._rows.append(
                (
                    rec.issue_id,
                    survey_id,
                    e.campaign_number,
                    e.respondent_ref,
                    e.project,
                    self._region(cur, schema, e.project),
                    e.segment,
                    e.method,
                    "recorded",
                    True,
                    bool(e.complaint),
                    str((e.source or {}).get("type", "single")),
                    nc.get("number"),
                    nc.get("id"),
                    e.timestamp,
                    rec.version,
                )
            )
            counts = self._counts[survey_id]
            counts["responses"] += 1
            if nc:
                counts["nonconformances"] += 1
            return
        self._flush(cur, schema)  # the row may still be in the buffer
        if rec.type == "Acknowledged":
            cur.execute(
                f"UPDATE {schema}.survey_responses SET status = 'acknowledged', acknowledged_at = %s, version = %s"
                " WHERE id = %s RETURNING survey_id",
                (e.timestamp, rec.version, rec.issue_id),
            )
            counter = "acknowledged"
        elif rec.type == "Invalidated":
            cur.execute(
                f"UPDATE {schema}.survey_responses SET status = 'invalidated', valid = false, invalidated_at = %s,"
                " invalidation_reason = %s, version = %s WHERE id = %s RETURNING survey_id",
                (e.timestamp, e.reason, rec.version, rec.issue_id),
            )
            counter = "invalidated"
        else:
            return
        row = cur.fetchone()
        if row is not None:
            self._counts[UUID(str(row[0]))][counter] += 1


# -- reads ---------------------------------------------------------------------------------
def list_surveys(
    pool: Any,
    scope: Scope,
    status: str | None,
    party: str | None,
    project: str | None,
    limit: int,
    after: Any = None,
) -> Page:
    """Campaigns that include a project in the caller's scope, newest drafted first."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    projects, region = scope
    if projects is not None or region is not None:
        where.append(sql.SQL("(projects && %s::text[] OR %s = ANY(regions))"))
        params += [list(projects or []), region]
    if status is not None:
        where.append(sql.SQL("status = %s"))
        params.append(status)
    if party is not None:
        where.append(sql.SQL("party = %s"))
        params.append(party)
    if project is not None:
        where.append(sql.SQL("%s = ANY(projects)"))
        params.append(project)
    return keyset_page(pool, "surveys", where, params, "drafted_at", limit, after)


def list_responses(
    pool: Any, scope: Scope, filters: dict[str, Any], limit: int, after: Any = None
) -> Page:
    """A campaign's responses in the caller's scope, newest recorded first."""
    return list_page(pool, "survey_responses", scope, filters, "recorded_at", limit, after)
