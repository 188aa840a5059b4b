"""Complaint analysis (投诉统计分析, issue #16 item 5): reads over the ticket facts
(`qt_read.ticket_facts`, projections/kpis/tickets.py), whose rows carry the classified
category and the repeat of each complaint (projections/kpis/ticket_categories.py).

What counts (docs/complaints.md): tickets of the kinds asked (default `complaint`)
received in the period (company local time), **not cancelled** (a ticket cancelled as a
duplicate or invalid is no complaint); the same rule as the `complaints` figure of
`GET /kpis/tickets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

from projections.kpis.query import plain
from projections.reads import Row, Scope, fetch_all, scope_clause

#: SQL of a fact's category at level 1 and 2: (code, name).
LEVELS: dict[int, tuple[str, str]] = {
    1: ("category_l1", "category_l1_name"),
    2: (
        "category_code",
        "category_l1_name || coalesce(' › ' || category_l2_name, '')",
    ),
}


def _where(
    scope: Scope,
    kinds: Sequence[str],
    start: datetime,
    end: datetime,
    projects: Sequence[str] | None = None,
    region: str | None = None,
) -> tuple[sql.Composable, list[Any]]:
    clause, params = scope_clause(scope)
    parts: list[sql.Composable] = [
        clause,
        sql.SQL("kind = ANY(%s)"),
        sql.SQL("cancelled_at IS NULL"),
        sql.SQL("received_local >= %s AND received_local < %s"),
    ]
    params += [list(kinds), start, end]
    if projects:
        parts.append(sql.SQL("project = ANY(%s)"))
        params.append(list(projects))
    if region:
        parts.append(sql.SQL("region = %s"))
        params.append(region)
    return sql.SQL(" AND ").join(parts), params


def category_counts(
    pool: Any, scope: Scope, project: str, kinds: Sequence[str], start: datetime, end: datetime
) -> list[Row]:
    """Per month and full category code of one project in [start, end): complaints,
    repeats, closed by now, callbacks reached and satisfied."""
    where, params = _where(scope, kinds, start, end, [project])
    query = sql.SQL(
        """SELECT to_char(received_local, 'YYYY-MM') AS month,
                  category_l1, category_l1_name, category_l2, category_l2_name, category_code,
                  count(*) AS complaints,
                  count(*) FILTER (WHERE repeat_of IS NOT NULL) AS repeat_complaints,
                  count(closed_at) AS closed,
                  coalesce(sum(callbacks_reached), 0) AS callbacks_reached,
                  coalesce(sum(callbacks_satisfied), 0) AS callbacks_satisfied
           FROM qt_read.ticket_facts WHERE {}
           GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 6"""
    ).format(where)
    return [{k: plain(v) for k, v in r.items()} for r in fetch_all(pool, query, params)]


def unknown_texts(
    pool: Any, scope: Scope, project: str, kinds: Sequence[str], start: datetime, end: datetime
) -> list[Row]:
    """Category texts the taxonomy does not know (counted under other), most frequent first."""
    where, params = _where(scope, kinds, start, end, [project])
    query = sql.SQL(
        """SELECT category AS text, count(*) AS complaints
           FROM qt_read.ticket_facts WHERE {} AND NOT category_known
           GROUP BY 1 ORDER BY 2 DESC, 1"""
    ).format(where)
    return fetch_all(pool, query, params)


def repeats(
    pool: Any,
    scope: Scope,
    kinds: Sequence[str],
    start: datetime,
    end: datetime,
    projects: Sequence[str] | None = None,
    region: str | None = None,
) -> list[Row]:
    """The repeat complaints received in [start, end): each with the earlier complaint it
    repeats (same project, unit and category within 30 days), oldest first."""
    where, params = _where(scope, kinds, start, end, projects, region)
    query = sql.SQL(
        """SELECT number, ticket_id AS id, project, region, received_at,
                  to_char(received_local, 'YYYY-MM') AS month, reporter_unit AS unit,
                  category, category_code, {path} AS category_path,
                  repeat_of_number, repeat_of, repeat_days
           FROM qt_read.ticket_facts WHERE {where} AND repeat_of IS NOT NULL
           ORDER BY received_at, number"""
    ).format(where=where, path=sql.SQL(LEVELS[2][1]))
    return [{k: plain(v) for k, v in r.items()} for r in fetch_all(pool, query, params)]


def top_categories(
    pool: Any,
    scope: Scope,
    kinds: Sequence[str],
    start: datetime,
    end: datetime,
    level: int,
    limit: int,
    projects: Sequence[str] | None = None,
    region: str | None = None,
) -> list[Row]:
    """The `limit` most frequent categories (at `level` 1 or 2) of each project and month
    in [start, end): rank (ties by code), count, share of the project's month, repeats."""
    where, params = _where(scope, kinds, start, end, projects, region)
    code, name = LEVELS[level]
    query = sql.SQL(
        """WITH c AS (
               SELECT project, region, to_char(received_local, 'YYYY-MM') AS month,
                      {code} AS category, min({name}) AS name, count(*) AS complaints,
                      count(*) FILTER (WHERE repeat_of IS NOT NULL) AS repeat_complaints
               FROM qt_read.ticket_facts WHERE {where} GROUP BY 1, 2, 3, 4
           ), r AS (
               SELECT *, row_number() OVER (PARTITION BY project, month
                                            ORDER BY complaints DESC, category) AS rank,
                      round(100.0 * complaints / sum(complaints) OVER (PARTITION BY project, month), 2)
                        AS share_pct
               FROM c
           )
           SELECT project, region, month, rank, category, name, complaints, share_pct,
                  repeat_complaints
           FROM r WHERE rank <= %s ORDER BY project, month, rank"""
    ).format(code=sql.SQL(code), name=sql.SQL(name), where=where)
    return [{k: plain(v) for k, v in r.items()} for r in fetch_all(pool, query, [*params, limit])]


