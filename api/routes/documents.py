"""Printable documents (PDF), each read with the same action and scope as its JSON:
an issue outside the caller's scope is 404 exactly like the JSON. Every document states
the store positions and hash-chain heads it was built from (docs/documents.md)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder

from api.deps import Container, QualtraceApp, QueryCall, ReadPosition
from api.documents.assessment import assessment_sheet
from api.documents.circular import circular_sheet
from api.documents.frame import IssueSeal, LedgerHead, Provenance
from api.documents.inspection import inspection_report
from api.documents.monthly import monthly_report
from api.documents.notice import rectification_notice
from api.documents.survey import csi_report
from api.listing import jsonable, require
from api.presenters import aggregate_view, plain
from application.errors import NotFound
from application.security import can
from domain.errors import InvalidValue
from domain.surveys import SurveyCampaign
from projections import assessments as reads_assessments
from projections import audit, org
from projections import documents as reads
from projections.kpis import answer as kpis

router = APIRouter(tags=["documents"])

PDF: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The document, A4 PDF with its fonts embedded.",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
}
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def pdf_response(data: bytes, name: str, position: int) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{name}.pdf"',
            "X-Read-Position": str(position),
        },
    )


def seal(c: Any, number: str, issue_id: Any, version: int) -> IssueSeal:
    """Where the issue's printed version sits in the store and in the ledger."""
    row = reads.issue_seal(c.pool, issue_id, version)
    if row is None:  # an aggregate loaded from the store has its events there
        raise NotFound("issue", number)
    return IssueSeal(
        number=number,
        version=version,
        position=int(row["position"]),
        event_hash=str(row["event_hash"]),
        first_position=row["first_position"],
        ledger_seq=row["ledger_seq"],
        ledger_chain_hash=row["ledger_chain_hash"],
    )


def provenance(c: Any, position: int, *seals: IssueSeal) -> Provenance:
    head = reads.ledger_head(c.pool)
    return Provenance(
        built_at=c.app.clock(),
        timezone=c.settings.timezone,
        read_position=position,
        issues=seals,
        ledger=LedgerHead(int(head["seq"]), int(head["position"]), str(head["chain_hash"]))
        if head
        else None,
    )


@router.get("/nonconformances/{ref}/document.pdf", responses=PDF, response_class=Response)
def nonconformance_document(
    ref: str, call: QueryCall, app: QualtraceApp, c: Container, pos: ReadPosition
) -> Response:
    """The rectification notice (整改通知书) of a nonconformance, as recorded."""
    nc = app.nonconformances.get(call, ref)
    view = aggregate_view(nc)
    view["linked_issues"] = [jsonable(r) for r in audit.linked_issues(c.pool, nc.id)]
    prov = provenance(c, pos, seal(c, nc.number, nc.id, nc.version))
    return pdf_response(rectification_notice(jsonable_encoder(view), prov), nc.number, pos)


@router.get("/inspections/{ref}/document.pdf", responses=PDF, response_class=Response)
def inspection_document(
    ref: str, call: QueryCall, app: QualtraceApp, c: Container, pos: ReadPosition
) -> Response:
    """The inspection report: items, scores, findings, grade, pay adjustment, signatures."""
    ins = app.inspections.get(call, ref)
    view = aggregate_view(ins)
    prov = provenance(c, pos, seal(c, ins.number, ins.id, ins.version))
    return pdf_response(inspection_report(jsonable_encoder(view), prov), ins.number, pos)


@router.get("/surveys/{ref}/document.pdf", responses=PDF, response_class=Response)
def survey_document(
    ref: str, call: QueryCall, app: QualtraceApp, c: Container, pos: ReadPosition
) -> Response:
    """The CSI report of a campaign: figures, interval, by dimension, trend (earlier
    published campaigns sharing a project, in the caller's scope). Before publication,
    the provisional figures, stamped as such."""
    results = jsonable_encoder(plain(app.surveys.results(call, ref)))  # authorises
    campaign = app.surveys.service.load(SurveyCampaign, results["id"])
    view = jsonable_encoder(aggregate_view(campaign))
    published = campaign.published_at if campaign.status == "published" else None
    scope = call.principal.scope_filter()
    trend = [
        jsonable(r)
        for r in reads.published_surveys(
            c.pool, list(campaign.projects), published or c.app.clock()
        )
        if str(r["id"]) != str(campaign.id) and _in_scope(scope, r)
    ]
    prov = provenance(c, pos, seal(c, campaign.number, campaign.id, campaign.version))
    return pdf_response(csi_report(view, results, trend, prov), campaign.number, pos)


def _in_scope(scope: tuple[Any, Any], row: dict[str, Any]) -> bool:
    """A campaign is in the caller's scope when one of its projects is (as in the lists)."""
    allowed, region = scope
    if allowed is None and region is None:
        return True
    return bool(set(row["projects"]) & set(allowed or ())) or region in (row["regions"] or ())


