"""The answer to a KPI request: a precomputed report cell when one answers it exactly,
else the live query over the fact views.

A report cell (`projections.kpis.cells`) answers a request for one level (no dimension,
region or project), one whole calendar period, no dimension filters, a scope and filters
that only keep whole rows of the cell, when the cell is at least as fresh as
`min_position` (or as its fact projection, without one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from psycopg.rows import dict_row

from projections import registry
from projections.kpis.cells import LEVELS, read_cell, whole_period
from projections.kpis.facts import FactProjection
from projections.kpis.query import kpi_query, plain
from projections.kpis.spec import KpiSpec, parse_group_by
from projections.reads import Row, Scope


class UnknownKind(LookupError):
    """No KPI family of that name."""


@cache
def families() -> dict[str, type[FactProjection]]:
    """KPI kind (as in `/kpis/{kind}`) -> its fact projection, from the registry."""
    return {
        cls.SPEC.kind: cls
        for cls in registry.PROJECTIONS
        if issubclass(cls, FactProjection) and cls.SPEC is not None
    }


@dataclass(frozen=True)
class Family:
    """One KPI family: its spec and the name of the projection keeping its facts."""

    spec: KpiSpec
    projection: str


def family(kind: str) -> Family:
    """The family of `kind`; `UnknownKind` when there is none."""
    cls = families().get(kind)
    if cls is None or cls.SPEC is None:
        raise UnknownKind(kind)
    return Family(cls.SPEC, cls.name)


@dataclass(frozen=True)
class KpiRequest:
    """What a caller asks: group by `group_by` (checked: `parse_group_by`), within
    `projects`/`region` and their own `scope`, facts in [start, end) (local times),
    dimension `filters` (dimension -> allowed values)."""

    group_by: list[str]
    projects: list[str] | None
    region: str | None
    scope: Scope
    start: datetime | None
    end: datetime
    filters: dict[str, Sequence[str]]
    #: Answer from a cell only when it has processed this position.
    min_position: int | None = None
    #: Prefer a whole cell's rendered JSON answer to its rows.
    body: bool = False


@dataclass(frozen=True)
class KpiAnswer:
    """Rows (or, from a whole cell, its rendered JSON `body`), and the read position of
    the report cell that answered (None when computed live)."""

    rows: list[Row] | None
    position: int | None = None
    body: str | None = None


def group_by(fam: Family, text: str | None) -> list[str]:
    """The dimensions of a `group_by` parameter (`UnknownDimension` names a bad one)."""
    return parse_group_by(fam.spec, text)


def answer(pool: Any, fam: Family, req: KpiRequest) -> KpiAnswer:
    """A report cell's answer when one answers `req` exactly, else the live query's."""
    with pool.connection() as conn:
        cell = _from_cell(conn, fam, req)
        if cell is not None:
            return cell
        query = kpi_query(
            fam.spec,
            req.group_by,
            projects=req.projects,
            region=req.region,
            scope=req.scope,
            start=req.start,
            end=req.end,
            filters=req.filters,
        )
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query)
            rows = cur.fetchall()
    return KpiAnswer([{k: plain(v) for k, v in r.items()} for r in rows])


def _from_cell(conn: Any, fam: Family, req: KpiRequest) -> KpiAnswer | None:
    period = whole_period(req.start, req.end)
    level = next((name for name, dims in LEVELS.items() if list(dims) == req.group_by), None)
    if period is None or level is None or any(req.filters.values()):
        return None
    scope_projects, scope_region = req.scope
    if scope_region is not None:
        return None
    # Ranks order the rows within the period: a subset's ranks differ from the cell's.
    ranked = any("{partition}" in m.expr or " over " in m.expr.lower() for m in fam.spec.measures)
    keep: list[tuple[str, set[str]]] = []
    if scope_projects is not None:
        if level != "project":
            return None
        keep.append(("project", set(scope_projects)))
    if req.projects:
        if level != "project":
            return None
        keep.append(("project", set(req.projects)))
    if req.region is not None:
        if level != "region":
            return None
        keep.append(("region", {req.region}))
    if keep and ranked:
        return None
    whole = req.body and not keep
    try:
        cell = read_cell(
            conn, fam.spec, fam.projection, level, period[0], period[1], req.min_position, whole
        )
    except psycopg.Error:  # no cells here (yet): a generation from before them, say
        return None
    if cell is None:
        return None
    if cell.body is not None:
        return KpiAnswer(None, cell.position, cell.body)
    rows = [r for r in cell.rows or () if all(r.get(col) in values for col, values in keep)]
    return KpiAnswer(rows, cell.position)