def _pct(num: float, den: float) -> float | None:
    return round(100.0 * num / den, 2) if den else None


def _change(now: int, before: int) -> dict[str, Any]:
    return {
        "previous_month": before,
        "change": now - before,
        "change_pct": _pct(now - before, before),
    }


def monthly_analysis(counts: list[Row], month: str, previous: str) -> dict[str, Any]:
    """The month's analysis from `category_counts` rows of `month` and `previous`:
    totals and, per level-1 and per full (level-2) category, complaints, share %,
    month-on-month change, repeats, closure % and callback satisfaction %. Categories
    seen only in the previous month are listed too (with 0 now), so a fall shows."""
    figures = (
        "complaints",
        "repeat_complaints",
        "closed",
        "callbacks_reached",
        "callbacks_satisfied",
    )

    def levels(rows: list[Row]) -> dict[int, dict[str, dict[str, Any]]]:
        out: dict[int, dict[str, dict[str, Any]]] = {1: {}, 2: {}}
        for r in rows:
            for level, code, name, parent in (
                (1, r["category_l1"], r["category_l1_name"], None),
                (
                    2,
                    r["category_code"],
                    r["category_l1_name"]
                    + (f" › {r['category_l2_name']}" if r["category_l2_name"] else ""),
                    r["category_l1"],
                ),
            ):
                cell = out[level].setdefault(
                    code,
                    {"level": level, "code": code, "name": name, "parent": parent}
                    | dict.fromkeys(figures, 0),
                )
                for f in figures:
                    cell[f] += int(r[f])
        return out

    now = levels([r for r in counts if r["month"] == month])
    before = levels([r for r in counts if r["month"] == previous])
    total = sum(c["complaints"] for c in now[1].values())
    total_before = sum(c["complaints"] for c in before[1].values())

    def rows(level: int) -> list[dict[str, Any]]:
        out = []
        for code in now[level].keys() | before[level].keys():
            cell = now[level].get(code) or {
                **before[level][code],
                **dict.fromkeys(figures, 0),
            }
            prev = before[level].get(code, {}).get("complaints", 0)
            out.append(
                {
                    "level": level,
                    "code": code,
                    "name": cell["name"],
                    "parent": cell["parent"],
                    "complaints": cell["complaints"],
                    "share_pct": _pct(cell["complaints"], total),
                    **_change(cell["complaints"], prev),
                    "repeat_complaints": cell["repeat_complaints"],
                    "closed": cell["closed"],
                    "closure_pct": _pct(cell["closed"], cell["complaints"]),
                    "satisfaction_pct": _pct(
                        cell["callbacks_satisfied"], cell["callbacks_reached"]
                    ),
                }
            )
        out.sort(key=lambda r: (-r["complaints"], -r["previous_month"], r["code"]))
        return out

    closed = sum(c["closed"] for c in now[1].values())
    reached = sum(c["callbacks_reached"] for c in now[1].values())
    satisfied = sum(c["callbacks_satisfied"] for c in now[1].values())
    return {
        "totals": {
            "complaints": total,
            **_change(total, total_before),
            "repeat_complaints": sum(c["repeat_complaints"] for c in now[1].values()),
            "closed": closed,
            "closure_pct": _pct(closed, total),
            "satisfaction_pct": _pct(satisfied, reached),
            "categories": sum(1 for c in now[1].values() if c["complaints"]),
        },
        "by_category": rows(1),
        "by_subcategory": rows(2),
    }


def analysis_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The analysis as one table (its CSV): a total row (level 0), then the level-1 and
    the level-2 rows, every row with the same columns."""
    t = analysis["totals"]
    total = {
        "level": 0,
        "code": "total",
        "name": "合计",
        "parent": None,
        "complaints": t["complaints"],
        "share_pct": 100.0 if t["complaints"] else None,
        "previous_month": t["previous_month"],
        "change": t["change"],
        "change_pct": t["change_pct"],
        "repeat_complaints": t["repeat_complaints"],
        "closed": t["closed"],
        "closure_pct": t["closure_pct"],
        "satisfaction_pct": t["satisfaction_pct"],
    }
    return [total, *analysis["by_category"], *analysis["by_subcategory"]]