def month_bounds(month: str, tz: str, now: datetime) -> tuple[date, date]:
    """First and last local day of `month`; 422 for a malformed or future month."""
    if not MONTH.match(month):
        raise InvalidValue("month", "must be a month YYYY-MM")
    first = date.fromisoformat(month + "-01")
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    today = now.astimezone(ZoneInfo(tz)).date()
    if first > today:
        raise InvalidValue("month", f"{month} has not begun (today is {today.isoformat()})")
    return first, nxt - timedelta(days=1)


def month_assessment(
    c: Any, app: Any, call: Any, project: str, month: str
) -> dict[str, Any] | None:
    """The project's published assessment of the month as `GET /assessments/{id}` returns
    it, for the report's 考核结果 section; None when none is published (yet)."""
    page = reads_assessments.list_assessments(
        c.pool,
        call.principal.scope_filter(),
        {"project": project, "period": month, "status": None},
        5,
    )
    for row in page.rows:
        if row.get("status") in ("published", "appealed", "appeal_decided"):
            return jsonable_encoder(aggregate_view(app.assessments.get(call, str(row["id"]))))
    return None


def _kpi_row(c: Any, call: Any, kind: str, project: str, start: date, end: date) -> dict[str, Any]:
    fam = kpis.family(kind)
    request = kpis.KpiRequest(
        group_by=[],
        projects=[project],
        region=None,
        scope=call.principal.scope_filter(),
        start=datetime(start.year, start.month, start.day),
        end=datetime(end.year, end.month, end.day) + timedelta(days=1),
        filters={},
    )
    got = kpis.answer(c.pool, fam, request)
    rows = got.rows or []
    return dict(rows[0]) if rows else {}


@router.get("/projects/{code}/reports/{month}/document.pdf", responses=PDF, response_class=Response)
def monthly_document(
    code: str, month: str, call: QueryCall, app: QualtraceApp, c: Container, pos: ReadPosition
) -> Response:
    """The monthly quality report of a project (`month` YYYY-MM, the current one to date):
    assessment, inspections, nonconformances, tickets SLA, CSI. Same audience as the KPIs."""
    require(call, "kpi.read")
    projects = {p["code"]: p for p in org.list_projects(c.pool, call.principal.scope_filter())}
    project = projects.get(code)
    if project is None:
        raise NotFound("project", code)
    start, end = month_bounds(month, c.settings.timezone, c.app.clock())
    after_end = end + timedelta(days=1)
    tz = ZoneInfo(c.settings.timezone)
    csi = None
    surveys = reads.published_surveys(
        c.pool, [code], datetime(after_end.year, after_end.month, after_end.day, tzinfo=tz)
    )
    if surveys:
        latest = surveys[-1]
        results = jsonable_encoder(plain(app.surveys.results(call, str(latest["id"]))))
        figures = ((results.get("results") or {}).get("by_project") or {}).get(code) or {}
        csi = {
            "number": latest["number"],
            "title": latest["title"],
            "period_start": str(latest["period_start"]),
            "period_end": str(latest["period_end"]),
            "published_at": latest["published_at"].isoformat(),
            **{k: figures.get(k) for k in ("n", "csi", "ci95", "cli")},
        }
    report = {
        "project": jsonable(project),
        "month": month,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "inspections": [jsonable(r) for r in reads.month_inspections(c.pool, code, month)],
        "nonconformances": {
            "kpi": _kpi_row(c, call, "nonconformances", code, start, end),
            "open": [
                jsonable(r)
                for r in reads.open_nonconformances(
                    c.pool,
                    code,
                    datetime(after_end.year, after_end.month, after_end.day, tzinfo=tz),
                )
            ],
        },
        "tickets": _kpi_row(c, call, "tickets", code, start, end),
        "csi": csi,
        "assessment": month_assessment(c, app, call, code, month),
    }
    prov = provenance(c, pos)
    return pdf_response(monthly_report(report, prov), f"{code}-{month}", pos)


@router.get("/assessments/{ref}/document.pdf", responses=PDF, response_class=Response)
def assessment_document(
    ref: str, call: QueryCall, app: QualtraceApp, c: Container, pos: ReadPosition
) -> Response:
    """The assessment sheet (考核表): score, inputs by their events, deductions, grade, pay."""
    a = app.assessments.get(call, ref)  # assessment.read and scope
    prov = provenance(c, pos, seal(c, a.number, a.id, a.version))
    return pdf_response(assessment_sheet(jsonable_encoder(aggregate_view(a)), prov), a.number, pos)


@router.get("/circulars/{ref}/document.pdf", responses=PDF, response_class=Response)
def circular_document(
    ref: str, call: QueryCall, app: QualtraceApp, c: Container, pos: ReadPosition
) -> Response:
    """The company-wide circular (全公司通报); read receipts for those who may see them."""
    require(call, "circular.read")
    circ = app.circulars.get(ref)
    view = jsonable_encoder(aggregate_view(circ))
    if not can(call.principal, "circular.receipts"):
        view["receipts"] = []
    prov = provenance(c, pos, seal(c, circ.number, circ.id, circ.version))
    return pdf_response(circular_sheet(view, prov), circ.number, pos)
