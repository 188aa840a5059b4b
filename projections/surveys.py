"""The survey lists: one row per campaign (`qt_read.surveys`) and one per response
(`qt_read.survey_responses`, pseudonymous), what `GET /surveys` and
`GET /surveys/{id}/responses` filter. A bulk import records one event per response, so
response rows and the campaigns' counters are written in bulk at the end of each batch."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from psycopg import Cursor, sql

from domain.org import Project
from domain.surveys import SurveyCampaign, SurveyResponse
from projections.base import (
    PROJECT_REGIONS_DDL,
    EventRecord,
    Projection,
    events_of,
    record_project_region,
    update_row,
)
from projections.reads import Page, Scope, keyset_page, list_page

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
        return isinstance(rec.event, HANDLED)

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:
        self._rows = []
        self._counts.clear()
        self._regions = {}

    def end_batch(self, cur: Cursor[Any], schema: str) -> None:
        self._flush(cur, schema)

    def _flush(self, cur: Cursor[Any], schema: str) -> None:
        """Write the buffered response rows, then add the buffered counts to their campaigns."""
        if self._rows:
            cur.executemany(
                f"""INSERT INTO {schema}.survey_responses (id, survey_id, survey_number,
                        respondent_ref, project, region, segment, method, status, valid, complaint,
                        source, nonconformance, nonconformance_id, recorded_at, version)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'recorded', true, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (id) DO NOTHING""",
                self._rows,
            )
            self._rows = []
        if self._counts:
            cur.executemany(
                f"""UPDATE {schema}.surveys SET responses = responses + %s,
                        invalidated = invalidated + %s, acknowledged = acknowledged + %s,
                        nonconformances = nonconformances + %s
                    WHERE id = %s""",
                [
                    (d["responses"], d["invalidated"], d["acknowledged"], d["nonconformances"], sid)
                    for sid, d in self._counts.items()
                ],
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

    def _regions_of(self, cur: Cursor[Any], schema: str, projects: list[str]) -> list[str]:
        """The sorted regions of the registered projects among `projects`."""
        return sorted({r for p in projects if (r := self._region(cur, schema, p))})

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        if isinstance(e, Project.Registered):
            record_project_region(cur, schema, rec)
            self._regions[e.code] = e.region
        elif isinstance(e, RESPONSE_EVENTS):
            self._response(cur, rec, schema)
        else:
            self._campaign(cur, rec, schema)

    # -- campaigns ---------------------------------------------------------------------
    def _campaign(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.surveys"
        if isinstance(e, SurveyCampaign.Drafted):
            cur.execute(
                f"""INSERT INTO {t} (id, number, title, party, agency, status, projects, regions,
                        segments, methods, period_start, period_end, target_sample, target_csi,
                        drafted_at, version, updated_at)
                    VALUES (%s, %s, %s, %s, %s, 'drafted', %s, %s, %s, %s, %s, %s, %s, %s,
                            %s, %s, %s)
                    ON CONFLICT (id) DO NOTHING""",
                (
                    rec.issue_id,
                    e.number,
                    e.title,
                    e.party,
                    e.agency,
                    list(e.projects),
                    self._regions_of(cur, schema, e.projects),
                    e.segments,
                    e.methods,
                    e.period["start"],
                    e.period["end"],
                    e.target_sample,
                    e.target_csi,
                    e.timestamp,
                    rec.version,
                    e.timestamp,
                ),
            )
        elif isinstance(e, SurveyCampaign.Revised):
            self._revised(cur, rec, t, schema)
        elif isinstance(e, SurveyCampaign.Submitted):
            update_row(cur, t, rec, "status = 'submitted'")
        elif isinstance(e, SurveyCampaign.Approved):
            update_row(cur, t, rec, "status = 'approved'")
        elif isinstance(e, SurveyCampaign.Rejected):
            update_row(cur, t, rec, "status = 'drafted'")
        elif isinstance(e, SurveyCampaign.Opened):
            update_row(cur, t, rec, "status = 'open', opened_at = %s", (e.timestamp,))
        elif isinstance(e, SurveyCampaign.Closed):
            update_row(cur, t, rec, "status = 'closed', closed_at = %s", (e.timestamp,))
        elif isinstance(e, SurveyCampaign.Published):
            update_row(
                cur,
                t,
                rec,
                "status = 'published', published_at = %s, csi = %s, cli = %s, n = %s",
                (e.timestamp, e.results.get("csi"), e.results.get("cli"), e.results.get("n")),
            )
        elif isinstance(e, SurveyCampaign.ResponsesImported):
            update_row(cur, t, rec, "imports = imports + 1")
        else:  # any other campaign event: only the version moves
            update_row(cur, t, rec)

    def _revised(self, cur: Cursor[Any], rec: EventRecord, t: str, schema: str) -> None:
        """A revision names only the plan fields it changes: the others keep their values
        (regions are re-derived only when the projects change)."""
        changes = rec.event.changes
        cur.execute(
            f"""SELECT title, party, agency, projects, regions, segments, methods,
                    period_start, period_end, target_sample, target_csi
                FROM {t} WHERE id = %s""",
            (rec.issue_id,),
        )
        row = cur.fetchone()
        if row is None:
            return
        title, party, agency, projects, regions, segments, methods, start, end, sample, csi = row
        if "projects" in changes:
            projects = list(changes["projects"])
            regions = self._regions_of(cur, schema, projects)
        if "period" in changes:
            start, end = changes["period"]["start"], changes["period"]["end"]
        update_row(
            cur,
            t,
            rec,
            "title = %s, party = %s, agency = %s, projects = %s, regions = %s, segments = %s,"
            " methods = %s, period_start = %s, period_end = %s, target_sample = %s,"
            " target_csi = %s",
            (
                changes.get("title", title),
                changes.get("party", party),
                changes.get("agency", agency),
                projects,
                regions,
                changes.get("segments", segments),
                changes.get("methods", methods),
                start,
                end,
                changes.get("target_sample", sample),
                changes.get("target_csi", csi),
            ),
        )

    # -- responses ---------------------------------------------------------------------
    def _response(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        e = rec.event
        t = f"{schema}.survey_responses"
        if isinstance(e, SurveyResponse.Recorded):
            survey_id = UUID(str(e.campaign_id))
            nc = e.nonconformance or {}
            self._rows.append(  # in the order of _flush's INSERT
                (
                    rec.issue_id,
                    survey_id,
                    e.campaign_number,
                    e.respondent_ref,
                    e.project,
                    self._region(cur, schema, e.project),
                    e.segment,
                    e.method,
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
        if isinstance(e, SurveyResponse.Acknowledged):
            cur.execute(
                f"""UPDATE {t} SET status = 'acknowledged', acknowledged_at = %s, version = %s
                    WHERE id = %s RETURNING survey_id""",
                (e.timestamp, rec.version, rec.issue_id),
            )
            counter = "acknowledged"
        elif isinstance(e, SurveyResponse.Invalidated):
            cur.execute(
                f"""UPDATE {t} SET status = 'invalidated', valid = false, invalidated_at = %s,
                        invalidation_reason = %s, version = %s
                    WHERE id = %s RETURNING survey_id""",
                (e.timestamp, e.reason, rec.version, rec.issue_id),
            )
            counter = "invalidated"
        else:
            return
        row = cur.fetchone()
        if row is not None:
            self._counts[UUID(str(row[0]))][counter] += 1


#: What the survey lists read: campaigns, responses, and projects (for their regions).
RESPONSE_EVENTS = events_of(SurveyResponse)
HANDLED = (Project.Registered, *events_of(SurveyCampaign), *RESPONSE_EVENTS)


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
